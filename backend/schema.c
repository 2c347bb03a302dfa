/*
 * schema.c: the register's schema, as the list of migrations that build it.
 *
 * Migration i takes a database from PRAGMA user_version i to i+1; a new file runs them all, an older
 * file runs the ones it lacks, each in the same transaction as the version bump (db.c).  A migration
 * that has shipped is never edited: a change to the schema is a new entry at the end.
 *
 * Text conventions: dates are "YYYY-MM-DD", times are UTC "YYYY-MM-DDTHH:MM:SSZ", unknown values are
 * '' rather than NULL (so that renderers and exports need no NULL cases).  *_ns columns are
 * nanoseconds since the epoch, kept so that the filesystem can show an exact, stable mtime.
 *
 * CHECKs are written with OR rather than IN (...): SQLite 3.40 builds a temporary table for IN on
 * every row it checks, which costs a bulk import seconds.
 */
#include "db_internal.h"

const char *const rg_schema_migrations[] = {
    /* 0 -> 1: the register. */
    "CREATE TABLE applicant ("
    "  id              INTEGER PRIMARY KEY CHECK (id > 0),"
    "  given_name      TEXT NOT NULL,"
    "  family_name     TEXT NOT NULL,"
    "  date_of_birth   TEXT NOT NULL DEFAULT '',"
    "  email           TEXT NOT NULL DEFAULT '',"
    "  postcode        TEXT NOT NULL DEFAULT '',"
    "  clp             TEXT NOT NULL,"
    "  clp_slug        TEXT NOT NULL,"          /* clps/<slug>/: lower-case, [a-z0-9-] */
    "  kind            TEXT NOT NULL"
    "                  CHECK (kind = 'member' OR kind = 'registered_supporter' OR kind = 'affiliated_supporter'),"
    "  joined_at       TEXT NOT NULL,"          /* as imported: a date or an ISO 8601 UTC time */
    "  joined_day      TEXT NOT NULL,"          /* its date part: joined/<day>/ */
    "  declared_party  TEXT NOT NULL DEFAULT '',"
    "  aims_values     TEXT NOT NULL CHECK (aims_values = 'yes' OR aims_values = 'no'),"
    /* The verdict.  manual=1: a person decided and a re-vet never overwrites it. */
    "  verdict         TEXT NOT NULL DEFAULT 'pending'"
    "                  CHECK (verdict = 'approved' OR verdict = 'excluded' OR verdict = 'review'"
    "                         OR verdict = 'pending'),"
    "  rule            TEXT NOT NULL DEFAULT '',"  /* the deciding rule, or 'manual' */
    "  score           REAL NOT NULL DEFAULT 0,"
    "  reasons         TEXT NOT NULL DEFAULT '[]',"/* JSON array, one object per rule that spoke */
    "  decided_by      TEXT NOT NULL DEFAULT '',"
    "  decided_at      TEXT NOT NULL DEFAULT '',"
    "  manual          INTEGER NOT NULL DEFAULT 0 CHECK (manual = 0 OR manual = 1),"
    "  manual_reason   TEXT NOT NULL DEFAULT '',"
    "  auto_disagrees  TEXT NOT NULL DEFAULT '',"  /* what the rules would now decide, if different */
    "  recommendation  TEXT NOT NULL DEFAULT '',"  /* the rules' exclusion held back by auto_exclude=off */
    "  ballot          INTEGER NOT NULL DEFAULT 0 CHECK (ballot = 0 OR ballot = 1),"
    "  rules_version   INTEGER NOT NULL DEFAULT 0,"
    "  watchlist_version INTEGER NOT NULL DEFAULT 0,"
    "  changed_ns      INTEGER NOT NULL"           /* last change to anything applicants/<id>/ shows */
    ");"
    "CREATE INDEX applicant_by_verdict ON applicant(verdict, id);"
    "CREATE INDEX applicant_by_clp ON applicant(clp_slug, id);"
    "CREATE INDEX applicant_by_day ON applicant(joined_day, id);"
    "CREATE INDEX applicant_by_email ON applicant(email) WHERE email <> '';"
    /* What changed since a given moment: the filesystem invalidates the kernel's caches by it. */
    "CREATE INDEX applicant_by_changed ON applicant(changed_ns);"

    "CREATE TABLE organisation ("
    "  id       INTEGER PRIMARY KEY,"
    "  name     TEXT NOT NULL UNIQUE,"
    "  aliases  TEXT NOT NULL DEFAULT ''"        /* '|'-separated, as imported */
    ");"

    "CREATE TABLE watchlist ("
    "  ino      INTEGER PRIMARY KEY,"            /* stable number for the filesystem */
    "  id       TEXT NOT NULL UNIQUE,"
    "  given_name TEXT NOT NULL,"
    "  family_name TEXT NOT NULL,"
    "  date_of_birth TEXT NOT NULL DEFAULT '',"
    "  email    TEXT NOT NULL DEFAULT '',"
    "  postcode TEXT NOT NULL DEFAULT '',"
    "  organisation TEXT NOT NULL,"
    "  role     TEXT NOT NULL DEFAULT '',"
    "  source   TEXT NOT NULL DEFAULT '',"
    "  changed_ns INTEGER NOT NULL"
    ");"

    "CREATE TABLE evidence ("
    "  id           INTEGER PRIMARY KEY,"
    "  applicant_id INTEGER NOT NULL REFERENCES applicant(id),"
    "  kind         TEXT NOT NULL,"              /* note, clp-report, public-statement, ... */
    "  text         TEXT NOT NULL,"
    "  added_by     TEXT NOT NULL,"
    "  added_at     TEXT NOT NULL"
    ");"
    "CREATE INDEX evidence_by_applicant ON evidence(applicant_id, id);"

    "CREATE TABLE setting ("
    "  key    TEXT PRIMARY KEY,"
    "  value  TEXT NOT NULL"
    ");"

    /* Named counters: watchlist_version, rules_version, ... */
    "CREATE TABLE counter ("
    "  name   TEXT PRIMARY KEY,"
    "  value  INTEGER NOT NULL"
    ");"
    "INSERT INTO counter(name, value) VALUES ('watchlist_version', 0), ('rules_version', 1);"

    "CREATE TABLE job ("
    "  id           INTEGER PRIMARY KEY,"
    "  scope        TEXT NOT NULL,"              /* 'all', 'pending', 'ids 1 2 3', 'clp SLUG', ... */
    "  requested_by TEXT NOT NULL,"
    "  state        TEXT NOT NULL CHECK (state = 'queued' OR state = 'running' OR state = 'done'"
    "                                  OR state = 'cancelled' OR state = 'failed'),"
    "  total        INTEGER NOT NULL DEFAULT 0,"
    "  done         INTEGER NOT NULL DEFAULT 0,"
    "  changed      INTEGER NOT NULL DEFAULT 0,"
    "  cursor       INTEGER NOT NULL DEFAULT 0," /* last applicant id finished: a resumed job starts after it */
    "  started      TEXT NOT NULL DEFAULT '',"
    "  finished     TEXT NOT NULL DEFAULT '',"
    "  error        TEXT NOT NULL DEFAULT '',"
    "  changed_ns   INTEGER NOT NULL"
    ");"

    /* The audit chain (audit.c documents the hashed bytes).  Append-only, enforced here. */
    "CREATE TABLE audit ("
    "  seq        INTEGER PRIMARY KEY,"
    "  at         TEXT NOT NULL,"
    "  actor      TEXT NOT NULL,"
    "  action     TEXT NOT NULL,"
    "  applicant  TEXT NOT NULL,"                /* applicant id, or '-' */
    "  detail     TEXT NOT NULL,"
    "  hash       TEXT NOT NULL"
    ");"
    "CREATE INDEX audit_by_applicant ON audit(applicant, seq) WHERE applicant <> '-';"
    "CREATE INDEX audit_by_day ON audit(substr(at, 1, 10), seq);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    /* INSERT OR REPLACE deletes without firing delete triggers: refuse a reused seq outright. */
    "CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit"
    "  WHEN EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq)"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",

    /* 1 -> 2: the vetting rules' lookups for a few applicants (vetting many builds its own index):
     * the same email in any case, the same date of birth, the same name in any case. */
    "CREATE INDEX applicant_by_email_nocase ON applicant(email COLLATE NOCASE) WHERE email <> '';"
    "CREATE INDEX applicant_by_dob ON applicant(date_of_birth) WHERE date_of_birth <> '';"
    "CREATE INDEX applicant_by_name ON applicant(family_name COLLATE NOCASE, given_name COLLATE NOCASE);",

    /* 2 -> 3: the register's identity, which its checkpoints name so that one is never checked
     * against another register (copies and restores keep it), and the signed checkpoints of the
     * audit chain (checkpoint.h documents the statement).  Append-only, like the log. */
    "CREATE TABLE register_info ("
    "  name   TEXT PRIMARY KEY,"
    "  value  TEXT NOT NULL"
    ");"
    "INSERT INTO register_info(name, value) VALUES ('id', lower(hex(randomblob(16))));"
    "CREATE TABLE checkpoint ("
    "  seq        INTEGER PRIMARY KEY,"          /* the audit event it states: the head when signed */
    "  hash       TEXT NOT NULL,"
    "  at         TEXT NOT NULL,"
    "  register   TEXT NOT NULL,"
    "  key        TEXT NOT NULL,"                /* the signer's Ed25519 public key, 64 hex */
    "  signature  TEXT NOT NULL,"                /* 128 hex */
    "  statement  TEXT NOT NULL,"                /* the whole text, as printed */
    "  event      INTEGER NOT NULL"              /* the audit.checkpoint event that recorded it */
    ");"
    "CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON checkpoint"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON checkpoint"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER register_info_no_update BEFORE UPDATE ON register_info"
    "  BEGIN SELECT RAISE(ABORT, 'the register id never changes'); END;"
    "CREATE TRIGGER register_info_no_delete BEFORE DELETE ON register_info"
    "  BEGIN SELECT RAISE(ABORT, 'the register id never changes'); END;",

    /* 3 -> 4: the process that runs (or will run) a job, "BOOT-ID PID START" (job.c), so that two
     * processes never run one job and a job whose process died is known to be free to resume. */
    "ALTER TABLE job ADD COLUMN owner TEXT NOT NULL DEFAULT '';",

    /* 4 -> 5: audit_no_replace ran a lookup before every event appended (a seventh of a full vet).
     * Every regfs connection sets recursive_triggers (db.c), under which the delete that an
     * INSERT OR REPLACE makes fires audit_no_delete instead.  Another program's connection that
     * replaces an event is not stopped, as one that drops the triggers never was: verify finds
     * the break in the chain either way. */
    "DROP TRIGGER audit_no_replace;",

    /* 5 -> 6: indexes that cost every import, update and vet their upkeep for little:
     *   - no query looks an email up exactly (the rules match it in any case, through
     *     applicant_by_email_nocase);
     *   - only `regfs log --day` looked events up by day (the mount keeps its own index of the
     *     days, fs/auditidx.c); it now reads the log through, 0.1 s for 650,000 events.  Keeping
     *     audit_by_day up to date was 8% of a first full vet. */
    "DROP INDEX applicant_by_email;"
    "DROP INDEX audit_by_day;",

    /* 6 -> 7: applicant_by_changed answered one query, the newest changed_ns for register.tsv's
     * mtime, asked only when the export is rendered; the render reads every row anyway and now
     * keeps the newest as it goes (rg_export_rows).  Its upkeep was 8% of a first full vet. */
    "DROP INDEX applicant_by_changed;",
};

const int rg_schema_nmigrations =
    (int)(sizeof rg_schema_migrations / sizeof rg_schema_migrations[0]);
