/*
 * fuzz.h: what the fuzz harnesses share (tests/fuzz/fuzz_*.c; not a library header).
 *
 * Each harness defines LLVMFuzzerTestOneInput() and is linked twice: with libFuzzer's main
 * (`make fuzz`, clang, build/fuzz/fuzz_NAME) and with replay.c's (`make test`,
 * build/.../tests/test_fuzz_NAME), which feeds it the seed corpus and every past crasher.
 *
 * A harness that needs a register makes one per process with fuzz_register(): a fresh database in
 * a temporary folder (removed at exit) holding a few applicants, a watch list, the built-in
 * organisations, their verdicts and a finished job, so that lookups and checks have something to
 * find.  A harness aborts (a crash for libFuzzer) when a function breaks its documented contract.
 */
#ifndef RG_FUZZ_H
#define RG_FUZZ_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "import.h"
#include "util.h"
#include "vet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: broken: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static char fuzz_dir[64];

static inline void fuzz_cleanup(void)
{
    static const char *const files[] = { "register.db", "register.db-wal", "register.db-shm",
                                         "input.csv", "rejects.csv", "seed.csv" };
    char path[128];

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir, files[i]);
        unlink(path);
    }
    rmdir(fuzz_dir);
}

/* A path in the harness's temporary folder (made on first use) into out[128]. */
static inline const char *fuzz_path(const char *name, char out[128])
{
    if (!fuzz_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/regfs-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(fuzz_cleanup);
    }
    snprintf(out, 128, "%s/%s", fuzz_dir, name);
    return out;
}

static inline void fuzz_die(rg_db *db, const char *what)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, db ? rg_db_errmsg(db) : "out of memory");
    exit(1);
}

static inline void fuzz_import_text(rg_db *db, const rg_actor *who, enum rg_import_kind kind,
                                    const char *text)
{
    char path[128], rejects[128];
    rg_import_opts opts = { .rejects_path = fuzz_path("rejects.csv", rejects) };
    rg_import_result res;
    FILE *f = fopen(fuzz_path("seed.csv", path), "w");

    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    if (rg_import_file(db, who, kind, path, &opts, &res) != 0)
        fuzz_die(db, "importing the harness's data");
}

/* The register at fuzz_path("register.db"), made on the first call; with_data: filled as above. */
static inline rg_db *fuzz_register(int with_data)
{
    static rg_db *db;
    char path[128];
    rg_actor who = { "fuzz", 1000 };
    rg_scope all = { .kind = RG_SCOPE_ALL };
    int64_t job;
    static const char applicants[] =
        "id,given_name,family_name,date_of_birth,email,postcode,clp,kind,joined_at,declared_party,"
        "aims_values\n"
        "1000358,Imran,Uddin,1936-07-25,imran.uddin@talktalk.net,HA0 1GR,Harrow East,member,"
        "1970-01-12,,yes\n"
        "1000360,Janet,Blencroft,1957-03-27,janetblencroft@hotmail.co.uk,IG9 9XP,Dagenham and Rainham,"
        "member,1981-03-10,,yes\n"
        "1000362,Norman,Taylor,1966-07-06,normantaylor229@protonmail.com,SK11 7AL,Ynys Môn,member,"
        "2025-09-03T10:15:00Z,,yes\n"
        "1000400,Siân,O'Brien,1990-02-01,sian@example.org,LL77 7TW,../../etc,registered_supporter,"
        "2025-09-03,Green Party,no\n";

    static const char watchlist[] =
        "id,given_name,family_name,date_of_birth,email,postcode,organisation,role,source\n"
        "W00001,Norman,Taylor,,normantaylor229@protonmail.com,SK11 7AL,Conservative Party,member,"
        "press report\n"
        "W00002,Patricia,Howard,,patricia.howard72@gmail.com,DN7 0WQ,Green Party,councillor,"
        "Green Party website 2025-10\n";

    if (db)
        return db;
    setenv("REGFS_NOW", "1764000000", 1);   /* 2025-11-24: the same register every run */
    if (rg_db_open(fuzz_path("register.db", path), RG_OPEN_CREATE, &db) < 0)
        fuzz_die(db, "opening the register");
    if (!with_data)
        return db;
    if (rg_import_default_organisations(db, &who) < 0)
        fuzz_die(db, "loading the organisations");
    fuzz_import_text(db, &who, RG_IMPORT_WATCHLIST, watchlist);
    fuzz_import_text(db, &who, RG_IMPORT_APPLICANTS, applicants);
    if ((job = rg_job_create(db, &who, &all, 0)) < 0 || rg_job_run(db, job, NULL, NULL) < 0)
        fuzz_die(db, "vetting");
    return db;
}

#endif
