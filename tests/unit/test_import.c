/*
 * test_import.c: importing applicants, the watch list and the organisations (backend/import.h).
 *
 * Each test works on a fresh register in its own temporary directory and writes its CSV files
 * there, so that the rejects file lands beside the input as it does for a user.  What is checked is
 * what a user sees: the rows in the register, the error lines (line, column, reason), the rejects
 * file, the audit events, and that a failed import leaves the register and its chain untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "db_internal.h"
#include "fixture.h"
#include "import.h"

#define HEADER "id,given_name,family_name,date_of_birth,email,postcode,clp,kind,joined_at," \
               "declared_party,aims_values\n"
#define WATCH_HEADER "id,given_name,family_name,date_of_birth,email,postcode,organisation,role,source\n"

struct fixture {
    char dir[256];
    char path[300];     /* the last file written */
    rg_db *db;
    rg_actor who;
    rg_import_result res;
    char *errors;       /* what the last import wrote on its errors stream */
    size_t errors_len;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char dbpath[300];

    if (!f || fixture_register("import", f->dir, sizeof f->dir, dbpath, sizeof dbpath, &f->db) < 0)
        return -1;
    snprintf(f->who.name, sizeof f->who.name, "tester");
    f->who.uid = 1000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rg_db_close(f->db);
    fixture_remove(f->dir);
    free(f->errors);
    free(f);
    return 0;
}

/* Writes n bytes to dir/name and remembers the path in f->path. */
static const char *write_file_n(struct fixture *f, const char *name, const char *data, size_t n)
{
    FILE *fp;

    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    assert_non_null(fp = fopen(f->path, "w"));
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    return f->path;
}

static const char *write_file(struct fixture *f, const char *name, const char *data)
{
    return write_file_n(f, name, data, strlen(data));
}

/* Reads a whole file into a new string (the caller frees it), or NULL when it does not exist. */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;

    if (!fp)
        return NULL;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    for (int c; (c = fgetc(fp)) != EOF;)
        fputc(c, out);
    fclose(fp);
    fclose(out);
    return buf;
}

/* Imports path as kind, keeping the error lines in f->errors.  Returns what rg_import_file did. */
static int import_opts(struct fixture *f, enum rg_import_kind kind, const char *path,
                       rg_import_opts *opts)
{
    rg_import_opts local = { 0 };
    FILE *errors;
    int rc;

    if (!opts)
        opts = &local;
    free(f->errors);
    f->errors = NULL;
    assert_non_null(errors = open_memstream(&f->errors, &f->errors_len));
    opts->errors = errors;
    rc = rg_import_file(f->db, &f->who, kind, path, opts, &f->res);
    fclose(errors);
    return rc;
}

static int import(struct fixture *f, enum rg_import_kind kind, const char *path)
{
    return import_opts(f, kind, path, NULL);
}

/* The first column of the first row of sql, as an integer. */
static int64_t query_int(struct fixture *f, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(f->db->sql, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The first column of the first row of sql, as text, into out. */
static const char *query_text(struct fixture *f, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st;

    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(f->db->sql, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static void exec(struct fixture *f, const char *sql)
{
    assert_int_equal(sqlite3_exec(f->db->sql, sql, NULL, NULL, NULL), SQLITE_OK);
}

static int64_t head_seq(struct fixture *f)
{
    char hash[RG_HASH_HEX];
    int64_t seq;

    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    return seq;
}

static void assert_chain_holds(struct fixture *f)
{
    int64_t bad = -1;

    assert_true(rg_audit_verify(f->db, &bad) >= 0);
    assert_int_equal(bad, 0);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!haystack || !strstr(haystack, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, haystack ? haystack : "(null)");
}

static void assert_lacks(const char *haystack, const char *needle)
{
    if (haystack && strstr(haystack, needle))
        fail_msg("did not expect \"%s\" in:\n%s", needle, haystack);
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- applicants: good input ---- */

static void test_good_file_any_column_order(void **state)
{
    struct fixture *f = *state;
    char buf[512];

    /* Columns shuffled; quoted commas, doubled quotes and a line break inside a quoted field;
     * CRLF line ends; spaces around values. */
    const char *path = write_file(f, "applicants.csv",
        "aims_values,kind,id,family_name,given_name,clp,joined_at,email,postcode,date_of_birth,"
        "declared_party\r\n"
        "yes,member,1000001,\"O'Brien, Jr\",  Siân ,Ynys Môn,2016-01-05,siân@example.org,LL77 7TW,"
        "1980-02-29,\r\n"
        "no,registered_supporter,1000002,\"Smith \"\"Smithy\"\"\",Bill,Bristol West,"
        "2016-07-01T12:30:00Z,,,,\"Green Party\nsince 2010\"\r\n");

    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), 0);
    assert_int_equal(f->res.rows, 2);
    assert_int_equal(f->res.added, 2);
    assert_int_equal(f->res.rejected, 0);
    assert_string_equal(f->res.rejects_path, "");
    assert_int_equal(f->errors_len, 0);

    assert_string_equal(query_text(f, "SELECT given_name || '|' || family_name || '|' || clp_slug"
                                      " || '|' || joined_day FROM applicant WHERE id = 1000001",
                                   buf, sizeof buf),
                        "Siân|O'Brien, Jr|ynys-mon|2016-01-05");
    assert_string_equal(query_text(f, "SELECT family_name || '|' || declared_party || '|' ||"
                                      " joined_day || '|' || verdict FROM applicant WHERE id = 1000002",
                                   buf, sizeof buf),
                        "Smith \"Smithy\"|Green Party\nsince 2010|2016-07-01|pending");
    assert_true(query_int(f, "SELECT changed_ns FROM applicant WHERE id = 1000001") > 0);

    /* One applicant.import event each, with every field. */
    assert_int_equal(query_int(f, "SELECT count(*) FROM audit WHERE action = 'applicant.import'"), 2);
    query_text(f, "SELECT actor || ' ' || applicant || ' ' || detail FROM audit WHERE applicant = '1000001'",
               buf, sizeof buf);
    assert_string_equal(buf, "tester:1000 1000001 {\"aims_values\":\"yes\",\"clp\":\"Ynys Môn\","
                             "\"date_of_birth\":\"1980-02-29\",\"declared_party\":\"\","
                             "\"email\":\"siân@example.org\",\"family_name\":\"O'Brien, Jr\","
                             "\"given_name\":\"Siân\",\"id\":1000001,\"joined_at\":\"2016-01-05\","
                             "\"kind\":\"member\",\"postcode\":\"LL77 7TW\"}");
    assert_chain_holds(f);
    /* The bulk load into an empty table dropped and rebuilt the indexes: they are all there. */
    assert_int_equal(query_int(f, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                  " AND tbl_name = 'applicant' AND sql IS NOT NULL"),
                     query_int(f, "SELECT count(*) FROM pragma_index_list('applicant')"
                                  " WHERE origin = 'c'"));
    assert_true(query_int(f, "SELECT count(*) FROM pragma_index_list('applicant')") >= 5);
}

/* ---- applicants: hostile input ---- */

struct hostile {
    const char *row;       /* the data row (its line ending added) */
    const char *error;     /* expected in the error line, after "applicants.csv:LINE: " */
    size_t len;            /* of row, when it holds a NUL; else 0 */
};
#define BAD(row, error) { row, error, 0 }

static void test_every_hostile_row_rejected_with_line_and_column(void **state)
{
    struct fixture *f = *state;
    static const struct hostile cases[] = {
        BAD("1000010,Ann,Bad,2016-02-30,,,Leeds,member,2016-01-05,,yes",
          "date_of_birth: \"2016-02-30\" is not a real date"),
        BAD("1000011,Ann,Bad,30/01/1980,,,Leeds,member,2016-01-05,,yes",
          "date_of_birth: \"30/01/1980\" is not a date (YYYY-MM-DD)"),
        BAD("1000012,Ann,Bad,2999-01-01,,,Leeds,member,2016-01-05,,yes",
          "date_of_birth: \"2999-01-01\" is in the future"),
        BAD("1000013,Ann,Bad,,,,Leeds,member,2016-02-30T10:00:00Z,,yes",
          "joined_at: \"2016-02-30T10:00:00Z\" is not a real date"),
        BAD("1000014,Ann,Bad,,,,Leeds,member,2016-01-05T10:00:00+01:00,,yes",
          "joined_at: \"2016-01-05T10:00:00+01:00\" is not a date (YYYY-MM-DD) or a UTC time"),
        BAD("1000015,Ann,Bad,,,,Leeds,Member,2016-01-05,,yes",
          "kind: \"Member\" is not member, registered_supporter or affiliated_supporter"),
        BAD("1000016,Ann,Bad,,,,Leeds,member,2016-01-05,,Yes", "aims_values: \"Yes\" is not yes or no"),
        BAD("1000017,Ann,Bad,,ann at example.org,,Leeds,member,2016-01-05,,yes",
          "email: \"ann at example.org\" is not an email address"),
        BAD("1000018,Ann,Bad,,a@b@c,,Leeds,member,2016-01-05,,yes",
          "email: \"a@b@c\" is not an email address"),
        BAD("1000019,,Bad,,,,Leeds,member,2016-01-05,,yes", "given_name: is empty"),
        BAD("1000020,Ann,Bad,,,,,member,2016-01-05,,yes", "clp: is empty"),
        BAD("1000021,\"An\x1b[2Jn\",Bad,,,,Leeds,member,2016-01-05,,yes",
          "given_name: \"An\\x1b[2Jn\" contains a control character"),
        BAD("1000022,Ann,Bad,,,SW1A 1AA EXTRA LONG,Leeds,member,2016-01-05,,yes",
          "postcode: \"SW1A 1AA EXTRA LONG\" is 19 bytes long, at most 16 allowed"),
        BAD("-5,Ann,Bad,,,,Leeds,member,2016-01-05,,yes", "id: \"-5\" is not a positive whole number"),
        BAD("+5,Ann,Bad,,,,Leeds,member,2016-01-05,,yes", "id: \"+5\" is not a positive whole number"),
        BAD("0,Ann,Bad,,,,Leeds,member,2016-01-05,,yes", "id: \"0\" is not a positive whole number"),
        BAD("12.5,Ann,Bad,,,,Leeds,member,2016-01-05,,yes", "id: \"12.5\" is not a positive whole number"),
        BAD("9007199254740993,Ann,Bad,,,,Leeds,member,2016-01-05,,yes",
          "id: \"9007199254740993\" is too large (at most 9007199254740992)"),
        BAD("1000001,Dup,Licate,,,,Leeds,member,2016-01-05,,yes",
          "id: duplicate id 1000001, first on line 2"),
        BAD("1000023,Ann,Bad,,,,Leeds,member,2016-01-05,,yes,extra",
          "12 fields where the header has 11"),
        BAD("1000024,Ann", "2 fields where the header has 11"),
        BAD("1000025,Ann\xff,Bad,,,,Leeds,member,2016-01-05,,yes",
          "given_name: invalid UTF-8 at byte 4 of field 2"),
        BAD("1000026,\xc0\xaf,Bad,,,,Leeds,member,2016-01-05,,yes",
          "given_name: invalid UTF-8 at byte 1 of field 2"),
        { "1000027,Ann,B\0d,,,,Leeds,member,2016-01-05,,yes",
          "family_name: NUL byte at byte 2 of field 3",
          sizeof "1000027,Ann,B\0d,,,,Leeds,member,2016-01-05,,yes" - 1 },
        BAD("1000028,Ann,\"Bad\"x,,,,Leeds,member,2016-01-05,,yes",
          "family_name: text after closing quote in field 3"),
    };
    const size_t ncases = sizeof cases / sizeof cases[0];
    char *csv, *rejects, want[300];
    size_t len;
    FILE *out = open_memstream(&csv, &len);

    /* Line 2 is good; each hostile row is followed by a good one, so every good row must survive
     * its bad neighbour.  The NUL case is written with its length, not as a C string. */
    fputs(HEADER, out);
    fputs("1000001,Good,Row,,,,Leeds,member,2016-01-05,,yes\n", out);
    for (size_t i = 0; i < ncases; i++) {
        const char *row = cases[i].row;
        fwrite(row, 1, cases[i].len ? cases[i].len : strlen(row), out);
        fprintf(out, "\n%zu,Good,Row,,,,Leeds,member,2016-01-05,,yes\n", 2000000 + i);
    }
    /* Last: an over-long line, then an unterminated quote that runs to the end of the file. */
    fputs("1000090,", out);
    for (int i = 0; i < 70000; i++)
        fputc('x', out);
    fputs(",Bad,,,,Leeds,member,2016-01-05,,yes\n", out);
    fputs("2000100,Good,Row,,,,Leeds,member,2016-01-05,,yes\n", out);
    fputs("1000091,\"Ann,Bad,,,,Leeds,member,2016-01-05,,yes\n", out);
    fclose(out);
    const char *path = write_file_n(f, "applicants.csv", csv, len);
    free(csv);

    int rc = import(f, RG_IMPORT_APPLICANTS, path);
    assert_int_equal(rc, (int)ncases + 2);
    assert_int_equal(f->res.rejected, ncases + 2);
    assert_int_equal(f->res.added, 1 + ncases + 1);
    assert_int_equal(f->res.rows, 1 + 2 * ncases + 3);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant"), 1 + ncases + 1);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE family_name <> 'Row'"), 0);

    /* Each bad row on its own line, the line numbers those of the file. */
    assert_int_equal(count_lines(f->errors), (int)ncases + 2);
    for (size_t i = 0; i < ncases; i++) {
        snprintf(want, sizeof want, "%s:%zu: %s", path, 3 + 2 * i, cases[i].error);
        assert_contains(f->errors, want);
    }
    long long_line = 3 + 2 * (long)ncases;
    snprintf(want, sizeof want, "%s:%ld: record longer than 65536 bytes", path, long_line);
    assert_contains(f->errors, want);
    snprintf(want, sizeof want, "%s:%ld: given_name: unterminated quoted field 2", path, long_line + 2);
    assert_contains(f->errors, want);

    /* The rejects file: the header plus error, then each bad row as it was, plus its error. */
    snprintf(want, sizeof want, "%s/applicants.rejects.csv", f->dir);
    assert_string_equal(f->res.rejects_path, want);
    assert_non_null(rejects = slurp(want));
    static const char rejects_header[] = "id,given_name,family_name,date_of_birth,email,postcode,"
                                         "clp,kind,joined_at,declared_party,aims_values,error\n";
    assert_memory_equal(rejects, rejects_header, sizeof rejects_header - 1);
    assert_contains(rejects, "1000010,Ann,Bad,2016-02-30,,,Leeds,member,2016-01-05,,yes,"
                             "\"line 3: date_of_birth: \"\"2016-02-30\"\" is not a real date\"\n");
    assert_contains(rejects, "1000001,Dup,Licate,,,,Leeds,member,2016-01-05,,yes,"
                             "\"line 39: id: duplicate id 1000001, first on line 2\"\n");
    /* A short row is padded to the header's width, so the error stays in its column. */
    assert_contains(rejects, "1000024,Ann,,,,,,,,,,line 43: 2 fields where the header has 11\n");
    /* A row the reader could not read keeps its fields, the bad bytes replaced by U+FFFD. */
    assert_contains(rejects, "1000025,Ann\xef\xbf\xbd,Bad,,,,Leeds,member,2016-01-05,,yes,"
                             "line 45: given_name: invalid UTF-8 at byte 4 of field 2\n");
    assert_contains(rejects, "1000027,Ann,B\xef\xbf\xbd" "d,,,,Leeds,member");
    assert_lacks(rejects, "Good");
    assert_true(rg_utf8_valid(rejects, strlen(rejects)));
    free(rejects);
    assert_chain_holds(f);
}

static void test_missing_or_unknown_columns_fail_the_whole_file(void **state)
{
    struct fixture *f = *state;
    const char *path = write_file(f, "applicants.csv",
        "id,given_name,family_name,date_of_birth,e-mail,clp,kind,joined_at,declared_party,"
        "aims_values,notes\n"
        "1000001,Ann,Smith,,a@b.org,Leeds,member,2016-01-05,,yes,hello\n");
    char rejects[300];

    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), -EINVAL);
    assert_contains(rg_db_errmsg(f->db), "missing columns: email, postcode");
    assert_contains(rg_db_errmsg(f->db), "unknown columns: e-mail, notes");
    assert_int_equal(f->res.added, 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant"), 0);
    assert_int_equal(head_seq(f), 0);
    snprintf(rejects, sizeof rejects, "%s/applicants.rejects.csv", f->dir);
    assert_int_equal(access(rejects, F_OK), -1);

    /* A repeated column fails too, and so does an empty file. */
    path = write_file(f, "twice.csv", "id,id,given_name\n1,2,x\n");
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), -EINVAL);
    assert_contains(rg_db_errmsg(f->db), "duplicate column: id");
    path = write_file(f, "empty.csv", "");
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), -EINVAL);
    assert_contains(rg_db_errmsg(f->db), "no header row");
    path = write_file(f, "missing.csv", HEADER);
    unlink(path);
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), -ENOENT);
    assert_int_equal(head_seq(f), 0);
}

/* ---- idempotence and changes ---- */

static void test_second_import_changes_nothing(void **state)
{
    struct fixture *f = *state;
    char hash1[RG_HASH_HEX], hash2[RG_HASH_HEX], rejects[300];
    int64_t seq1, seq2, data1;
    const char *path = write_file(f, "applicants.csv", HEADER
        "1000001,Ann,Smith,1980-01-01,ann@example.org,SW1A 1AA,Leeds,member,2016-01-05,,yes\n"
        "1000002,Bob,Jones,,,,Leeds,affiliated_supporter,2016-01-06T09:00:00.250Z,,no\n"
        "1000003,Cat,Bad,2016-02-30,,,Leeds,member,2016-01-05,,yes\n");

    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), 1);
    assert_int_equal(f->res.added, 2);
    snprintf(rejects, sizeof rejects, "%s/applicants.rejects.csv", f->dir);
    assert_int_equal(access(rejects, F_OK), 0);
    assert_int_equal(rg_audit_head(f->db, &seq1, hash1), 0);
    data1 = query_int(f, "SELECT sum(changed_ns) FROM applicant");

    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), 1);
    assert_int_equal(f->res.added, 0);
    assert_int_equal(f->res.changed, 0);
    assert_int_equal(f->res.unchanged, 2);
    assert_int_equal(f->res.rejected, 1);
    assert_int_equal(rg_audit_head(f->db, &seq2, hash2), 0);
    assert_int_equal(seq1, seq2);
    assert_string_equal(hash1, hash2);
    assert_int_equal(query_int(f, "SELECT sum(changed_ns) FROM applicant"), data1);

    /* The bad row fixed: it is added, and the stale rejects file goes. */
    path = write_file(f, "applicants.csv", HEADER
        "1000001,Ann,Smith,1980-01-01,ann@example.org,SW1A 1AA,Leeds,member,2016-01-05,,yes\n"
        "1000002,Bob,Jones,,,,Leeds,affiliated_supporter,2016-01-06T09:00:00.250Z,,no\n"
        "1000003,Cat,Bad,2016-02-28,,,Leeds,member,2016-01-05,,yes\n");
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), 0);
    assert_int_equal(f->res.added, 1);
    assert_int_equal(f->res.unchanged, 2);
    assert_int_equal(access(rejects, F_OK), -1);
    assert_int_equal(head_seq(f), seq1 + 1);
    assert_chain_holds(f);
}

static void test_changed_row_is_one_audited_update(void **state)
{
    struct fixture *f = *state;
    char buf[512];
    const char *path = write_file(f, "applicants.csv", HEADER
        "1000001,Ann,Smith,1980-01-01,ann@example.org,SW1A 1AA,Leeds,member,2016-01-05,,yes\n"
        "1000002,Bob,Jones,,,,Leeds,member,2016-01-05,,yes\n"
        "1000003,Cat,Brown,,,,Leeds,member,2016-01-05,,yes\n"
        "1000004,Dan,White,,,,Leeds,member,2016-01-05,,yes\n");

    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), 0);
    /* 1000001 and 1000003 were vetted by the rules; 1000002 was decided by a person. */
    exec(f, "UPDATE applicant SET verdict = 'approved', rule = 'clean', score = 0.1,"
            " reasons = '[{\"rule\":\"clean\"}]', ballot = 1, decided_by = 'regfs',"
            " decided_at = '2016-02-01T00:00:00Z' WHERE id IN (1000001, 1000003)");
    exec(f, "UPDATE applicant SET verdict = 'excluded', rule = 'manual', manual = 1,"
            " manual_reason = 'SWP organiser', decided_by = 'alice:1000' WHERE id = 1000002");
    int64_t before = head_seq(f);

    path = write_file(f, "applicants.csv", HEADER
        "1000001,Ann,Smith-Jones,1980-01-01,ann@new.example.org,SW1A 2AA,Leeds Central,member,"
        "2016-01-05,,yes\n"
        "1000002,Bob,Jones,,,,Leeds,member,2016-01-05,Socialist Workers Party,yes\n"
        "1000003,Cat,Brown,,,,Leeds,member,2016-01-05,,yes\n"
        "1000004,Dan,White,,,,Leeds,member,2016-01-05,,no\n");
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), 0);
    assert_int_equal(f->res.changed, 3);
    assert_int_equal(f->res.unchanged, 1);
    assert_int_equal(f->res.added, 0);
    assert_int_equal(head_seq(f), before + 3);
    assert_int_equal(query_int(f, "SELECT count(*) FROM audit WHERE action = 'applicant.update'"), 3);

    /* Exactly one event for 1000001, naming old and new values of what changed (a postcode of the
     * same length included) and nothing else. */
    assert_int_equal(query_int(f, "SELECT count(*) FROM audit WHERE applicant = '1000001'"
                                  " AND action = 'applicant.update'"), 1);
    query_text(f, "SELECT detail FROM audit WHERE applicant = '1000001' AND action = 'applicant.update'",
               buf, sizeof buf);
    assert_string_equal(buf, "{\"changed\":{\"clp\":[\"Leeds\",\"Leeds Central\"],"
                             "\"email\":[\"ann@example.org\",\"ann@new.example.org\"],"
                             "\"family_name\":[\"Smith\",\"Smith-Jones\"],"
                             "\"postcode\":[\"SW1A 1AA\",\"SW1A 2AA\"]},\"verdict_reset\":true}");
    /* The rules' verdict described the old data: back to pending, with the derived columns redone. */
    query_text(f, "SELECT verdict || '|' || rule || '|' || score || '|' || reasons || '|' || ballot"
                  " || '|' || decided_by || '|' || decided_at || '|' || clp_slug FROM applicant"
                  " WHERE id = 1000001", buf, sizeof buf);
    assert_string_equal(buf, "pending||0.0|[]|0|||leeds-central");
    /* A person's decision stays, and the event does not claim a reset. */
    query_text(f, "SELECT verdict || '|' || manual || '|' || declared_party FROM applicant"
                  " WHERE id = 1000002", buf, sizeof buf);
    assert_string_equal(buf, "excluded|1|Socialist Workers Party");
    query_text(f, "SELECT detail FROM audit WHERE applicant = '1000002' AND action = 'applicant.update'",
               buf, sizeof buf);
    assert_string_equal(buf, "{\"changed\":{\"declared_party\":[\"\",\"Socialist Workers Party\"]}}");
    /* An unchanged row keeps its verdict. */
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE id = 1000003"
                                  " AND verdict = 'approved'"), 1);
    /* A pending applicant changes without a reset claimed. */
    query_text(f, "SELECT detail FROM audit WHERE applicant = '1000004' AND action = 'applicant.update'",
               buf, sizeof buf);
    assert_string_equal(buf, "{\"changed\":{\"aims_values\":[\"yes\",\"no\"]}}");
    assert_chain_holds(f);
}

/* ---- failures roll everything back ---- */

static void test_full_disk_imports_nothing(void **state)
{
    struct fixture *f = *state;
    char *csv, hash1[RG_HASH_HEX], hash2[RG_HASH_HEX];
    int64_t seq1, seq2;
    size_t len;
    FILE *out = open_memstream(&csv, &len);

    fputs(HEADER, out);
    for (int i = 1; i <= 3000; i++)
        fprintf(out, "%d,Given%d,Family%d,1980-01-01,p%d@example.org,SW1A 1AA,Leeds,member,"
                     "2016-01-05,,yes\n", 1000000 + i, i, i, i);
    fclose(out);
    char path[300];
    snprintf(path, sizeof path, "%s", write_file_n(f, "applicants.csv", csv, len));
    free(csv);

    /* Some data first, so that there is a chain to keep intact and the table is not empty. */
    const char *first = write_file(f, "first.csv", HEADER
        "1,Ann,Smith,,,,Leeds,member,2016-01-05,,yes\n");
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, first), 0);
    assert_int_equal(rg_audit_head(f->db, &seq1, hash1), 0);

    /* The disk fills up a few pages beyond what the register uses now. */
    int64_t pages = query_int(f, "PRAGMA page_count");
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA max_page_count = %" PRId64, pages + 8);
    exec(f, pragma);
    int rc = import(f, RG_IMPORT_APPLICANTS, path);
    assert_int_equal(rc, -ENOSPC);
    assert_contains(rg_db_errmsg(f->db), "nothing was imported");
    assert_int_equal(f->res.added, 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant"), 1);
    assert_int_equal(rg_audit_head(f->db, &seq2, hash2), 0);
    assert_int_equal(seq1, seq2);
    assert_string_equal(hash1, hash2);
    assert_chain_holds(f);

    /* The same into an empty register, where the import drops and rebuilds the indexes. */
    exec(f, "PRAGMA max_page_count = 1073741823");
    exec(f, "DELETE FROM applicant");
    int64_t indexes = query_int(f, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'");
    pages = query_int(f, "PRAGMA page_count");
    snprintf(pragma, sizeof pragma, "PRAGMA max_page_count = %" PRId64, pages + 40);
    exec(f, pragma);
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), -ENOSPC);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant"), 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"), indexes);
    assert_int_equal(head_seq(f), seq1);
    assert_chain_holds(f);

    /* With room again, it all goes in. */
    exec(f, "PRAGMA max_page_count = 1073741823");
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), 0);
    assert_int_equal(f->res.added, 3000);
    assert_int_equal(head_seq(f), seq1 + 3000);
    assert_chain_holds(f);
}

/* ---- the rejects file ---- */

static void test_rejects_file_rules(void **state)
{
    struct fixture *f = *state;
    char other[300], *text;
    rg_import_opts opts = { 0 };
    const char *bad = HEADER "1000001,Ann,Smith,2016-02-30,,,Leeds,member,2016-01-05,,yes\n";
    const char *path = write_file(f, "applicants.csv", bad);
    char input[300];

    snprintf(input, sizeof input, "%s", path);
    /* Never the input. */
    opts.rejects_path = input;
    assert_int_equal(import_opts(f, RG_IMPORT_APPLICANTS, input, &opts), -EINVAL);
    assert_contains(rg_db_errmsg(f->db), "is the input");
    text = slurp(input);
    assert_string_equal(text, bad);
    free(text);
    assert_int_equal(query_int(f, "SELECT count(*) FROM audit"), 0);

    /* Never a file that is not a rejects file. */
    write_file(f, "precious.csv", "name,aliases\nKeep,Me\n");
    snprintf(other, sizeof other, "%s", f->path);
    opts.rejects_path = other;
    assert_int_equal(import_opts(f, RG_IMPORT_APPLICANTS, input, &opts), -EEXIST);
    text = slurp(other);
    assert_string_equal(text, "name,aliases\nKeep,Me\n");
    free(text);

    /* A named rejects file is written, and replaced by the next import's. */
    snprintf(other, sizeof other, "%s/elsewhere.csv", f->dir);
    assert_int_equal(import_opts(f, RG_IMPORT_APPLICANTS, input, &opts), 1);
    assert_string_equal(f->res.rejects_path, other);
    text = slurp(other);
    assert_contains(text, ",error\n1000001,Ann,Smith,2016-02-30");
    free(text);
    struct stat sb;
    assert_int_equal(stat(other, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(import_opts(f, RG_IMPORT_APPLICANTS, input, &opts), 1);
    text = slurp(other);
    assert_int_equal(count_lines(text), 2);
    free(text);

    /* A file not named .csv gets .rejects.csv appended. */
    path = write_file(f, "applicants.txt", bad);
    assert_int_equal(import(f, RG_IMPORT_APPLICANTS, path), 1);
    snprintf(other, sizeof other, "%s/applicants.txt.rejects.csv", f->dir);
    assert_string_equal(f->res.rejects_path, other);
}

struct progress_seen {
    uint64_t calls, rows, done, total;
};

static void on_progress(void *arg, uint64_t rows, uint64_t done, uint64_t total)
{
    struct progress_seen *seen = arg;

    assert_true(rows >= seen->rows && done >= seen->done && done <= total);
    seen->calls++;
    seen->rows = rows;
    seen->done = done;
    seen->total = total;
}

static void test_progress_is_reported(void **state)
{
    struct fixture *f = *state;
    char *csv;
    size_t len;
    FILE *out = open_memstream(&csv, &len);
    struct progress_seen seen = { 0 };

    fputs(HEADER, out);
    for (int i = 1; i <= 10000; i++)
        fprintf(out, "%d,G,F,,,,Leeds,member,2016-01-05,,yes\n", i);
    fclose(out);
    const char *path = write_file_n(f, "applicants.csv", csv, len);
    free(csv);

    rg_import_opts opts = { .progress = on_progress, .progress_arg = &seen };
    assert_int_equal(import_opts(f, RG_IMPORT_APPLICANTS, path, &opts), 0);
    assert_true(seen.calls >= 10);   /* every 1024 rows and at the end */
    assert_int_equal(seen.rows, 10000);
    assert_int_equal(seen.done, len);
    assert_int_equal(seen.total, len);
}

/* ---- the watch list ---- */

static void test_watchlist_upsert_and_version(void **state)
{
    struct fixture *f = *state;
    char buf[512];
    const char *path = write_file(f, "watch.csv", WATCH_HEADER
        "W001,John,Smith,1970-01-01,,,Socialist Workers Party,organiser,https://example.org/a\n"
        "W002,Mary,Brown,,,M1 1AE,Conservative Party,councillor,\"Council website,\nward page\"\n"
        "W003,Bad,Row,,,,Green Party,,source\n"
        "W001,Dup,Licate,,,,Green Party,member,x\n"
        "a/b,Bad,Id,,,,Green Party,member,x\n");

    assert_int_equal(import(f, RG_IMPORT_WATCHLIST, path), 3);
    assert_int_equal(f->res.added, 2);
    /* W002's source spans two lines, so W003 is on line 5. */
    assert_contains(f->errors, "watch.csv:5: role: is empty");
    assert_contains(f->errors, "watch.csv:6: id: duplicate id \"W001\", first on line 2");
    assert_contains(f->errors, "watch.csv:7: id: \"a/b\" cannot name a file");
    assert_int_equal(query_int(f, "SELECT value FROM counter WHERE name = 'watchlist_version'"), 1);
    assert_int_equal(query_int(f, "SELECT count(*) FROM audit WHERE action = 'watchlist.import'"), 2);
    query_text(f, "SELECT detail FROM audit WHERE action = 'watchlist.import' ORDER BY seq LIMIT 1",
               buf, sizeof buf);
    assert_string_equal(buf, "{\"date_of_birth\":\"1970-01-01\",\"email\":\"\",\"family_name\":\"Smith\","
                             "\"given_name\":\"John\",\"id\":\"W001\",\"organisation\":\"Socialist Workers"
                             " Party\",\"postcode\":\"\",\"role\":\"organiser\",\"source\":"
                             "\"https://example.org/a\"}");

    /* Unchanged: no event, no new version. */
    path = write_file(f, "watch2.csv", WATCH_HEADER
        "W001,John,Smith,1970-01-01,,,Socialist Workers Party,organiser,https://example.org/a\n");
    int64_t before = head_seq(f);
    assert_int_equal(import(f, RG_IMPORT_WATCHLIST, path), 0);
    assert_int_equal(f->res.unchanged, 1);
    assert_int_equal(head_seq(f), before);
    assert_int_equal(query_int(f, "SELECT value FROM counter WHERE name = 'watchlist_version'"), 1);

    /* Changed: one update event, the version bumped once; W002, absent, stays. */
    path = write_file(f, "watch3.csv", WATCH_HEADER
        "W001,John,Smith,1970-01-01,,,Socialist Workers Party,national secretary,https://example.org/a\n"
        "W004,Pat,Green,,,,Green Party,candidate,https://example.org/b\n");
    assert_int_equal(import(f, RG_IMPORT_WATCHLIST, path), 0);
    assert_int_equal(f->res.changed, 1);
    assert_int_equal(f->res.added, 1);
    assert_int_equal(query_int(f, "SELECT value FROM counter WHERE name = 'watchlist_version'"), 2);
    assert_int_equal(query_int(f, "SELECT count(*) FROM watchlist"), 3);
    query_text(f, "SELECT detail FROM audit WHERE action = 'watchlist.update'", buf, sizeof buf);
    assert_string_equal(buf, "{\"changed\":{\"role\":[\"organiser\",\"national secretary\"]},\"id\":\"W001\"}");
    assert_chain_holds(f);
}

/* ---- organisations ---- */

static void test_organisations_replace_the_list(void **state)
{
    struct fixture *f = *state;
    char buf[256];
    const char *path = write_file(f, "organisations.csv", "aliases,name\n"
        "SWP | Socialist Workers ||,Socialist Workers Party\n"
        "Tories|Tory,Conservative Party\n"
        ",Left Unity\n");

    assert_int_equal(import(f, RG_IMPORT_ORGANISATIONS, path), 0);
    assert_int_equal(f->res.added, 3);
    assert_string_equal(query_text(f, "SELECT aliases FROM organisation WHERE name = 'Socialist Workers Party'",
                                   buf, sizeof buf), "SWP|Socialist Workers");

    /* A row rejected: nothing is removed, even though Left Unity is absent. */
    path = write_file(f, "organisations.csv", "name,aliases\n"
        "Socialist Workers Party,SWP|Socialist Workers\n"
        "\"Bad\x7fName\",x\n");
    assert_int_equal(import(f, RG_IMPORT_ORGANISATIONS, path), 1);
    assert_int_equal(f->res.removal_skipped, 1);
    assert_int_equal(f->res.removed, 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM organisation"), 3);

    /* A clean file replaces the list: one changed, one removed, one added, each audited. */
    path = write_file(f, "organisations.csv", "name,aliases\n"
        "Socialist Workers Party,SWP|Socialist Workers\n"
        "Conservative Party,Tories|Tory|Conservatives\n"
        "Green Party,Greens\n");
    int64_t before = head_seq(f);
    assert_int_equal(import(f, RG_IMPORT_ORGANISATIONS, path), 0);
    assert_int_equal(f->res.unchanged, 1);
    assert_int_equal(f->res.changed, 1);
    assert_int_equal(f->res.added, 1);
    assert_int_equal(f->res.removed, 1);
    assert_int_equal(head_seq(f), before + 3);
    assert_int_equal(query_int(f, "SELECT count(*) FROM organisation WHERE name = 'Left Unity'"), 0);
    query_text(f, "SELECT detail FROM audit WHERE action = 'organisation.remove'", buf, sizeof buf);
    assert_string_equal(buf, "{\"aliases\":\"\",\"name\":\"Left Unity\"}");
    query_text(f, "SELECT detail FROM audit WHERE action = 'organisation.update'", buf, sizeof buf);
    assert_string_equal(buf, "{\"changed\":{\"aliases\":[\"Tories|Tory\",\"Tories|Tory|Conservatives\"]},"
                             "\"name\":\"Conservative Party\"}");
    assert_int_equal(query_int(f, "SELECT count(*) FROM audit WHERE action = 'organisation.import'"), 4);

    /* A header alone would remove them all: refused. */
    before = head_seq(f);
    const char *empty = write_file(f, "none.csv", "name,aliases\n");
    assert_int_equal(import(f, RG_IMPORT_ORGANISATIONS, empty), -EINVAL);
    assert_contains(rg_db_errmsg(f->db), "no organisations");
    assert_int_equal(query_int(f, "SELECT count(*) FROM organisation"), 3);
    assert_int_equal(head_seq(f), before);

    /* Again: nothing to change. */
    path = write_file(f, "organisations.csv", "name,aliases\n"
        "Socialist Workers Party,SWP|Socialist Workers\n"
        "Conservative Party,Tories|Tory|Conservatives\n"
        "Green Party,Greens\n");
    before = head_seq(f);
    assert_int_equal(import(f, RG_IMPORT_ORGANISATIONS, path), 0);
    assert_int_equal(f->res.unchanged, 3);
    assert_int_equal(head_seq(f), before);
    assert_chain_holds(f);
}

static void test_default_organisations_loaded_once(void **state)
{
    struct fixture *f = *state;
    int lines = count_lines(rg_default_orgs_csv);

    assert_true(lines > 5);
    assert_int_equal(rg_import_default_organisations(f->db, &f->who), 1);
    /* Every line of the shipped list but its header is an organisation, each audited. */
    assert_int_equal(query_int(f, "SELECT count(*) FROM organisation"), lines - 1);
    assert_int_equal(query_int(f, "SELECT count(*) FROM audit WHERE action = 'organisation.import'"),
                     lines - 1);
    assert_int_equal(query_int(f, "SELECT count(*) FROM organisation WHERE name = 'Socialist Workers Party'"), 1);
    int64_t seq = head_seq(f);

    assert_int_equal(rg_import_default_organisations(f->db, &f->who), 0);
    assert_int_equal(head_seq(f), seq);

    /* Nor over a list of the party's own. */
    exec(f, "DELETE FROM organisation");
    exec(f, "INSERT INTO organisation(name) VALUES ('Ours')");
    assert_int_equal(rg_import_default_organisations(f->db, &f->who), 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM organisation"), 1);
    assert_chain_holds(f);
}

static void test_kind_names(void **state)
{
    assert_int_equal(rg_import_kind_parse("applicants"), RG_IMPORT_APPLICANTS);
    assert_int_equal(rg_import_kind_parse("watchlist"), RG_IMPORT_WATCHLIST);
    assert_int_equal(rg_import_kind_parse("organisations"), RG_IMPORT_ORGANISATIONS);
    assert_int_equal(rg_import_kind_parse("members"), -1);
    assert_string_equal(rg_import_kind_name(RG_IMPORT_WATCHLIST), "watchlist");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_file_any_column_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_hostile_row_rejected_with_line_and_column, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_or_unknown_columns_fail_the_whole_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_second_import_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_row_is_one_audited_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_imports_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_file_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchlist_upsert_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_organisations_replace_the_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_organisations_loaded_once, setup, teardown),
        cmocka_unit_test(test_kind_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
