/*
 * db.c: opening the register, its migrations, the statement cache, transactions and errors.
 *
 * Every connection runs with WAL journaling (readers never block the writer, nor it them),
 * synchronous=NORMAL (a commit survives a crash of the process; WAL mode keeps the database
 * consistent across a power cut too, at worst losing the last commits), foreign keys on and a busy
 * timeout, so that a second writer waits for the first instead of failing at once.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "db_internal.h"
#include "util.h"

#define RG_APPLICATION_ID 0x72676673   /* "rgfs": PRAGMA application_id marks a regfs file */
#define RG_BUSY_TIMEOUT_MS 30000   /* REGFS_BUSY_TIMEOUT (seconds) overrides it */

static const char SQL_BEGIN_IMMEDIATE[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN_READ[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_DATA_VERSION[] = "PRAGMA data_version";

/* How long a connection waits for another process's lock before it gives up. */
static int busy_timeout_ms(void)
{
    return (int)rg_env_long("REGFS_BUSY_TIMEOUT", 0, 3600, RG_BUSY_TIMEOUT_MS / 1000) * 1000;
}

int rg_fail(rg_db *db, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rg_vsnprintf_utf8(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

int rg_sqlfail(rg_db *db, int sqlite_rc)
{
    int rc;

    switch (sqlite_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return rg_fail(db, -EBUSY, "the register is locked by another process (gave up after %d s);"
                       " try again when it has finished", busy_timeout_ms() / 1000);
    case SQLITE_FULL: rc = -ENOSPC; break;
    case SQLITE_NOMEM: rc = -ENOMEM; break;
    case SQLITE_READONLY: rc = -EROFS; break;
    case SQLITE_PERM:
    case SQLITE_AUTH: rc = -EACCES; break;
    case SQLITE_CANTOPEN: rc = -ENOENT; break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG: rc = -EINVAL; break;
    case SQLITE_NOTADB: rc = -EINVAL; break;
    default: rc = -EIO; break;
    }
    /* SQLite says SQLITE_FULL for a full disk, or an I/O error when the -shm could not grow. */
    if ((sqlite_rc & 0xff) == SQLITE_FULL ||
        ((sqlite_rc & 0xff) == SQLITE_IOERR && db->sql && sqlite3_system_errno(db->sql) == ENOSPC))
        return rg_fail(db, -ENOSPC, "the disk holding the register is full; nothing was written"
                       " (free some space and try again)");
    if ((sqlite_rc & 0xff) == SQLITE_IOERR) {
        int sys = db->sql ? sqlite3_system_errno(db->sql) : 0;
        return rg_fail(db, -EIO, "%s (SQLite code %d%s%s)", sqlite3_errstr(sqlite_rc), sqlite_rc,
                       sys ? ": " : "", sys ? strerror(sys) : "");
    }
    return rg_fail(db, rc, "%s", db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(sqlite_rc));
}

sqlite3_stmt *rg_stmt(rg_db *db, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 3) % RG_STMT_SLOTS;
    int rc;

    for (size_t n = 0; n < RG_STMT_SLOTS; n++, h = (h + 1) % RG_STMT_SLOTS) {
        if (db->stmts[h].text == sql) {
            sqlite3_stmt *st = db->stmts[h].stmt;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
        if (db->stmts[h].text == NULL) {
            sqlite3_stmt *st;
            rc = sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
            if (rc != SQLITE_OK) {
                rg_sqlfail(db, rc);
                return NULL;
            }
            db->stmts[h].text = sql;
            db->stmts[h].stmt = st;
            return st;
        }
    }
    rg_fail(db, -ENOMEM, "statement cache full (raise RG_STMT_SLOTS)");
    return NULL;
}

int rg_exec_stmt(rg_db *db, sqlite3_stmt *st)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : rg_sqlfail(db, rc);
}

static int exec_sql(rg_db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->sql, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        int err = rg_sqlfail(db, rc);
        if (msg)
            rg_fail(db, err, "%s", msg);
        sqlite3_free(msg);
        return err;
    }
    return 0;
}

static int pragma_int(rg_db *db, const char *pragma, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db->sql, pragma, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return rg_sqlfail(db, rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : rg_sqlfail(db, rc);
}

int rg_db_schema_version(void)
{
    return rg_schema_nmigrations;
}

int rg_db_user_version(rg_db *db)
{
    int v = -1;

    return pragma_int(db, "PRAGMA user_version", &v) < 0 ? -1 : v;
}

/* Brings the schema up to date.  All missing migrations run in one transaction with the bump. */
static int migrate(rg_db *db, int from)
{
    char bump[64];
    int rc;

    if ((rc = exec_sql(db, "BEGIN IMMEDIATE")) < 0)
        return rc;
    /* Re-read under the write lock: another process may have migrated meanwhile. */
    if ((rc = pragma_int(db, "PRAGMA user_version", &from)) < 0)
        goto out_rollback;
    for (int v = from; v < rg_schema_nmigrations; v++) {
        if ((rc = exec_sql(db, rg_schema_migrations[v])) < 0) {
            char why[RG_ERRMSG_MAX];   /* errmsg cannot be both the output and an argument */
            memcpy(why, db->errmsg, sizeof why);
            rg_fail(db, rc, "schema migration %d -> %d failed: %s", v, v + 1, why);
            goto out_rollback;
        }
    }
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", rg_schema_nmigrations);
    if ((rc = exec_sql(db, bump)) < 0)
        goto out_rollback;
    snprintf(bump, sizeof bump, "PRAGMA application_id = %d", RG_APPLICATION_ID);
    if ((rc = exec_sql(db, bump)) < 0)
        goto out_rollback;
    return exec_sql(db, "COMMIT");
out_rollback:
    sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The file must be ours: a fresh empty file, or one stamped with our application_id. */
static int check_identity(rg_db *db, const char *path, int flags, int *version)
{
    int appid = 0, rc;

    if ((rc = pragma_int(db, "PRAGMA application_id", &appid)) < 0 ||
        (rc = pragma_int(db, "PRAGMA user_version", version)) < 0)
        return rc == -EINVAL ? rg_fail(db, -EINVAL, "%s: not a regfs database", path) : rc;
    if (*version == 0 && appid == 0) {
        int tables = 0;
        if ((rc = pragma_int(db, "SELECT count(*) FROM sqlite_schema", &tables)) < 0)
            return rc;
        if (tables > 0)
            return rg_fail(db, -EINVAL, "%s: not a regfs database (it has tables of its own)", path);
        if (!(flags & RG_OPEN_CREATE))
            return rg_fail(db, -EINVAL, "%s: not a regfs database (an empty file; `regfs init` makes one)",
                           path);
        return 0;
    }
    if (appid != RG_APPLICATION_ID)
        return rg_fail(db, -EINVAL, "%s: not a regfs database", path);
    if (*version > rg_schema_nmigrations)
        return rg_fail(db, -EPROTO, "%s: schema version %d is newer than this regfs (%d); upgrade regfs",
                       path, *version, rg_schema_nmigrations);
    return 0;
}

/*
 * The register holds personal data: refuse it, and its -wal and -shm files, when other users may
 * read or write them (SQLite gives the -wal and -shm the database file's mode).  Group access is a
 * deliberate grant by the file's owner and is left alone.  Checks suffix[from..to]: before SQLite
 * opens anything (and makes a -wal and -shm with the file's mode), the -wal and -shm, and the file
 * itself if its header says it is a register; any other file once it is known to be one (a CSV
 * given by mistake is better called "not a regfs database").
 */
static int check_private(rg_db *db, const char *path, int from, int to)
{
    static const char *const suffix[] = { "-wal", "-shm", "" };
    char name[4096];
    struct stat sb;

    for (int i = from; i <= to; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffix[i]);
        if (stat(name, &sb) < 0)
            continue;
        if (sb.st_mode & (S_IROTH | S_IWOTH | S_IXOTH))
            return rg_fail(db, -EPERM, "%s: other users may read it (mode %04o): the register holds"
                           " personal data; run `chmod o= %s*` (and check who has read it)", name,
                           (unsigned)(sb.st_mode & 07777), path);
    }
    return 0;
}

/*
 * Whether the file's SQLite header carries regfs's application_id (big-endian, at byte 68).  Read
 * through the connection's own file handle, which opening does not read or lock: opening and
 * closing another descriptor on the file would drop every POSIX lock this process's connections
 * hold on it (a daemon's readers), and let another process delete the -wal under them.
 */
static int stamped_ours(rg_db *db)
{
    unsigned char h[100];
    sqlite3_file *f = NULL;

    if (sqlite3_file_control(db->sql, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods || f->pMethods->xRead(f, h, sizeof h, 0) != SQLITE_OK ||
        memcmp(h, "SQLite format 3", 16) != 0)
        return 0;
    return ((uint32_t)h[68] << 24 | (uint32_t)h[69] << 16 | (uint32_t)h[70] << 8 | h[71]) ==
           RG_APPLICATION_ID;
}

static int on_readonly_fs(const char *path)
{
    struct statvfs vfs;

    return statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

/* Writing needs the file and its folder (where SQLite keeps the -wal and -shm files) writable. */
static int check_writable(rg_db *db, const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');

    if (on_readonly_fs(path))
        return rg_fail(db, -EROFS, "%s: the register is on a read-only filesystem", path);
    if (access(path, W_OK) < 0)
        return rg_fail(db, -EROFS, "%s: the register is read-only here (%s)", path, strerror(errno));
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    if (access(dir, W_OK | X_OK) < 0)
        return rg_fail(db, -EROFS, "%s: the register's folder %s is read-only here (%s)", path, dir,
                       strerror(errno));
    return 0;
}

/* "file:PATH?immutable=1", PATH percent-encoded where a URI needs it; a new string or NULL. */
static char *immutable_uri(const char *path)
{
    static const char tail[] = "?immutable=1";
    size_t n = strlen(path);
    char *uri = malloc(5 + 3 * n + sizeof tail), *p = uri;

    if (!uri)
        return NULL;
    p += sprintf(p, "file:");
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if (*c == '?' || *c == '#' || *c == '%' || *c < 0x20 || *c >= 0x7f)
            p += sprintf(p, "%%%02X", *c);
        else
            *p++ = (char)*c;
    }
    memcpy(p, tail, sizeof tail);
    return uri;
}

int rg_db_small_cache(rg_db *db)
{
    return exec_sql(db, "PRAGMA cache_size = -8192");
}

/* Before SQLite's first use: no memory statistics, which take a global mutex around every
 * allocation (some 5% of a vet's time, measured with perf). */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int rg_db_open(const char *path, int flags, rg_db **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    int version = 0, rc, oflags, ours;
    rg_db *db;
    struct stat sb;

    pthread_once(&once, sqlite_setup);

    *out = db = calloc(1, sizeof *db);
    if (!db)
        return -ENOMEM;
    db->readonly = !!(flags & RG_OPEN_READONLY);

    if (stat(path, &sb) < 0) {
        if (errno != ENOENT || !(flags & RG_OPEN_CREATE) || db->readonly)
            return rg_fail(db, -errno, "%s: %s", path, strerror(errno));
        /* Personal data: the file is created private to its owner, whatever the umask says. */
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return rg_fail(db, -errno, "%s: %s", path, strerror(errno));
        close(fd);
    } else if (!S_ISREG(sb.st_mode)) {
        return rg_fail(db, -EINVAL, "%s: not a regular file", path);
    }
    if (!db->readonly && (rc = check_writable(db, path)) < 0)
        return rc;

    oflags = (db->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
    if (db->readonly && on_readonly_fs(path)) {
        /* Nothing can change a file on a read-only filesystem, and SQLite could not make the -shm
         * file a WAL database needs: read it as immutable (no locks, no -shm). */
        char *uri = immutable_uri(path);
        if (!uri)
            return rg_fail(db, -ENOMEM, "out of memory");
        rc = sqlite3_open_v2(uri, &db->sql, oflags | SQLITE_OPEN_URI, NULL);
        free(uri);
    } else {
        rc = sqlite3_open_v2(path, &db->sql, oflags, NULL);
    }
    if (rc != SQLITE_OK) {
        char why[RG_ERRMSG_MAX];
        rc = rg_sqlfail(db, rc);
        memcpy(why, db->errmsg, sizeof why);
        return rg_fail(db, rc, "%s: %s", path, why);
    }
    sqlite3_extended_result_codes(db->sql, 1);
    sqlite3_busy_timeout(db->sql, busy_timeout_ms());

    /* the mode of a register's files before SQLite reads it (and makes a -wal and -shm like it) */
    ours = stamped_ours(db);
    if ((rc = check_private(db, path, 0, ours ? 2 : 1)) < 0)
        return rc;
    if ((rc = check_identity(db, path, flags, &version)) < 0 || (!ours && (rc = check_private(db, path, 2, 2)) < 0))
        return rc;
    if (!db->readonly && (rc = exec_sql(db, "PRAGMA journal_mode = WAL")) < 0)
        return rc;
    /* recursive_triggers: the delete an INSERT OR REPLACE makes fires delete triggers, so the
     * audit log's refuses it (schema.c, 4 -> 5). */
    if ((rc = exec_sql(db, "PRAGMA synchronous = NORMAL;"
                           "PRAGMA foreign_keys = ON;"
                           "PRAGMA recursive_triggers = ON;"
                           "PRAGMA temp_store = MEMORY;"
                           "PRAGMA cache_size = -32768;")) < 0)
        return rc;
    if (version < rg_schema_nmigrations) {
        if (db->readonly)
            return rg_fail(db, -EPROTO, "%s: schema version %d is older than this regfs's %d, and a"
                           " read-only command does not upgrade it: mount the register, or run"
                           " `regfs vet` on it, once (the upgrade keeps every row and the audit log)",
                           path, version, rg_schema_nmigrations);
        if ((rc = migrate(db, version)) < 0)
            return rc;
    }
    return 0;
}

void rg_db_close(rg_db *db)
{
    if (!db)
        return;
    for (int i = 0; i < RG_STMT_SLOTS; i++)
        if (db->stmts[i].stmt)
            sqlite3_finalize(db->stmts[i].stmt);
    if (db->sql)
        sqlite3_close_v2(db->sql);
    free(db);
}

const char *rg_db_errmsg(const rg_db *db)
{
    return db ? db->errmsg : "out of memory";
}

static int run_simple(rg_db *db, const char *sql)
{
    sqlite3_stmt *st = rg_stmt(db, sql);

    return st ? rg_exec_stmt(db, st) : -EIO;
}

int rg_db_begin(rg_db *db)
{
    int rc;

    if (db->readonly)
        return rg_fail(db, -EROFS, "the register is open read-only");
    if ((rc = run_simple(db, SQL_BEGIN_IMMEDIATE)) < 0)
        return rc;
    db->in_txn = 1;
    db->audit_head_valid = 0;
    return 0;
}

int rg_db_commit(rg_db *db)
{
    int rc = run_simple(db, SQL_COMMIT);

    if (rc < 0) {
        /* A failed COMMIT (a full disk) leaves the transaction open: undo it, change nothing. */
        char keep[RG_ERRMSG_MAX];
        memcpy(keep, db->errmsg, sizeof keep);
        rg_db_rollback(db);
        memcpy(db->errmsg, keep, sizeof keep);
        return rc;
    }
    db->in_txn = 0;
    db->audit_head_valid = 0;
    return 0;
}

void rg_db_rollback(rg_db *db)
{
    if (!sqlite3_get_autocommit(db->sql)) {
        sqlite3_stmt *st = rg_stmt(db, SQL_ROLLBACK);
        if (st) {
            sqlite3_step(st);
            sqlite3_reset(st);
        }
    }
    db->in_txn = 0;
    db->audit_head_valid = 0;
}

int rg_db_read_begin(rg_db *db)
{
    return run_simple(db, SQL_BEGIN_READ);
}

void rg_db_read_end(rg_db *db)
{
    if (!sqlite3_get_autocommit(db->sql))
        run_simple(db, SQL_COMMIT);
}

int64_t rg_db_data_version(rg_db *db)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_DATA_VERSION);
    int64_t v = -1;

    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    return v;
}
