/*
 * rules.c: the vetting rules as one table, what they are loaded from, and how their reasons are
 * written (see rules.h).
 *
 * Loading reads the settings once into plain fields, folds every organisation name and alias into
 * one sorted array of keys, and adds the watch list to a matcher (match.h) that finds candidates
 * through blocking keys, so that no rule compares an applicant with every entry.  After loading,
 * nothing here writes to the rg_rules: every rule is a pure function of it and one applicant.
 *
 * The register index (for runs over many applicants) is built in one pass: every applicant's email,
 * folded name with date of birth, and name yields a 64-bit hash key; the (key, id) pairs are radix
 * sorted, and what the rules ask about is kept from the runs of equal keys: for each applicant with
 * an earlier duplicate, that duplicate's id, and for each name that several applicants share, how
 * many.  Lookups are then binary searches in two small arrays.  Two different keys with one hash
 * would make a false duplicate; among a million keys the chance is about 1 in 10^7, and a duplicate
 * only sends an applicant to review, naming the other id for a person to compare.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"
#include "fold.h"
#include "match.h"
#include "rules.h"
#include "settings.h"

static const char SQL_ORGS[] = "SELECT name, aliases FROM organisation ORDER BY id";
static const char SQL_WATCH[] =
    "SELECT id, given_name, family_name, date_of_birth, email, postcode, organisation, role"
    " FROM watchlist ORDER BY ino";
static const char SQL_WATCH_VERSION[] = "SELECT value FROM counter WHERE name = 'watchlist_version'";
static const char SQL_INDEX_SCAN[] =
    "SELECT id, given_name, family_name, date_of_birth, email FROM applicant ORDER BY id";
static const char SQL_NAME_COUNT[] =
    "SELECT count(*) FROM applicant WHERE family_name = ?1 COLLATE NOCASE AND given_name = ?2 COLLATE NOCASE";
static const char SQL_DUP_EMAIL[] =
    "SELECT min(id) FROM applicant WHERE email = ?1 COLLATE NOCASE AND email <> '' AND id < ?2";
static const char SQL_DUP_DOB[] =
    "SELECT id, given_name, family_name FROM applicant"
    " WHERE date_of_birth = ?1 AND date_of_birth <> '' AND id < ?2 ORDER BY id";

#define FOLD_MAX 256
#define NAME_FOLD 128
#define FUZZY_MAX 64       /* longest folded answer compared letter by letter */

/* Answers to "which other party are you a member of?" that mean none, as rg_rules_fold_party()
 * leaves them ("N/A" -> "n a", "No party" -> "no", "-" -> ""). */
static const char *const no_party[] = {
    "", "none", "no", "n a", "na", "nil", "nothing", "not applicable", "null", "nope", "non",
    "never", "no one", "none thanks", "not a member", "not a member any", "no membership",
    "no other", "none other", "nobody", "not a member any other", "not member any other", "x",
};

/* Words dropped from organisation names and answers before comparing them. */
static const char *const party_stop_words[] = { "the", "party", "of" };

enum { KIND_MEMBER, KIND_REGISTERED, KIND_AFFILIATED, NKINDS };
static const char *const kind_names[NKINDS] = {
    "member", "registered_supporter", "affiliated_supporter",
};
static const char *const kind_words[NKINDS] = {
    "a member", "a registered supporter", "an affiliated supporter",
};

/* One way of writing a party: an organisation's name or alias, or one of own_parties. */
struct partykey {
    char *key;         /* folded, stop words dropped: "green england and wales" */
    char *full;        /* folded, stop words kept: "green party of england and wales" */
    size_t len, flen;
    long org;          /* index into orgs, or OWN */
};
#define OWN (-1L)
#define NONE (-2L)

struct winfo {
    char *id, *name, *organisation, *role;
};

struct keyid {
    uint64_t key;
    int64_t id;
};

struct dupof {
    int64_t id, of;
    int by_email;
};

struct namecount {
    uint64_t key;
    int64_t count;
};

struct rg_rules {
    /* settings, as loaded */
    int auto_exclude;
    rg_match_params match;
    long name_only_max;              /* -1: any */
    long min_age[NKINDS];
    unsigned ballot_kinds;           /* bit per kind */
    char freeze[11];                 /* "" when unset */
    long min_days;                   /* -1 when unset */
    char today[11];
    long rules_version, watchlist_version;

    char **orgs;                     /* display names */
    size_t norgs;
    struct partykey *keys;           /* organisations' names and aliases, sorted by key */
    size_t nkeys, keycap;
    struct partykey *own;            /* own_parties */
    size_t nown, owncap;

    rg_matcher *matcher;
    struct winfo *watch;             /* sorted by id */
    size_t nwatch;

    int indexed;                     /* rg_rules_index_register() ran: no SQL lookups */
    struct dupof *dups;              /* applicants with an earlier duplicate, sorted by id */
    size_t ndups;
    struct namecount *names;         /* names shared by two or more applicants, sorted by key */
    size_t nnames;
};

/* ---- small helpers ---- */

static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

static const char *col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static int kind_index(const char *kind)
{
    for (int i = 0; i < NKINDS; i++)
        if (kind && strcmp(kind, kind_names[i]) == 0)
            return i;
    return -1;
}

/* Days since 1970-01-01 of a valid "YYYY-MM-DD" (Howard Hinnant's days_from_civil). */
static long days_from_civil(const char *s)
{
    long y = strtol(s, NULL, 10), m = strtol(s + 5, NULL, 10), d = strtol(s + 8, NULL, 10);
    long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Whole years from birth to the day on (both valid dates); negative when born after on. */
static long age_on(const char *birth, const char *on)
{
    long years = strtol(on, NULL, 10) - strtol(birth, NULL, 10);

    if (strncmp(on + 5, birth + 5, 5) < 0)   /* "MM-DD" compares as text */
        years--;
    return years;
}

static bool is_date(const char *s)
{
    return s && strlen(s) == 10 && rg_date_valid(s);
}

static uint64_t hash64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Like hash64() over s with ASCII upper case read as lower case (SQLite's NOCASE). */
static uint64_t hash64_nocase(uint64_t h, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32 : c)) * 0x100000001b3ull;
    }
    return h;
}

static uint64_t finish_hash(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h ? h : 1;
}

/* ---- folding party names ---- */

static bool is_stop_word(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof party_stop_words / sizeof party_stop_words[0]; i++)
        if (strlen(party_stop_words[i]) == n && memcmp(party_stop_words[i], w, n) == 0)
            return true;
    return false;
}

/* Folds s twice: into out without the stop words, and (when full is not NULL) into full with
 * them.  Returns the length of out. */
static size_t fold_party2(const char *s, char *out, size_t outsz, char *full, size_t fullsz)
{
    char tmp[FOLD_MAX];
    size_t n = 0;

    out[0] = '\0';
    if (rg_fold_text(s, tmp, sizeof tmp) == -EINVAL)
        tmp[0] = '\0';
    if (full)
        snprintf(full, fullsz, "%s", tmp);
    for (char *p = tmp; *p;) {
        char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!is_stop_word(p, len) && n + len + 2 <= outsz) {
            if (n > 0)
                out[n++] = ' ';
            memcpy(out + n, p, len);
            n += len;
            out[n] = '\0';
        }
        p += len;
        while (*p == ' ')
            p++;
    }
    return n;
}

size_t rg_rules_fold_party(const char *s, char *out, size_t outsz)
{
    return outsz ? fold_party2(s, out, outsz, NULL, 0) : 0;
}

/* Whether the token sequence key[klen] occurs in text[tlen] at token boundaries. */
static bool has_tokens(const char *text, size_t tlen, const char *key, size_t klen)
{
    if (klen == 0 || klen > tlen)
        return false;
    for (size_t i = 0; i + klen <= tlen; i++)
        if ((i == 0 || text[i - 1] == ' ') && (i + klen == tlen || text[i + klen] == ' ') &&
            memcmp(text + i, key, klen) == 0)
            return true;
    return false;
}

/*
 * The optimal string alignment distance (insertions, deletions, substitutions and swaps of two
 * neighbours, each 1) between a[n] and b[m], or max + 1 once it must exceed max.
 */
static int osa_distance(const char *a, size_t n, const char *b, size_t m, int max)
{
    int d[FUZZY_MAX + 1][FUZZY_MAX + 1];

    if (n > FUZZY_MAX || m > FUZZY_MAX || (n > m ? n - m : m - n) > (size_t)max)
        return max + 1;
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int rowmin = max + 1;
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
            if (v < rowmin)
                rowmin = v;
        }
        if (rowmin > max)
            return max + 1;
    }
    return d[n][m];
}

/* How many slips a name of len letters may take and still be recognised: none for three letters
 * or fewer ("Lab" is one letter from "LAW"), one up to seven, two from eight. */
static int slips_allowed(size_t len)
{
    return len <= 3 ? 0 : len <= 7 ? 1 : 2;
}

static int partykey_cmp(const void *a, const void *b)
{
    const struct partykey *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/* The closest targets so far of a fuzzy comparison. */
struct closest {
    int dist;
    long target[4];   /* org index, OWN or NONE; distinct */
    int n;
};

static void consider_target(struct closest *c, long target, int dist)
{
    if (dist < c->dist) {
        c->dist = dist;
        c->n = 0;
    }
    if (dist != c->dist)
        return;
    for (int i = 0; i < c->n; i++)
        if (c->target[i] == target)
            return;
    if (c->n < 4)
        c->target[c->n++] = target;
}

static void consider_key(struct closest *c, const struct partykey *k, const char *f, size_t n,
                         const char *full, size_t fn)
{
    int a1 = slips_allowed(k->len), a2 = slips_allowed(k->flen), d;

    if (a1 == 0)
        return;   /* "SWP", "LAW": too short to guess at */
    if ((d = osa_distance(f, n, k->key, k->len, a1)) <= a1)
        consider_target(c, k->org, d);
    if ((d = osa_distance(full, fn, k->full, k->flen, a2)) <= a2)
        consider_target(c, k->org, d);
}

enum rg_declared rg_rules_declared(const rg_rules *r, const char *answer, char *org, size_t orgsz)
{
    char f[FOLD_MAX], full[FOLD_MAX];
    size_t n = fold_party2(answer, f, sizeof f, full, sizeof full), fn = strlen(full), best = 0;
    const struct partykey *hit = NULL;
    struct closest c = { .dist = 1 << 20 };

    if (org && orgsz)
        org[0] = '\0';
    for (size_t i = 0; i < sizeof no_party / sizeof no_party[0]; i++)
        if (strcmp(f, no_party[i]) == 0)
            return RG_DECLARED_NONE;
    for (size_t i = 0; i < r->nown; i++)
        if (strcmp(f, r->own[i].key) == 0)
            return RG_DECLARED_OWN;
    struct partykey probe = { .key = f };
    if (r->nkeys && (hit = bsearch(&probe, r->keys, r->nkeys, sizeof *r->keys, partykey_cmp)) != NULL) {
        if (org && orgsz)
            rg_snprintf_utf8(org, orgsz, "%s", r->orgs[hit->org]);
        return RG_DECLARED_MATCH;
    }

    /* A slip of the keyboard: the closest name, if it is unmistakable. */
    for (size_t i = 0; i < sizeof no_party / sizeof no_party[0]; i++) {
        size_t len = strlen(no_party[i]);
        int allowed = slips_allowed(len);
        if (allowed > 0) {
            int d = osa_distance(f, n, no_party[i], len, allowed);
            if (d <= allowed)
                consider_target(&c, NONE, d);
        }
    }
    for (size_t i = 0; i < r->nown; i++)
        consider_key(&c, &r->own[i], f, n, full, fn);
    for (size_t i = 0; i < r->nkeys; i++)
        consider_key(&c, &r->keys[i], f, n, full, fn);
    if (c.n == 1 && c.target[0] == NONE)
        return RG_DECLARED_NONE;
    if (c.n == 1 && c.target[0] == OWN)
        return RG_DECLARED_OWN;
    if (c.n == 1) {
        if (org && orgsz)
            rg_snprintf_utf8(org, orgsz, "%s", r->orgs[c.target[0]]);
        return RG_DECLARED_MISSPELT;
    }
    if (c.n > 1) {
        size_t len = 0;
        for (int i = 0; i < c.n && org && orgsz; i++) {
            const char *name = c.target[i] == OWN ? "this party" : c.target[i] == NONE ? "none"
                             : r->orgs[c.target[i]];
            int k = rg_snprintf_utf8(org + len, orgsz - len, "%s%s",
                                     i == 0 ? "" : i + 1 < c.n ? ", " : " or ", name);
            if (k < 0 || (size_t)k >= orgsz - len)
                break;
            len += (size_t)k;
        }
        return RG_DECLARED_AMBIGUOUS;
    }

    /* Among other words: the longest organisation key that occurs names it. */
    hit = NULL;
    for (size_t i = 0; i < r->nkeys; i++)
        if (r->keys[i].len > best && r->keys[i].len >= 3 && has_tokens(f, n, r->keys[i].key, r->keys[i].len)) {
            best = r->keys[i].len;
            hit = &r->keys[i];
        }
    if (hit) {
        if (org && orgsz)
            rg_snprintf_utf8(org, orgsz, "%s", r->orgs[hit->org]);
        return RG_DECLARED_MENTION;
    }
    for (size_t i = 0; i < r->nown; i++)
        if (has_tokens(f, n, r->own[i].key, r->own[i].len))
            return RG_DECLARED_OWN;
    return RG_DECLARED_UNKNOWN;
}

/* ---- loading ---- */

static void free_keys(struct partykey *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(k[i].key);
        free(k[i].full);
    }
    free(k);
}

void rg_rules_free(rg_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->norgs; i++)
        free(r->orgs[i]);
    free(r->orgs);
    free_keys(r->keys, r->nkeys);
    free_keys(r->own, r->nown);
    for (size_t i = 0; i < r->nwatch; i++) {
        free(r->watch[i].id);
        free(r->watch[i].name);
        free(r->watch[i].organisation);
        free(r->watch[i].role);
    }
    free(r->watch);
    rg_matcher_free(r->matcher);
    free(r->dups);
    free(r->names);
    free(r);
}

/* Appends a party key for text to *keys; empty folds (punctuation only) are skipped. */
static int add_key(struct partykey **keys, size_t *n, size_t *cap, const char *text, long org)
{
    char f[FOLD_MAX], full[FOLD_MAX];
    size_t len = fold_party2(text, f, sizeof f, full, sizeof full);
    struct partykey *k;

    if (len == 0)
        return 0;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct partykey *nk = realloc(*keys, ncap * sizeof *nk);
        if (!nk)
            return -ENOMEM;
        *keys = nk;
        *cap = ncap;
    }
    k = &(*keys)[*n];
    k->key = strdup(f);
    k->full = strdup(full);
    k->len = len;
    k->flen = strlen(full);
    k->org = org;
    (*n)++;
    return k->key && k->full ? 0 : -ENOMEM;
}

static int load_orgs(rg_rules *r, rg_db *db)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_ORGS);
    size_t orgcap = 0;
    int rc = 0, step;

    if (!st)
        return -EIO;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = col(st, 0);
        char *aliases, *save = NULL;
        long org = (long)r->norgs;
        if (r->norgs == orgcap) {
            size_t ncap = orgcap ? orgcap * 2 : 64;
            char **o = realloc(r->orgs, ncap * sizeof *o);
            if (!o) {
                rc = -ENOMEM;
                break;
            }
            r->orgs = o;
            orgcap = ncap;
        }
        if (!(r->orgs[r->norgs] = strdup(name)) || !(aliases = strdup(col(st, 1)))) {
            rc = -ENOMEM;
            break;
        }
        r->norgs++;
        rc = add_key(&r->keys, &r->nkeys, &r->keycap, name, org);
        for (char *a = strtok_r(aliases, "|", &save); rc == 0 && a; a = strtok_r(NULL, "|", &save))
            rc = add_key(&r->keys, &r->nkeys, &r->keycap, a, org);
        free(aliases);
        if (rc < 0)
            break;
    }
    sqlite3_reset(st);
    if (rc < 0)
        return rg_fail(db, rc, "out of memory loading the organisations");
    if (step != SQLITE_DONE)
        return rg_sqlfail(db, step);
    if (r->nkeys)
        qsort(r->keys, r->nkeys, sizeof *r->keys, partykey_cmp);
    return 0;
}

static int load_own(rg_rules *r, rg_db *db)
{
    char v[RG_SETTING_MAX], *save = NULL;
    int rc;

    if ((rc = rg_setting_get(db, "own_parties", v, sizeof v)) < 0)
        return rc;
    for (char *p = strtok_r(v, "|", &save); p; p = strtok_r(NULL, "|", &save))
        if (add_key(&r->own, &r->nown, &r->owncap, p, OWN) < 0)
            return rg_fail(db, -ENOMEM, "out of memory");
    return 0;
}

/* An outward code alone ("BS6", "sw1a"): folded into out[8], else out is "". */
static void district_only(const char *s, char out[8])
{
    char f[16];
    size_t n = rg_postcode_fold(s, f), i = 1;

    out[0] = '\0';
    if (n < 2 || n > 4 || !isalpha((unsigned char)f[0]))
        return;
    if (i < n && isalpha((unsigned char)f[i]))
        i++;
    if (i >= n || !isdigit((unsigned char)f[i]))
        return;
    i++;
    if (i < n && isalnum((unsigned char)f[i]))
        i++;
    if (i == n)
        memcpy(out, f, n + 1);
}

static int winfo_cmp(const void *a, const void *b)
{
    const struct winfo *x = a, *y = b;
    return strcmp(x->id, y->id);
}

static int load_watch(rg_rules *r, rg_db *db)
{
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc = 0, step;

    if (!(r->matcher = rg_matcher_new()))
        return rg_fail(db, -ENOMEM, "out of memory building the watch-list matcher");
    if (!(st = rg_stmt(db, SQL_WATCH_VERSION)))
        return -EIO;
    if ((step = sqlite3_step(st)) == SQLITE_ROW)
        r->watchlist_version = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return rg_sqlfail(db, step);

    if (!(st = rg_stmt(db, SQL_WATCH)))
        return -EIO;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rg_person p = {
            .id = col(st, 0), .given_name = col(st, 1), .family_name = col(st, 2),
            .date_of_birth = col(st, 3), .email = col(st, 4), .postcode = col(st, 5),
        };
        struct winfo *w;
        char name[256], district[8], area[16];
        /*
         * Where the list gives only a postcode district ("BS6"), the matcher (match.c) sees no
         * postcode at all, so a namesake in that district and one across the country look alike.
         * Until it reads a bare district itself, it is handed one full postcode in that district
         * that no real address has (inward codes never use the letters C and I): the same district
         * then corroborates a little and another district counts against, as match.h says.
         */
        district_only(p.postcode, district);
        if (*district) {
            snprintf(area, sizeof area, "%s 0CI", district);
            p.postcode = area;
        }
        if (r->nwatch == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            struct winfo *nw = realloc(r->watch, ncap * sizeof *nw);
            if (!nw) {
                rc = -ENOMEM;
                break;
            }
            r->watch = nw;
            cap = ncap;
        }
        w = &r->watch[r->nwatch];
        rg_snprintf_utf8(name, sizeof name, "%s %s", p.given_name, p.family_name);
        w->id = xstrdup(p.id);
        w->name = xstrdup(name);
        w->organisation = xstrdup(col(st, 6));
        w->role = xstrdup(col(st, 7));
        r->nwatch++;
        if (!w->id || !w->name || !w->organisation || !w->role || rg_matcher_add(r->matcher, &p) < 0) {
            rc = -ENOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc < 0)
        return rg_fail(db, rc, "out of memory loading the watch list");
    if (step != SQLITE_DONE)
        return rg_sqlfail(db, step);
    /* (an empty list needs no index: the watch-list rule is silent without entries) */
    if (r->nwatch > 0 && rg_matcher_build(r->matcher) < 0)
        return rg_fail(db, -ENOMEM, "out of memory indexing the watch list");
    if (r->nwatch)
        qsort(r->watch, r->nwatch, sizeof *r->watch, winfo_cmp);
    return 0;
}

static unsigned parse_kinds(const char *v)
{
    char copy[RG_SETTING_MAX], *save = NULL;
    unsigned bits = 0;

    snprintf(copy, sizeof copy, "%s", v);
    for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int i = kind_index(k);
        if (i >= 0)
            bits |= 1u << i;
    }
    return bits;
}

static int load_settings(rg_rules *r, rg_db *db)
{
    static const char *const age_keys[NKINDS] = {
        "min_age_member", "min_age_registered_supporter", "min_age_affiliated_supporter",
    };
    char v[RG_SETTING_MAX];
    int rc;

    r->auto_exclude = rg_setting_bool(db, "auto_exclude");
    rg_match_params_default(&r->match);
    r->match.name_threshold = rg_setting_double(db, "match_name_threshold");
    for (int i = 0; i < NKINDS; i++)
        r->min_age[i] = rg_setting_long(db, age_keys[i]);
    if ((rc = rg_setting_get(db, "ballot_kinds", v, sizeof v)) < 0)
        return rc;
    r->ballot_kinds = parse_kinds(v);
    if ((rc = rg_setting_get(db, "ballot_freeze_date", v, sizeof v)) < 0)
        return rc;
    if (is_date(v))
        memcpy(r->freeze, v, sizeof r->freeze);   /* "YYYY-MM-DD" and its NUL */
    else
        r->freeze[0] = '\0';
    r->min_days = rg_setting_long(db, "ballot_min_days");
    if ((rc = rg_setting_get(db, "name_only_review_max", v, sizeof v)) < 0)
        return rc;
    r->name_only_max = strcmp(v, "any") == 0 ? -1 : strtol(v, NULL, 10);
    rg_today(r->today);
    r->rules_version = rg_rules_version(db);
    return 0;
}

int rg_rules_load(rg_db *db, rg_rules **out)
{
    rg_rules *r = calloc(1, sizeof *r);
    int rc;

    *out = NULL;
    if (!r)
        return rg_fail(db, -ENOMEM, "out of memory loading the rules");
    if ((rc = rg_db_read_begin(db)) < 0)
        goto out_free;
    if ((rc = load_settings(r, db)) < 0 || (rc = load_own(r, db)) < 0 || (rc = load_orgs(r, db)) < 0 ||
        (rc = load_watch(r, db)) < 0) {
        rg_db_read_end(db);
        goto out_free;
    }
    rg_db_read_end(db);
    *out = r;
    return 0;
out_free:
    rg_rules_free(r);
    return rc;
}

long rg_rules_rules_version(const rg_rules *r)
{
    return r->rules_version;
}

long rg_rules_watchlist_version(const rg_rules *r)
{
    return r->watchlist_version;
}

size_t rg_rules_watchlist_size(const rg_rules *r)
{
    return r->nwatch;
}

/* ---- the register index ---- */

/* The keys one applicant is known by; 0 where it has none. */
static uint64_t email_key(const char *email)
{
    return *email ? finish_hash(hash64_nocase(0xcbf29ce484222325ull ^ 'E', email)) : 0;
}

static uint64_t name_key(const char *given, const char *family)
{
    uint64_t h = hash64_nocase(0xcbf29ce484222325ull ^ 'M', given);

    h = hash64(h, "\x1f", 1);
    return finish_hash(hash64_nocase(h, family));
}

/* Folded given and family name: equal for two ways of writing one name. */
static void fold_person(const char *given, const char *family, char g[NAME_FOLD], char f[NAME_FOLD])
{
    rg_fold_name(given, g, NAME_FOLD);
    rg_fold_name(family, f, NAME_FOLD);
}

static uint64_t name_dob_key(const char *given, const char *family, const char *dob)
{
    char g[NAME_FOLD], f[NAME_FOLD];
    uint64_t h = 0xcbf29ce484222325ull ^ 'N';

    if (!is_date(dob))
        return 0;
    fold_person(given, family, g, f);
    if (!*g || !*f)
        return 0;
    h = hash64(h, g, strlen(g) + 1);
    h = hash64(h, f, strlen(f) + 1);
    return finish_hash(hash64(h, dob, 10));
}

/* Sorts a[n] by key, keeping the order of equal keys (LSD radix, 16 bits a pass); tmp holds n. */
static void radix_sort(struct keyid *a, struct keyid *tmp, size_t n, size_t *count)
{
    for (int shift = 0; shift < 64; shift += 16) {
        size_t sum = 0;
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(a[i].key >> shift) & 0xffff]++;
        for (size_t b = 0; b < 65536; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i].key >> shift) & 0xffff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

static int dupof_cmp(const void *a, const void *b)
{
    const struct dupof *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->of != y->of)
        return x->of < y->of ? -1 : 1;
    return y->by_email - x->by_email;
}

/* From sorted (key, id) pairs of email and name-with-birth keys: who duplicates whom. */
static int collect_dups(rg_rules *r, const struct keyid *a, size_t n)
{
    size_t cap = 0;

    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].key == a[i].key)
            j++;
        for (size_t k = i + 1; k < j; k++) {
            if (a[k].id >> 1 == a[i].id >> 1)
                continue;
            if (r->ndups == cap) {
                size_t ncap = cap ? cap * 2 : 256;
                struct dupof *d = realloc(r->dups, ncap * sizeof *d);
                if (!d)
                    return -ENOMEM;
                r->dups = d;
                cap = ncap;
            }
            r->dups[r->ndups++] = (struct dupof){ a[k].id >> 1, a[i].id >> 1, (int)(a[i].id & 1) };
        }
        i = j;
    }
    if (r->ndups)
        qsort(r->dups, r->ndups, sizeof *r->dups, dupof_cmp);
    /* keep each applicant's earliest duplicate (by email when both name the same one) */
    size_t u = 0;
    for (size_t i = 0; i < r->ndups; i++)
        if (u == 0 || r->dups[u - 1].id != r->dups[i].id)
            r->dups[u++] = r->dups[i];
    r->ndups = u;
    return 0;
}

static int collect_names(rg_rules *r, const struct keyid *a, size_t n)
{
    size_t cap = 0;

    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].key == a[i].key)
            j++;
        if (j - i > 1) {
            if (r->nnames == cap) {
                size_t ncap = cap ? cap * 2 : 4096;
                struct namecount *nc = realloc(r->names, ncap * sizeof *nc);
                if (!nc)
                    return -ENOMEM;
                r->names = nc;
                cap = ncap;
            }
            r->names[r->nnames++] = (struct namecount){ a[i].key, (int64_t)(j - i) };
        }
        i = j;
    }
    return 0;
}

static const char SQL_COUNT_APPLICANTS[] = "SELECT count(*) FROM applicant";

int rg_rules_index_register(rg_rules *r, rg_db *db)
{
    struct keyid *dup = NULL, *names = NULL, *tmp = NULL;
    size_t ndup = 0, nnames = 0, cap, *count = NULL;
    sqlite3_stmt *st;
    int64_t total = 0;
    int step, rc;

    if ((rc = rg_db_read_begin(db)) < 0)
        return rc;
    if (!(st = rg_stmt(db, SQL_COUNT_APPLICANTS))) {
        rc = -EIO;
        goto out_end;
    }
    if ((step = sqlite3_step(st)) == SQLITE_ROW)
        total = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    cap = (size_t)total + 1;
    dup = malloc(2 * cap * sizeof *dup);
    names = malloc(cap * sizeof *names);
    tmp = malloc(2 * cap * sizeof *tmp);
    count = malloc(65536 * sizeof *count);
    if (!dup || !names || !tmp || !count) {
        rc = rg_fail(db, -ENOMEM, "out of memory indexing %" PRId64 " applicants", total);
        goto out_end;
    }
    if (!(st = rg_stmt(db, SQL_INDEX_SCAN))) {
        rc = -EIO;
        goto out_end;
    }
    /* Ids are stored doubled, with the low bit saying "by email", so that the sort keeps them in
     * id order within a key and collect_dups() knows how the two were found alike. */
    while ((step = sqlite3_step(st)) == SQLITE_ROW && nnames < cap) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *given = col(st, 1), *family = col(st, 2);
        uint64_t k;
        if ((k = email_key(col(st, 4))) != 0)
            dup[ndup++] = (struct keyid){ k, id * 2 + 1 };
        if ((k = name_dob_key(given, family, col(st, 3))) != 0)
            dup[ndup++] = (struct keyid){ k, id * 2 };
        names[nnames++] = (struct keyid){ name_key(given, family), id };
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        rc = rg_sqlfail(db, step);
        goto out_end;
    }
    radix_sort(dup, tmp, ndup, count);
    radix_sort(names, tmp, nnames, count);
    free(r->dups);
    free(r->names);
    r->dups = NULL, r->ndups = 0;
    r->names = NULL, r->nnames = 0;
    if (collect_dups(r, dup, ndup) < 0 || collect_names(r, names, nnames) < 0) {
        rc = rg_fail(db, -ENOMEM, "out of memory indexing %" PRId64 " applicants", total);
        goto out_end;
    }
    r->indexed = 1;
    rc = 0;
out_end:
    free(dup);
    free(names);
    free(tmp);
    free(count);
    rg_db_read_end(db);
    return rc;
}

static int lookup_sql(rg_db *db, rg_applicant_in *a)
{
    char g[NAME_FOLD], f[NAME_FOLD], og[NAME_FOLD], of[NAME_FOLD];
    sqlite3_stmt *st;
    int step;

    if (!(st = rg_stmt(db, SQL_NAME_COUNT)))
        return -EIO;
    sqlite3_bind_text(st, 1, a->family_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->given_name, -1, SQLITE_STATIC);
    if ((step = sqlite3_step(st)) == SQLITE_ROW)
        a->name_count = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (step != SQLITE_ROW)
        return rg_sqlfail(db, step);

    if (*a->email) {
        if (!(st = rg_stmt(db, SQL_DUP_EMAIL)))
            return -EIO;
        sqlite3_bind_text(st, 1, a->email, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a->id);
        if ((step = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            a->duplicate_of = sqlite3_column_int64(st, 0);
            a->duplicate_how = "email";
        }
        sqlite3_reset(st);
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            return rg_sqlfail(db, step);
    }
    if (!is_date(a->date_of_birth))
        return 0;
    fold_person(a->given_name, a->family_name, g, f);
    if (!*g || !*f)
        return 0;
    if (!(st = rg_stmt(db, SQL_DUP_DOB)))
        return -EIO;
    sqlite3_bind_text(st, 1, a->date_of_birth, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a->duplicate_of ? a->duplicate_of : a->id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fold_person(col(st, 1), col(st, 2), og, of);
        if (strcmp(g, og) == 0 && strcmp(f, of) == 0) {
            a->duplicate_of = sqlite3_column_int64(st, 0);
            a->duplicate_how = "name and date of birth";
            break;
        }
    }
    sqlite3_reset(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : rg_sqlfail(db, step);
}

int rg_rules_lookup_register(const rg_rules *r, rg_db *db, rg_applicant_in *a)
{
    a->duplicate_of = 0;
    a->duplicate_how = NULL;
    a->name_count = 1;
    if (!r->indexed)
        return db ? lookup_sql(db, a) : -EINVAL;

    size_t lo = 0, hi = r->ndups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->dups[mid].id < a->id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < r->ndups && r->dups[lo].id == a->id) {
        a->duplicate_of = r->dups[lo].of;
        a->duplicate_how = r->dups[lo].by_email ? "email" : "name and date of birth";
    }

    uint64_t k = name_key(a->given_name, a->family_name);
    lo = 0, hi = r->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->names[mid].key < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < r->nnames && r->names[lo].key == k)
        a->name_count = r->names[lo].count;
    return 0;
}

/* ---- writing reasons ---- */

/* A JSON string, escaped as all the JSON regfs writes by hand (util.h).  The text is UTF-8: the
 * register's fields were checked when they came in, and every cut above keeps characters whole.
 * Were it ever not, the applicant's evaluation fails (EILSEQ) rather than store reasons that no
 * JSON reader could parse. */
static void json_str(rg_rule_result *out, const char *s)
{
    if (rg_buf_add_json_str(&out->reasons, s, strlen(s)) < 0)
        out->bad_text = 1;
}

static double round3(double x)
{
    return round(x * 1000.0) / 1000.0;
}

/* A score as JSON: at most 3 decimals, no trailing zeros ("0.97", "1", "0").  Written by hand: it
 * is on every applicant's reasons, and printf's floating point is slow. */
static void json_num(rg_buf *b, double x)
{
    char s[32], *p = s;
    long long v = llround(x * 1000.0);
    int frac;

    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    p += snprintf(p, sizeof s - 2, "%lld", v / 1000);
    if ((frac = (int)(v % 1000)) != 0) {
        *p++ = '.';
        *p++ = (char)('0' + frac / 100);
        if (frac % 100) {
            *p++ = (char)('0' + frac / 10 % 10);
            if (frac % 10)
                *p++ = (char)('0' + frac % 10);
        }
    }
    if (s[0] == '-' && s[1] == '0' && p == s + 2)   /* "-0" */
        s[0] = '0', p = s + 1;
    rg_buf_add(b, s, (size_t)(p - s));
}

static void kv_str(rg_rule_result *out, const char *key, const char *value)
{
    rg_buf_add(&out->reasons, ",", 1);
    json_str(out, key);
    rg_buf_add(&out->reasons, ":", 1);
    json_str(out, value);
}

static void kv_num(rg_rule_result *out, const char *key, double value)
{
    rg_buf_add(&out->reasons, ",", 1);
    json_str(out, key);
    rg_buf_add(&out->reasons, ":", 1);
    json_num(&out->reasons, value);
}

static int strength(enum rg_verdict v)
{
    switch (v) {
    case RG_EXCLUDED: return 3;
    case RG_REVIEW: return 2;
    case RG_APPROVED: return 1;
    default: return 0;
    }
}

/*
 * Opens one reason object in out->reasons and weighs it against the verdict so far.  The rule then
 * adds its own keys with kv_str()/kv_num() and closes the object with close_reason().
 */
static void speak(rg_rule_result *out, const char *rule, enum rg_verdict outcome, double score,
                  const char *evidence, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void speak(rg_rule_result *out, const char *rule, enum rg_verdict outcome, double score,
                  const char *evidence, const char *fmt, ...)
{
    va_list ap;

    score = round3(score);
    /* the strongest outcome wins; of equals, the first rule in the table */
    if (strength(outcome) > 1 && strength(outcome) > strength(out->recommended)) {
        out->recommended = outcome;
        out->rule = rule;
        out->score = score;
        rg_snprintf_utf8(out->evidence, sizeof out->evidence, "%s", evidence ? evidence : "");
    }
    rg_buf_reset(&out->scratch);
    va_start(ap, fmt);
    rg_buf_vaddf(&out->scratch, fmt, ap);
    va_end(ap);

    rg_buf_adds(&out->reasons, out->reasons.len > 1 ? ",{\"rule\":" : "{\"rule\":");
    json_str(out, rule);
    kv_str(out, "outcome", rg_verdict_name(outcome));
    kv_num(out, "score", score);
    kv_str(out, "reason", out->scratch.data ? out->scratch.data : "");
    if (evidence && *evidence)
        kv_str(out, "evidence", evidence);
}

static void close_reason(rg_rule_result *out)
{
    rg_buf_add(&out->reasons, "}", 1);
}

/* ---- the rules ---- */

static void rule_declared_party(const rg_rules *r, const rg_applicant_in *a, rg_rule_result *out)
{
    static const char rule[] = "declared-party";
    char org[256];
    const char *answer = a->declared_party ? a->declared_party : "";

    if (!*answer)
        return;
    switch (rg_rules_declared(r, answer, org, sizeof org)) {
    case RG_DECLARED_MATCH:
        speak(out, rule, RG_EXCLUDED, 1.0, org,
              "declared membership of another party: \"%s\" is %s", answer, org);
        break;
    case RG_DECLARED_MISSPELT:
        speak(out, rule, RG_EXCLUDED, 0.95, org,
              "declared membership of another party: \"%s\" is a misspelling of %s, and of no other name",
              answer, org);
        break;
    case RG_DECLARED_AMBIGUOUS:
        speak(out, rule, RG_REVIEW, 0.8, org,
              "declared \"%s\", which could be a misspelling of %s: a person must read it", answer, org);
        break;
    case RG_DECLARED_MENTION:
        speak(out, rule, RG_REVIEW, 0.8, org,
              "declared \"%s\", which names %s among other words: a person must read it", answer, org);
        break;
    case RG_DECLARED_UNKNOWN:
        speak(out, rule, RG_REVIEW, 0.6, answer,
              "declared a party that is not on the list of organisations: \"%s\"", answer);
        break;
    default:
        return;
    }
    kv_str(out, "declared", answer);
    close_reason(out);
}

static const char *evidence_word(enum rg_evidence e, const char *partial)
{
    switch (e) {
    case RG_EV_MATCH: return "matches";
    case RG_EV_PARTIAL: return partial;
    case RG_EV_CONTRADICTS: return "differs";
    default: return "unknown";
    }
}

static const struct winfo *find_watch(const rg_rules *r, const char *id)
{
    struct winfo probe = { .id = (char *)id };
    return r->nwatch ? bsearch(&probe, r->watch, r->nwatch, sizeof *r->watch, winfo_cmp) : NULL;
}

/* Nothing but the name: no date of birth, email or postcode that agrees, even in part. */
static bool uncorroborated(const rg_match *m)
{
    return m->dob != RG_EV_MATCH && m->email != RG_EV_MATCH && m->postcode != RG_EV_MATCH &&
           m->postcode != RG_EV_PARTIAL;
}

static void rule_watch_list(const rg_rules *r, const rg_applicant_in *a, rg_rule_result *out)
{
    static const char rule[] = "watch-list";
    char idtext[24], who[512], why[256];
    rg_person p;
    rg_match m;
    const struct winfo *w;
    enum rg_verdict outcome;
    const char *how;

    if (r->nwatch == 0)
        return;
    snprintf(idtext, sizeof idtext, "%" PRId64, a->id);
    p = (rg_person){
        .id = idtext, .given_name = a->given_name, .family_name = a->family_name,
        .date_of_birth = a->date_of_birth, .email = a->email, .postcode = a->postcode,
    };
    switch (rg_matcher_match(r->matcher, &p, &r->match, &m)) {
    case RG_MATCH_EXCLUDE: outcome = RG_EXCLUDED, how = "is watch-listed person"; break;
    case RG_MATCH_REVIEW: outcome = RG_REVIEW, how = "may be watch-listed person"; break;
    case RG_MATCH_CLEARED: outcome = RG_APPROVED, how = "cleared: a namesake of watch-listed person"; break;
    default: return;
    }
    rg_snprintf_utf8(why, sizeof why, "%s", m.reason);
    w = find_watch(r, m.watch_id);
    if (outcome == RG_REVIEW && uncorroborated(&m) && r->name_only_max >= 0) {
        bool exact = m.name_score >= 0.9995;
        if (!exact) {
            outcome = RG_APPROVED;
            how = "cleared: a near namesake of watch-listed person";
            rg_snprintf_utf8(why, sizeof why, "only a near name (%s) and nothing to confirm it",
                             m.name_how);
        } else if (a->name_count > r->name_only_max) {
            outcome = RG_APPROVED;
            how = "cleared: a namesake of watch-listed person";
            snprintf(why, sizeof why, "the name alone, which %" PRId64 " applicants on the register share,"
                     " and nothing singles this one out", a->name_count);
        } else {
            snprintf(why, sizeof why, "the name alone, exactly, and %s",
                     a->name_count <= 1 ? "nobody else on the register has it"
                                        : "few others on the register have it");
        }
    }
    if (w)
        rg_snprintf_utf8(who, sizeof who, "%s %s (%s%s%s)", m.watch_id, w->name, w->organisation,
                         *w->role ? ", " : "", w->role);
    else
        snprintf(who, sizeof who, "%s", m.watch_id);
    speak(out, rule, outcome, m.score, m.watch_id, "%s %s: %s", how, who, why);
    kv_num(out, "name_score", m.name_score);
    kv_str(out, "name_how", m.name_how);
    kv_str(out, "date_of_birth", evidence_word(m.dob, "matches"));
    kv_str(out, "email", evidence_word(m.email, "matches"));
    kv_str(out, "postcode", evidence_word(m.postcode, "district matches"));
    if (w) {
        kv_str(out, "organisation", w->organisation);
        kv_str(out, "role", w->role);
    }
    kv_str(out, "explain", m.explain);
    close_reason(out);
}

static void rule_aims_and_values(const rg_rules *r, const rg_applicant_in *a, rg_rule_result *out)
{
    static const char rule[] = "aims-and-values";
    const rg_evidence_item *e;
    char ids[64];
    size_t n = 0;

    (void)r;
    if (a->nevidence <= 0)
        return;
    ids[0] = '\0';
    for (int i = 0; i < a->nevidence && n < sizeof ids; i++)
        n += (size_t)snprintf(ids + n, sizeof ids - n, "%s%" PRId64, i ? "," : "", a->evidence[i].id);
    e = &a->evidence[a->nevidence - 1];
    speak(out, rule, RG_REVIEW, 0.9, ids,
          "%d item%s of evidence recorded against the applicant, latest %s #%" PRId64 " by %s at %s:"
          " \"%.*s\"; only a person may exclude on it",
          a->nevidence, a->nevidence == 1 ? "" : "s", e->kind, e->id, e->added_by, e->added_at,
          (int)rg_utf8_prefix(e->text, 200), e->text);
    kv_num(out, "items", a->nevidence);
    close_reason(out);
}

static void rule_duplicate(const rg_rules *r, const rg_applicant_in *a, rg_rule_result *out)
{
    static const char rule[] = "duplicate";
    char other[24];
    bool email;

    (void)r;
    if (a->duplicate_of <= 0)
        return;
    email = a->duplicate_how && strcmp(a->duplicate_how, "email") == 0;
    snprintf(other, sizeof other, "%" PRId64, a->duplicate_of);
    speak(out, rule, RG_REVIEW, email ? 0.7 : 0.65, other,
          "already on the register as applicant %s (same %s)", other,
          a->duplicate_how ? a->duplicate_how : "details");
    kv_str(out, "duplicate_of", other);
    close_reason(out);
}

static void rule_eligibility(const rg_rules *r, const rg_applicant_in *a, rg_rule_result *out)
{
    static const char rule[] = "eligibility";
    char why[3][200];
    int n = 0, k = kind_index(a->kind);

    if (!a->aims_values || strcmp(a->aims_values, "yes") != 0)
        rg_snprintf_utf8(why[n++], sizeof why[0], "did not confirm support for the party's aims and values"
                         " (aims_values: %s)", a->aims_values && *a->aims_values ? a->aims_values : "blank");
    if (k >= 0 && r->min_age[k] > 0 && is_date(a->date_of_birth)) {
        long age = age_on(a->date_of_birth, r->today);
        if (age < r->min_age[k])
            snprintf(why[n++], sizeof why[0], "aged %ld on %s (born %s); the minimum for %s is %ld",
                     age, r->today, a->date_of_birth, kind_words[k], r->min_age[k]);
    }
    if (a->postcode && *a->postcode && !rg_postcode_valid(a->postcode))
        rg_snprintf_utf8(why[n++], sizeof why[0], "postcode \"%.*s\" is not a valid UK postcode",
                         (int)rg_utf8_prefix(a->postcode, 60), a->postcode);
    if (n == 0)
        return;
    speak(out, rule, RG_REVIEW, 0.5, "", "%s%s%s%s%s", why[0], n > 1 ? "; " : "", n > 1 ? why[1] : "",
          n > 2 ? "; " : "", n > 2 ? why[2] : "");
    close_reason(out);
}

static const struct {
    const char *name;
    void (*run)(const rg_rules *r, const rg_applicant_in *a, rg_rule_result *out);
} rules[] = {
    { "declared-party", rule_declared_party },
    { "watch-list", rule_watch_list },
    { "aims-and-values", rule_aims_and_values },
    { "duplicate", rule_duplicate },
    { "eligibility", rule_eligibility },
};

void rg_rule_result_free(rg_rule_result *r)
{
    rg_buf_free(&r->reasons);
    rg_buf_free(&r->scratch);
}

/* The reason kept when no rule found anything against the applicant. */
static const char NOTHING_AGAINST[] =
    "{\"rule\":\"none\",\"outcome\":\"approved\",\"score\":0,\"reason\":\"nothing against the applicant\"}";

int rg_rules_eval(const rg_rules *r, const rg_applicant_in *a, rg_rule_result *out)
{
    out->verdict = out->recommended = RG_APPROVED;
    out->rule = "none";
    out->score = 0;
    out->evidence[0] = '\0';
    out->bad_text = 0;
    rg_buf_reset(&out->reasons);
    rg_buf_add(&out->reasons, "[", 1);
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        rules[i].run(r, a, out);
    if (out->recommended == RG_APPROVED) {
        if (out->reasons.len > 1)
            rg_buf_add(&out->reasons, ",", 1);
        rg_buf_add(&out->reasons, NOTHING_AGAINST, sizeof NOTHING_AGAINST - 1);
    }
    rg_buf_add(&out->reasons, "]", 1);
    out->verdict = out->recommended;
    if (out->recommended == RG_EXCLUDED && !r->auto_exclude)
        out->verdict = RG_REVIEW;
    if (out->recommended == RG_APPROVED)
        memcpy(out->summary, "approved", sizeof "approved");
    else
        rg_snprintf_utf8(out->summary, sizeof out->summary, "%s %s %s %.2f",
                         rg_verdict_name(out->recommended), out->rule,
                         *out->evidence ? out->evidence : "-", out->score);
    if (rg_buf_failed(&out->reasons) || rg_buf_failed(&out->scratch))
        return -ENOMEM;
    return out->bad_text ? -EILSEQ : 0;
}

int rg_rules_eval_failed(rg_db *db, int rc, int64_t id)
{
    if (rc == -EILSEQ)
        return rg_fail(db, rc, "applicant %" PRId64 ": the rules' reasons would not be UTF-8 (a bug in"
                       " regfs: nothing was written)", id);
    return rg_fail(db, rc, "applicant %" PRId64 ": out of memory evaluating the rules", id);
}

int rg_rules_ballot(const rg_rules *r, const rg_applicant_in *a, enum rg_verdict v)
{
    int k = kind_index(a->kind);
    const char *until = *r->freeze ? r->freeze : r->today;

    if (v != RG_APPROVED || k < 0 || !(r->ballot_kinds & (1u << k)) || !is_date(a->joined_day))
        return 0;
    if (*r->freeze && strcmp(a->joined_day, r->freeze) > 0)
        return 0;
    if (r->min_days > 0 && days_from_civil(until) - days_from_civil(a->joined_day) < r->min_days)
        return 0;
    return 1;
}
