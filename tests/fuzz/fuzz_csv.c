/*
 * fuzz_csv.c: the CSV reader (backend/csv.c) on any bytes.
 *
 * The first two bytes pick the limits (small ones reach the over-long and too-many-fields paths)
 * and how the file arrives: all at once, or from a socket in packets of 1-15 bytes, each read(2)
 * returning one, so that records straddle the reader's refills wherever the fuzzer likes; the rest
 * is the file.  Every record must keep the reader's promises (csv.h): a good record's
 * fields are NUL-terminated at their lengths, a rejected one has no fields and a message, raw stays
 * within max_record, the offset only grows.  Each good record is also written back with
 * rg_csv_write_row() and read again: it must come back field for field.  The first record goes
 * through rg_csv_map_header() as the import's header would.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "csv.h"
#include "fuzz.h"

static int file_of(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_csv", MFD_CLOEXEC);

    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size);
    FUZZ_ASSERT(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

struct feed {
    int fd;
    const uint8_t *data;
    size_t size, chunk;
};

static void *feed_main(void *arg)
{
    struct feed *f = arg;

    for (size_t at = 0; at < f->size; at += f->chunk) {
        size_t n = f->size - at < f->chunk ? f->size - at : f->chunk;
        FUZZ_ASSERT(write(f->fd, f->data + at, n) == (ssize_t)n);
    }
    close(f->fd);
    return NULL;
}

/* Writes the record's fields as a row and reads it back: the same fields must come out. */
static void round_trip(const rg_csv_record *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rg_csv_limits lim = { 64, r->nfields };   /* what the written row can take, at most */
    rg_csv_record back;

    for (int i = 0; i < r->nfields; i++)
        lim.max_record += 2 * r->len[i] + 3;   /* quotes doubled, two around, a comma */

    FUZZ_ASSERT(f);
    /* A file starts with its header: a first field opening with a byte-order mark is read as
     * one.  Put a plain header first so that the record under test is not the first line. */
    FUZZ_ASSERT(rg_csv_write_row(f, (const char *const[]){ "h" }, NULL, 1) == 0);
    FUZZ_ASSERT(rg_csv_write_row(f, r->field, r->len, r->nfields) == 0);
    FUZZ_ASSERT(fclose(f) == 0);
    int fd = file_of((const uint8_t *)text, len);
    rg_csv *c = rg_csv_open_fd(fd, &lim);
    FUZZ_ASSERT(c);
    FUZZ_ASSERT(rg_csv_next(c, &back) == 1);   /* the header */
    FUZZ_ASSERT(rg_csv_next(c, &back) == 1);
    FUZZ_ASSERT(back.error == RG_CSV_OK);
    FUZZ_ASSERT(back.nfields == r->nfields);
    for (int i = 0; i < r->nfields; i++)
        FUZZ_ASSERT(back.len[i] == r->len[i] && memcmp(back.field[i], r->field[i], r->len[i]) == 0);
    FUZZ_ASSERT(rg_csv_next(c, &back) == 0);
    rg_csv_close(c);
    close(fd);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const wanted[] = { "id", "given_name", "family_name", "email" };
    rg_csv_limits lim = { 0, 0 };
    rg_csv_record r;
    uint64_t offset = 0;
    char err[256];
    int idx[4], rc, n = 0, fd, sv[2];
    struct feed feed = { -1, NULL, 0, 0 };
    pthread_t feeder;

    if (size < 2)
        return 0;
    /* 0: the defaults; else small limits, as a tight --max-record would set. */
    if (data[0] & 1) {
        lim.max_record = 1 + data[0] / 2;
        lim.max_fields = 1 + data[1] % 16;
    }
    feed.chunk = data[1] >> 4;
    data += 2, size -= 2;
    if (!feed.chunk) {
        fd = file_of(data, size);
    } else {
        /* A packet socket: a read(2) returns one packet, never two, whatever the timing. */
        FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        fd = sv[0];
        feed = (struct feed){ sv[1], data, size, feed.chunk };
        FUZZ_ASSERT(pthread_create(&feeder, NULL, feed_main, &feed) == 0);
    }
    rg_csv *c = rg_csv_open_fd(fd, &lim);
    FUZZ_ASSERT(c);
    size_t max_record = lim.max_record ? lim.max_record : RG_CSV_DEFAULT_MAX_RECORD;
    while ((rc = rg_csv_next(c, &r)) == 1) {
        FUZZ_ASSERT(r.raw_len <= max_record);
        FUZZ_ASSERT(r.line >= 1);
        FUZZ_ASSERT(rg_csv_offset(c) >= offset && rg_csv_offset(c) <= size);
        offset = rg_csv_offset(c);
        if (r.error != RG_CSV_OK) {
            FUZZ_ASSERT(r.nfields == 0 && r.message && r.message[0]);
        } else {
            FUZZ_ASSERT(r.nfields >= 1);
            for (int i = 0; i < r.nfields; i++) {
                FUZZ_ASSERT(r.field[i][r.len[i]] == '\0');
                FUZZ_ASSERT(memchr(r.field[i], '\0', r.len[i]) == NULL);
                FUZZ_ASSERT(rg_utf8_valid(r.field[i], r.len[i]));
            }
            round_trip(&r);
        }
        if (n++ == 0) {
            int m = rg_csv_map_header(&r, wanted, 4, idx, err, sizeof err);
            FUZZ_ASSERT(m == 0 || (m == -EINVAL && err[0]));
        }
    }
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(rg_csv_offset(c) == size);
    rg_csv_close(c);
    close(fd);
    if (feed.chunk)
        pthread_join(feeder, NULL);
    return 0;
}
