/*
 * cmd_mount.c: `regfs mount DB MOUNTPOINT [-f] [-o OPTIONS]`, also run as mount.regfs and
 * mount.fuse.regfs by mount(8) for an fstab line of type fuse.regfs.  The filesystem is fs/; this
 * is its door: help, and which of the two ways it was called.
 */
#include <string.h>

#include "cli.h"
#include "fs.h"

int cmd_mount(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int as_helper = strncmp(base, "mount.", 6) == 0;

    if (cli_wants_help(argc, argv)) {
        cli_help("mount");
        rg_fs_print_fuse_help();
        return RG_EXIT_OK;
    }
    return rg_fs_main(argc, argv, as_helper);
}
