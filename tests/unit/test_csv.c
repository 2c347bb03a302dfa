/*
 * test_csv.c: the CSV reader, header mapping and rejects writer (backend/csv.h).
 *
 * Inputs are written to memfds and read back through the real read(2) path; one test feeds the
 * reader a byte per read(2) through a SEQPACKET socket to cross every buffer boundary.  Malformed
 * records are checked for what an importer shows the user (line, field, message, raw bytes) and for
 * the reader carrying on with the next good record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csv.h"

/* ---- helpers ---- */

/* A memfd holding data, at offset 0. */
static int memfd_with(const char *data, size_t len)
{
    int fd = memfd_create("csv", MFD_CLOEXEC);
    assert_true(fd >= 0);
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, data + done, len - done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* A reader of data that owns its descriptor: opened by path, as the importer opens its files. */
static rg_csv *reader_n(const char *data, size_t len, const rg_csv_limits *lim)
{
    char path[64];
    int fd = memfd_with(data, len);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    rg_csv *c = rg_csv_open_path(path, lim);
    assert_non_null(c);
    close(fd);
    return c;
}

static rg_csv *reader(const char *data, const rg_csv_limits *lim)
{
    return reader_n(data, strlen(data), lim);
}

static void expect_row_(rg_csv *c, long line, const char *const *want, int n)
{
    rg_csv_record r;
    assert_int_equal(rg_csv_next(c, &r), 1);
    assert_string_equal(r.message, "");
    assert_int_equal(r.error, RG_CSV_OK);
    assert_int_equal(r.error_field, -1);
    assert_int_equal(r.line, line);
    assert_int_equal(r.nfields, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r.len[i], strlen(want[i]));
        assert_memory_equal(r.field[i], want[i], r.len[i] + 1);
    }
}

#define ROW(...) (const char *const[]){ __VA_ARGS__ }
#define NROW(...) (int)(sizeof(ROW(__VA_ARGS__)) / sizeof(const char *))
/* The next record starts on `line` and holds exactly the given fields. */
#define EXPECT_ROW(c, line, ...) expect_row_((c), (line), ROW(__VA_ARGS__), NROW(__VA_ARGS__))

/* The next record starts on `line` and is rejected with this code, field and message. */
static void expect_error(rg_csv *c, long line, enum rg_csv_error code, int field, const char *msg)
{
    rg_csv_record r;
    assert_int_equal(rg_csv_next(c, &r), 1);
    assert_string_equal(r.message, msg);
    assert_int_equal(r.error, code);
    assert_int_equal(r.error_field, field);
    assert_int_equal(r.line, line);
    assert_int_equal(r.nfields, 0);
}

/* Like expect_error(), and the raw bytes are exactly raw. */
static void expect_reject(rg_csv *c, long line, enum rg_csv_error code, int field, const char *msg,
                          const char *raw, size_t raw_len)
{
    rg_csv_record r;
    assert_int_equal(rg_csv_next(c, &r), 1);
    assert_string_equal(r.message, msg);
    assert_int_equal(r.error, code);
    assert_int_equal(r.error_field, field);
    assert_int_equal(r.line, line);
    assert_int_equal(r.raw_len, raw_len);
    assert_memory_equal(r.raw, raw, raw_len);
}

static void expect_eof(rg_csv *c)
{
    rg_csv_record r;
    assert_int_equal(rg_csv_next(c, &r), 0);
    assert_int_equal(rg_csv_next(c, &r), 0);
}

/* Bytes of heap in use: the sanitizer's count when built with ASan, else glibc's. */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));
static size_t heap_in_use(void)
{
    if (__sanitizer_get_current_allocated_bytes)
        return __sanitizer_get_current_allocated_bytes();
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* ---- well-formed input ---- */

static void test_plain_and_empty_fields(void **state)
{
    rg_csv *c = reader("a,b,c\n,,\n\"\",x,\nlast,\n", NULL);
    EXPECT_ROW(c, 1, "a", "b", "c");
    EXPECT_ROW(c, 2, "", "", "");
    EXPECT_ROW(c, 3, "", "x", "");
    EXPECT_ROW(c, 4, "last", "");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_quoted_commas_quotes_newlines(void **state)
{
    rg_csv *c = reader("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
                       "\"\"\"\",\"\n\n\",5\" screen\n"
                       "next,row\n", NULL);
    EXPECT_ROW(c, 1, "a,b", "say \"hi\"", "two\nlines");
    EXPECT_ROW(c, 3, "\"", "\n\n", "5\" screen");
    EXPECT_ROW(c, 6, "next", "row");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_crlf_and_mixed_line_endings(void **state)
{
    rg_csv *c = reader("a,b\r\nc,d\ne,\"x\r\ny\"\r\n\"q\"\r\nh\ri,j\nf,g", NULL);
    EXPECT_ROW(c, 1, "a", "b");
    EXPECT_ROW(c, 2, "c", "d");
    EXPECT_ROW(c, 3, "e", "x\r\ny");
    EXPECT_ROW(c, 5, "q");
    EXPECT_ROW(c, 6, "h\ri", "j");  /* a lone CR is text */
    EXPECT_ROW(c, 7, "f", "g");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_missing_final_newline(void **state)
{
    rg_csv *c = reader("a,b\nc,d", NULL);
    EXPECT_ROW(c, 1, "a", "b");
    EXPECT_ROW(c, 2, "c", "d");
    expect_eof(c);
    rg_csv_close(c);

    c = reader("a,\"b,c\"", NULL);
    EXPECT_ROW(c, 1, "a", "b,c");
    expect_eof(c);
    rg_csv_close(c);

    c = reader("a,\r", NULL);
    EXPECT_ROW(c, 1, "a", "");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_bom_skipped_only_at_start(void **state)
{
    rg_csv *c = reader("\xEF\xBB\xBFname,email\n\xEF\xBB\xBFx,y\n", NULL);
    EXPECT_ROW(c, 1, "name", "email");
    EXPECT_ROW(c, 2, "\xEF\xBB\xBFx", "y");
    expect_eof(c);
    rg_csv_close(c);

    c = reader("\xEF\xBB\xBF", NULL);
    expect_eof(c);
    rg_csv_close(c);

    c = reader("\xEF\xBB", NULL);  /* not a whole mark: a field with a truncated sequence */
    expect_error(c, 1, RG_CSV_BAD_UTF8, 0, "invalid UTF-8 at byte 1 of field 1");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_blank_lines_are_not_records(void **state)
{
    rg_csv *c = reader("a\n\nb\r\n\r\n\"\"\n\n", NULL);
    EXPECT_ROW(c, 1, "a");
    EXPECT_ROW(c, 3, "b");
    EXPECT_ROW(c, 5, "");  /* a quoted empty field is a record */
    expect_eof(c);
    rg_csv_close(c);

    c = reader("\n\r\n", NULL);
    expect_eof(c);
    rg_csv_close(c);
}

static void test_valid_utf8_boundaries(void **state)
{
    static const char *const ok[] = {
        "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF",
        "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "M\xC3\xBCller", "Nguy\xE1\xBB\x85n",
        "0123456789abcdef\xF0\x9F\x98\x80" "0123456\xC3\xA9", /* past the 8-byte fast path */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char data[128];
        snprintf(data, sizeof data, "x,%s\n", ok[i]);
        rg_csv *c = reader(data, NULL);
        EXPECT_ROW(c, 1, "x", ok[i]);
        expect_eof(c);
        rg_csv_close(c);
    }
}

/* ---- malformed records: reported where they are, and reading goes on ---- */

static void test_invalid_utf8(void **state)
{
    static const struct { const char *field; const char *msg; } bad[] = {
        { "\xC0\xAF",            "invalid UTF-8 at byte 1 of field 2" }, /* overlong '/' */
        { "ab\xC1\xBF",          "invalid UTF-8 at byte 3 of field 2" }, /* overlong */
        { "\xE0\x80\xAF",        "invalid UTF-8 at byte 1 of field 2" }, /* overlong, 3 bytes */
        { "\xF0\x80\x80\xAF",    "invalid UTF-8 at byte 1 of field 2" }, /* overlong, 4 bytes */
        { "x\xED\xA0\x80",       "invalid UTF-8 at byte 2 of field 2" }, /* surrogate D800 */
        { "\xED\xBF\xBF",        "invalid UTF-8 at byte 1 of field 2" }, /* surrogate DFFF */
        { "\xF4\x90\x80\x80",    "invalid UTF-8 at byte 1 of field 2" }, /* U+110000 */
        { "\xF5\x80\x80\x80",    "invalid UTF-8 at byte 1 of field 2" },
        { "abc\x80",             "invalid UTF-8 at byte 4 of field 2" }, /* stray continuation */
        { "\xFF",                "invalid UTF-8 at byte 1 of field 2" },
        { "12345678\xE2\x82",    "invalid UTF-8 at byte 9 of field 2" }, /* truncated at field end */
        { "\xE2\x82x",           "invalid UTF-8 at byte 1 of field 2" }, /* truncated mid-field */
        { "\"q\"\"\xC3(\"",      "invalid UTF-8 at byte 3 of field 2" }, /* quoted: byte of value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char data[128];
        int len = snprintf(data, sizeof data, "ok,1\nx,%s,z\ngood,2\n", bad[i].field);
        rg_csv *c = reader(data, NULL);
        EXPECT_ROW(c, 1, "ok", "1");
        expect_reject(c, 2, RG_CSV_BAD_UTF8, 1, bad[i].msg, data + 5, (size_t)len - 5 - 8);
        EXPECT_ROW(c, 3, "good", "2");
        expect_eof(c);
        rg_csv_close(c);
    }

    rg_csv *c = reader("a,\xE2\x82", NULL); /* truncated at end of file */
    expect_error(c, 1, RG_CSV_BAD_UTF8, 1, "invalid UTF-8 at byte 1 of field 2");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_nul_byte(void **state)
{
    static const char data[] = "a,b\0c\nd,e\n\"x\ny\0\",f\ng,h\n0123456789\0abcdefgh\ni\n";
    rg_csv *c = reader_n(data, sizeof data - 1, NULL);
    expect_reject(c, 1, RG_CSV_NUL, 1, "NUL byte at byte 2 of field 2", "a,b\0c", 5);
    EXPECT_ROW(c, 2, "d", "e");
    expect_error(c, 3, RG_CSV_NUL, 0, "NUL byte at byte 4 of field 1");
    EXPECT_ROW(c, 5, "g", "h");
    expect_error(c, 6, RG_CSV_NUL, 0, "NUL byte at byte 11 of field 1");
    EXPECT_ROW(c, 7, "i");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_unterminated_quote_at_eof(void **state)
{
    /* The stray quote opens on line 2; lines 3 and 4 are good records and must survive. */
    rg_csv *c = reader("h1,h2\nx,\"open\ny,1\r\nz,2\n", NULL);
    EXPECT_ROW(c, 1, "h1", "h2");
    expect_reject(c, 2, RG_CSV_UNTERMINATED, 1, "unterminated quoted field 2 (opened on line 2)",
                  "x,\"open", 7);
    EXPECT_ROW(c, 3, "y", "1");
    EXPECT_ROW(c, 4, "z", "2");
    expect_eof(c);
    rg_csv_close(c);

    /* A record on lines 1-2 whose second quoted field opens on line 2 and never closes. */
    c = reader("a,\"b\nc\",\"d\ne,f\n", NULL);
    expect_reject(c, 1, RG_CSV_UNTERMINATED, 2, "unterminated quoted field 3 (opened on line 2)",
                  "a,\"b\nc\",\"d", 10);
    EXPECT_ROW(c, 3, "e", "f");
    expect_eof(c);
    rg_csv_close(c);

    c = reader("a,\"", NULL);
    expect_error(c, 1, RG_CSV_UNTERMINATED, 1, "unterminated quoted field 2 (opened on line 1)");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_text_after_closing_quote(void **state)
{
    rg_csv *c = reader("a,\"b\"c,d\r\nnext,1\n\"x\" ,y\n\"p\"\"q\"\"\"r\nlast,2\n", NULL);
    expect_reject(c, 1, RG_CSV_AFTER_QUOTE, 1, "text after closing quote in field 2",
                  "a,\"b\"c,d", 8);
    EXPECT_ROW(c, 2, "next", "1");
    expect_error(c, 3, RG_CSV_AFTER_QUOTE, 0, "text after closing quote in field 1");
    expect_error(c, 4, RG_CSV_AFTER_QUOTE, 0, "text after closing quote in field 1");
    EXPECT_ROW(c, 5, "last", "2");
    expect_eof(c);
    rg_csv_close(c);
}

/* The first fault in a record is the one reported. */
static void test_first_fault_wins(void **state)
{
    rg_csv *c = reader("\"a\"x,\xFF,\"b\"y\n\xFF,\"a\"x\nok\n", NULL);
    expect_error(c, 1, RG_CSV_AFTER_QUOTE, 0, "text after closing quote in field 1");
    expect_error(c, 2, RG_CSV_BAD_UTF8, 0, "invalid UTF-8 at byte 1 of field 1");
    EXPECT_ROW(c, 3, "ok");
    expect_eof(c);
    rg_csv_close(c);
}

static void test_record_length_limit(void **state)
{
    const rg_csv_limits lim = { .max_record = 16 };
    /* 16 bytes is allowed with any line ending; 17 is not, and the limit counts the raw bytes. */
    rg_csv *c = reader("0123456789,abcde\n"
                       "0123456789,abcde\r\n"
                       "0123456789,abcdef\n"
                       "\"0123\"\"456\",abcd\n"
                       "\"0123\"\"456\",abcde\r\n"
                       "short\n"
                       "0123456789,abcde", &lim);
    EXPECT_ROW(c, 1, "0123456789", "abcde");
    EXPECT_ROW(c, 2, "0123456789", "abcde");
    expect_reject(c, 3, RG_CSV_TOO_LONG, -1, "record longer than 16 bytes", "0123456789,abcde", 16);
    EXPECT_ROW(c, 4, "0123\"456", "abcd");
    expect_error(c, 5, RG_CSV_TOO_LONG, -1, "record longer than 16 bytes");
    EXPECT_ROW(c, 6, "short");
    EXPECT_ROW(c, 7, "0123456789", "abcde");
    expect_eof(c);
    rg_csv_close(c);

    c = reader("0123456789,abcdef", &lim);  /* 17 bytes at end of file */
    expect_error(c, 1, RG_CSV_TOO_LONG, -1, "record longer than 16 bytes");
    expect_eof(c);
    rg_csv_close(c);

    /* Far over the limit, with a closed multi-line field: skipped to its end, lines kept count. */
    char big[4096];
    int n = snprintf(big, sizeof big, "\"a\nb\",%0*d\nafter,1\n", 3000, 7);
    c = reader_n(big, (size_t)n, &lim);
    expect_reject(c, 1, RG_CSV_TOO_LONG, -1, "record longer than 16 bytes", big, 16);
    EXPECT_ROW(c, 3, "after", "1");
    expect_eof(c);
    rg_csv_close(c);
}

/* The default limit, exactly at it and one byte over. */
static void test_default_record_limit(void **state)
{
    size_t at = RG_CSV_DEFAULT_MAX_RECORD;
    char *data = malloc(2 * at + 16), *p = data;
    memset(p, 'a', at);
    p += at;
    *p++ = '\n';
    memset(p, 'b', at + 1);
    p += at + 1;
    memcpy(p, "\r\nok\n", 5);
    p += 5;

    rg_csv *c = reader_n(data, (size_t)(p - data), NULL);
    rg_csv_record r;
    assert_int_equal(rg_csv_next(c, &r), 1);
    assert_int_equal(r.error, RG_CSV_OK);
    assert_int_equal(r.nfields, 1);
    assert_int_equal(r.len[0], at);
    expect_reject(c, 2, RG_CSV_TOO_LONG, -1, "record longer than 65536 bytes", data + at + 1, at);
    EXPECT_ROW(c, 3, "ok");
    expect_eof(c);
    rg_csv_close(c);
    free(data);
}

static void test_field_count_limit(void **state)
{
    const rg_csv_limits lim = { .max_fields = 3 };
    rg_csv *c = reader("a,b,c\na,b,c,\n\"x\ny\",b,c,d,e\nx,y\n", &lim);
    EXPECT_ROW(c, 1, "a", "b", "c");
    expect_error(c, 2, RG_CSV_TOO_MANY_FIELDS, 3, "too many fields (more than 3)");
    expect_error(c, 3, RG_CSV_TOO_MANY_FIELDS, 3, "too many fields (more than 3)");
    EXPECT_ROW(c, 5, "x", "y");
    expect_eof(c);
    rg_csv_close(c);
}

/*
 * A stray quote in front of a megabyte of good records: the reader must neither buffer the megabyte
 * nor lose the records, and a quoted field of megabytes without any LF must be discarded unbuffered.
 */
static void test_huge_unterminated_quote(void **state)
{
    const size_t mb = 1 << 20;
    char *data = malloc(3 * mb), *p = data;
    long rows = 0;

    p += sprintf(p, "id,name\n1,\"Smith\n");
    while ((size_t)(p - data) < mb)
        p += sprintf(p, "%ld,row\n", 2 + rows++);
    rg_csv *c = reader_n(data, (size_t)(p - data), NULL);
    size_t before = heap_in_use();
    rg_csv_record r;
    EXPECT_ROW(c, 1, "id", "name");
    expect_error(c, 2, RG_CSV_UNTERMINATED, 1,
                 "unterminated quoted field 2 (opened on line 2, still open after 65536 bytes)");
    for (long i = 0; i < rows; i++) {
        assert_int_equal(rg_csv_next(c, &r), 1);
        assert_int_equal(r.error, RG_CSV_OK);
        assert_int_equal(r.line, 3 + i);
        assert_int_equal(strtol(r.field[0], NULL, 10), 2 + i);
    }
    expect_eof(c);
    assert_true(heap_in_use() - before < 64 * 1024);
    rg_csv_close(c);

    p = data;
    p += sprintf(p, "a,\"");  /* longer than the reader's buffer */
    memset(p, 'x', 2 * mb);
    p += 2 * mb;
    p += sprintf(p, "\nok,1\n");
    c = reader_n(data, (size_t)(p - data), NULL);
    before = heap_in_use();
    assert_int_equal(rg_csv_next(c, &r), 1);
    assert_int_equal(r.error, RG_CSV_UNTERMINATED);
    assert_int_equal(r.raw_len, RG_CSV_DEFAULT_MAX_RECORD);
    EXPECT_ROW(c, 2, "ok", "1");
    expect_eof(c);
    assert_true(heap_in_use() - before < 64 * 1024);
    rg_csv_close(c);
    free(data);
}

/* ---- reading mechanics ---- */

/* Every split point: one byte per read(2), from a SEQPACKET socket fed by a child. */
static void test_one_byte_reads(void **state)
{
    static const char data[] = "\xEF\xBB\xBF" "a,\"b\"\"c\"\r\n\"d\ne\",\xC3\xA9\r\n\nx,\"\"\r\ny";
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        for (size_t i = 0; i < sizeof data - 1; i++)
            if (write(sv[1], data + i, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(sv[1]);
    rg_csv *c = rg_csv_open_fd(sv[0], NULL);
    assert_non_null(c);
    EXPECT_ROW(c, 1, "a", "b\"c");
    EXPECT_ROW(c, 2, "d\ne", "\xC3\xA9");
    EXPECT_ROW(c, 5, "x", "");
    EXPECT_ROW(c, 6, "y");
    expect_eof(c);
    assert_int_equal(rg_csv_offset(c), sizeof data - 1);
    rg_csv_close(c);
    close(sv[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Many megabytes: records straddle buffer refills and still come back whole and in order. */
static void test_large_file_across_refills(void **state)
{
    const long rows = 120000;
    char *data = malloc((size_t)rows * 64), *p = data;
    for (long i = 0; i < rows; i++)
        p += sprintf(p, i % 3 ? "%ld,\"q,\"\"%ld\",\"l\n%ld\"\r\n" : "%ld,plain %ld,x%ld\n", i, i, i);

    rg_csv *c = reader_n(data, (size_t)(p - data), NULL);
    rg_csv_record r;
    long line = 1;
    for (long i = 0; i < rows; i++) {
        char f1[32], f2[32];
        assert_int_equal(rg_csv_next(c, &r), 1);
        assert_int_equal(r.error, RG_CSV_OK);
        assert_int_equal(r.line, line);
        assert_int_equal(r.nfields, 3);
        assert_int_equal(strtol(r.field[0], NULL, 10), i);
        snprintf(f1, sizeof f1, i % 3 ? "q,\"%ld" : "plain %ld", i);
        snprintf(f2, sizeof f2, i % 3 ? "l\n%ld" : "x%ld", i);
        assert_string_equal(r.field[1], f1);
        assert_string_equal(r.field[2], f2);
        line += i % 3 ? 2 : 1;
    }
    expect_eof(c);
    assert_int_equal(rg_csv_offset(c), p - data);
    rg_csv_close(c);
    free(data);
}

static void test_offset_counts_consumed_bytes(void **state)
{
    rg_csv *c = reader("\xEF\xBB\xBF" "ab,c\r\n\nd\n", NULL);
    rg_csv_record r;
    assert_int_equal(rg_csv_offset(c), 0);
    assert_int_equal(rg_csv_next(c, &r), 1);
    assert_int_equal(rg_csv_offset(c), 9);
    assert_int_equal(rg_csv_next(c, &r), 1);
    assert_int_equal(rg_csv_offset(c), 12);
    assert_int_equal(rg_csv_next(c, &r), 0);
    assert_int_equal(rg_csv_offset(c), 12);
    rg_csv_close(c);
}

static void test_read_error_is_returned(void **state)
{
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    rg_csv *c = rg_csv_open_fd(fd, NULL);
    rg_csv_record r;
    assert_non_null(c);
    assert_int_equal(rg_csv_next(c, &r), -EISDIR);
    assert_int_equal(rg_csv_next(c, &r), -EISDIR);
    rg_csv_close(c);
    assert_int_equal(close(fd), 0); /* borrowed: still open */
}

static void test_open_errors_and_stdin(void **state)
{
    const rg_csv_limits bad = { .max_fields = -1 }, huge = { .max_record = (size_t)1 << 31 };

    errno = 0;
    assert_null(rg_csv_open_path("/nonexistent/members.csv", NULL));
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_null(rg_csv_open_fd(0, &bad));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(rg_csv_open_fd(0, &huge));
    assert_int_equal(errno, EINVAL);

    int saved = dup(STDIN_FILENO), fd = memfd_with("from,stdin\n", 11);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    rg_csv *c = rg_csv_open_path("-", NULL);
    assert_non_null(c);
    EXPECT_ROW(c, 1, "from", "stdin");
    expect_eof(c);
    rg_csv_close(c);
    assert_true(fcntl(STDIN_FILENO, F_GETFD) >= 0); /* stdin is not the reader's to close */
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
}

/* ---- header mapping ---- */

static const char *const wanted[] = { "id", "name", "email" };

/* Maps the header in data (its first record) against wanted[]. */
static int map(const char *data, int *idx, char *err, size_t errlen)
{
    rg_csv *c = reader(data, NULL);
    rg_csv_record r;
    assert_int_equal(rg_csv_next(c, &r), 1);
    int rc = rg_csv_map_header(&r, wanted, 3, idx, err, errlen);
    rg_csv_close(c);
    return rc;
}

static void test_map_header_any_order(void **state)
{
    int idx[3];
    char err[256] = "stale";
    assert_int_equal(map(" email ,name,\tid\n", idx, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 0);
}

static void test_map_header_reports_every_problem(void **state)
{
    int idx[3];
    char err[256];

    assert_int_equal(map("name,e-mail,Name,name,extra,name\n", idx, err, sizeof err), -EINVAL);
    assert_string_equal(err, "missing columns: id, email; unknown columns: e-mail, Name, extra; "
                             "duplicate column: name");
    assert_int_equal(idx[0], -1);
    assert_int_equal(idx[1], 0);
    assert_int_equal(idx[2], -1);

    assert_int_equal(map("id,name,email,\n", idx, err, sizeof err), -EINVAL);
    assert_string_equal(err, "unknown column: \"\"");

    assert_int_equal(map("id,email\n", idx, err, sizeof err), -EINVAL);
    assert_string_equal(err, "missing column: name");

    assert_int_equal(map("id,name,email,id\n", idx, err, 16), -EINVAL);
    assert_string_equal(err, "duplicate colum"); /* truncated to the buffer */
    assert_int_equal(map("id,name,email,id\n", idx, NULL, 0), -EINVAL);
}

static void test_map_header_rejected_header(void **state)
{
    int idx[3];
    char err[256];
    assert_int_equal(map("id,\"name\"x,email\n", idx, err, sizeof err), -EINVAL);
    assert_string_equal(err, "header: text after closing quote in field 2");
}

/* ---- writer ---- */

/* What rg_csv_write_row() writes for these fields. */
static char *written(const char *const *fields, const size_t *lens, int n, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    assert_non_null(f);
    assert_int_equal(rg_csv_write_row(f, fields, lens, n), 0);
    assert_int_equal(fclose(f), 0);
    return out;
}

static void test_writer_quotes_only_when_needed(void **state)
{
    size_t len;
    char *s = written(ROW("plain", "a,b", "say \"hi\"", " lead", "trail\t", "x\ry", "l\nf", "",
                          "mid space", "\xC3\xA9"), NULL, 10, &len);
    assert_string_equal(s, "plain,\"a,b\",\"say \"\"hi\"\"\",\" lead\",\"trail\t\",\"x\ry\","
                           "\"l\nf\",,mid space,\xC3\xA9\n");
    free(s);

    s = written(ROW(""), NULL, 1, &len);
    assert_string_equal(s, "\"\"\n");
    free(s);

    FILE *f = open_memstream(&s, &len);
    assert_int_equal(rg_csv_write_row(f, NULL, NULL, 0), -EINVAL);
    fclose(f);
    free(s);
}

static void test_writer_round_trip(void **state)
{
    const char *const hostile[] = {
        "\"", "\"\"", ",", "a\r\nb", "\r", "\n", " ", "  both  ", "\"lead", "trail\"", "",
        "\xEF\xBB\xBF" "bom", "ok", "x\"\"\"y,\n",
    };
    const int n = (int)(sizeof hostile / sizeof hostile[0]);
    size_t len;
    char *s = written(hostile, NULL, n, &len);
    char *twice = malloc(2 * len + 3);
    memcpy(twice, "\"\"\n", 3);   /* a lone empty field first: it must not read back as blank */
    memcpy(twice + 3, s, len);
    memcpy(twice + 3 + len, s, len);

    rg_csv *c = reader_n(twice, 2 * len + 3, NULL);
    rg_csv_record r;
    EXPECT_ROW(c, 1, "");
    for (int k = 0; k < 2; k++) {
        assert_int_equal(rg_csv_next(c, &r), 1);
        assert_int_equal(r.error, RG_CSV_OK);
        assert_int_equal(r.nfields, n);
        for (int i = 0; i < n; i++) {
            assert_int_equal(r.len[i], strlen(hostile[i]));
            assert_memory_equal(r.field[i], hostile[i], r.len[i]);
        }
    }
    expect_eof(c);
    rg_csv_close(c);
    free(twice);
    free(s);
}

static void test_writer_reports_errors(void **state)
{
    FILE *f = fopen("/dev/full", "w");
    assert_non_null(f);
    setvbuf(f, NULL, _IONBF, 0);
    assert_int_equal(rg_csv_write_field(f, "x", 1), -ENOSPC);
    assert_int_equal(rg_csv_write_field(f, "a,b", 3), -ENOSPC);
    assert_int_equal(rg_csv_write_row(f, ROW("a", "b"), NULL, 2), -ENOSPC);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_empty_fields),
        cmocka_unit_test(test_quoted_commas_quotes_newlines),
        cmocka_unit_test(test_crlf_and_mixed_line_endings),
        cmocka_unit_test(test_missing_final_newline),
        cmocka_unit_test(test_bom_skipped_only_at_start),
        cmocka_unit_test(test_blank_lines_are_not_records),
        cmocka_unit_test(test_valid_utf8_boundaries),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_unterminated_quote_at_eof),
        cmocka_unit_test(test_text_after_closing_quote),
        cmocka_unit_test(test_first_fault_wins),
        cmocka_unit_test(test_record_length_limit),
        cmocka_unit_test(test_default_record_limit),
        cmocka_unit_test(test_field_count_limit),
        cmocka_unit_test(test_huge_unterminated_quote),
        cmocka_unit_test(test_one_byte_reads),
        cmocka_unit_test(test_large_file_across_refills),
        cmocka_unit_test(test_offset_counts_consumed_bytes),
        cmocka_unit_test(test_read_error_is_returned),
        cmocka_unit_test(test_open_errors_and_stdin),
        cmocka_unit_test(test_map_header_any_order),
        cmocka_unit_test(test_map_header_reports_every_problem),
        cmocka_unit_test(test_map_header_rejected_header),
        cmocka_unit_test(test_writer_quotes_only_when_needed),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_writer_reports_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
