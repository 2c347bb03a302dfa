/*
 * cmd_keygen.c: `regfs keygen SECRET PUBLIC`: make the Ed25519 key pair that signs checkpoints.
 */
#include <errno.h>
#include <stdio.h>

#include "checkpoint.h"
#include "cli.h"

int cmd_keygen(int argc, char **argv)
{
    char err[512];
    rg_pubkey pk;

    if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
        return cli_usage("keygen");
    if (rg_key_generate(argv[1], argv[2], err, sizeof err) < 0 ||
        rg_pubkey_load(argv[2], &pk, err, sizeof err) < 0) {
        cli_error("keygen", "%s", err);
        return RG_EXIT_FAIL;
    }
    printf("secret key: %s (mode 0600: give it only to whoever makes checkpoints)\n"
           "public key: %s (give it to the auditors)\n"
           "key: %s\n", argv[1], argv[2], pk.hex);
    return RG_EXIT_OK;
}
