/*
 * ino.c: the pieces of the inode scheme (fs.h): names that are numbers, names that are days, and the
 * hash that numbers a CLP's folder.
 *
 * Every function here is pure: the same name gives the same number on every mount.
 */
#include <string.h>

#include "fs.h"

int fs_parse_id(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t n = strlen(s);

    /* One spelling per number: "0123" and "+123" would be second names for one inode. */
    if (n == 0 || n > 18 || s[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

int fs_day_parse(const char *s, int64_t *days)
{
    if (strlen(s) != 10 || !rg_date_valid(s))
        return -1;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
    unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));

    *days = days_from_civil(y, m, d);
    return 0;
}

void fs_day_format(int64_t z, char out[RG_DAY_LEN])
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;

    y += m <= 2;
    if (y < 0 || y > 9999)
        y = 0;
    out[0] = (char)('0' + y / 1000);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
    out[10] = '\0';
}

uint64_t fs_slug_hash(const char *slug)
{
    /* FNV-1a, folded to 48 bits: about 650 CLPs make a collision a one-in-a-billion event. */
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (const unsigned char *p = (const unsigned char *)slug; *p; p++) {
        h ^= *p;
        h *= UINT64_C(0x100000001b3);
    }
    return (h ^ (h >> 48)) & ((UINT64_C(1) << 48) - 1);
}

fuse_ino_t fs_verdict_dir_ino(const char *verdict)
{
    static const struct {
        const char *name;
        fuse_ino_t ino;
    } dirs[] = {
        { "approved", FS_INO_V_APPROVED },
        { "excluded", FS_INO_V_EXCLUDED },
        { "review", FS_INO_V_REVIEW },
        { "pending", FS_INO_V_PENDING },
    };

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (strcmp(dirs[i].name, verdict) == 0)
            return dirs[i].ino;
    return 0;
}
