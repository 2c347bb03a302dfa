/*
 * fuzz_import.c: importing a CSV file (backend/import.c): the header check and the row validation
 * of each kind, then the upsert, on a register made once per process.
 *
 * The first byte picks the kind (applicants, watch list, organisations); the rest is the file.
 * An import must return a count of rejected rows or a negative errno with a message, its counts
 * must add up, and the audit chain must still verify afterwards.
 */
#include "audit.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *errors;
    static unsigned calls;
    int64_t bad_seq;
    char path[128], rejects[128];
    rg_actor who = { "fuzz", 1000 };
    rg_import_opts opts = { .rejects_path = fuzz_path("rejects.csv", rejects) };
    rg_import_result res;
    rg_db *db = fuzz_register(1);
    int rc;

    if (size < 1)
        return 0;
    if (!errors && !(errors = fopen("/dev/null", "w")))
        abort();
    opts.errors = errors;
    enum rg_import_kind kind = (enum rg_import_kind)(data[0] % 3);
    FILE *f = fopen(fuzz_path("input.csv", path), "w");
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(fwrite(data + 1, 1, size - 1, f) == size - 1);
    FUZZ_ASSERT(fclose(f) == 0);

    rc = rg_import_file(db, &who, kind, path, &opts, &res);
    if (rc < 0) {
        FUZZ_ASSERT(rg_db_errmsg(db)[0]);
        FUZZ_ASSERT(rc == -EINVAL || rc == -ENOMEM);
    } else {
        FUZZ_ASSERT(rc == res.rejected);
        FUZZ_ASSERT(res.rows == res.added + res.changed + res.unchanged + res.rejected);
    }
    /* The whole chain is re-read: every 64th input keeps the fuzzer fast. */
    if (calls++ % 64 == 0)
        FUZZ_ASSERT(rg_audit_verify(db, &bad_seq) > 0);
    return 0;
}
