#include "store/migrations.hpp"

#include <sqlite3.h>

namespace tb::host {

const std::vector<Migration>& migrations() {
    static const std::vector<Migration> kMigrations = {
        {1, "core: runs, plugins, metric series, metrics, events, feed health, ingest drops", R"sql(
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    testbed       TEXT    NOT NULL,
    host_version  TEXT    NOT NULL,
    started_us    INTEGER NOT NULL,
    ended_us      INTEGER,
    config_json   TEXT,
    summary_json  TEXT
);
CREATE TABLE plugins (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    instance      TEXT    NOT NULL,
    plugin_id     TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    organisation  TEXT    NOT NULL,
    file          TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    mode          TEXT    NOT NULL,
    trial_id      INTEGER,
    manifest_json TEXT    NOT NULL,
    stats_json    TEXT
);
CREATE INDEX plugins_run ON plugins(run_id);
CREATE TABLE series (
    id            INTEGER PRIMARY KEY,
    plugin_row    INTEGER NOT NULL REFERENCES plugins(id),
    name          TEXT    NOT NULL,
    unit          TEXT    NOT NULL,
    better        TEXT    NOT NULL,
    description   TEXT,
    UNIQUE (plugin_row, name)
);
CREATE TABLE metrics (
    id            INTEGER PRIMARY KEY,
    series_id     INTEGER NOT NULL REFERENCES series(id),
    subject       TEXT,
    value         REAL    NOT NULL,
    t_us          INTEGER NOT NULL
);
CREATE INDEX metrics_series_t ON metrics(series_id, t_us);
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    plugin_row    INTEGER REFERENCES plugins(id),
    severity      INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 4),
    kind          TEXT    NOT NULL,
    subject       TEXT,
    message       TEXT    NOT NULL,
    detail_json   TEXT,
    t_us          INTEGER NOT NULL
);
CREATE INDEX events_run_t ON events(run_id, t_us);
CREATE TABLE feed_health (
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    source        TEXT    NOT NULL,
    messages      INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    gaps          INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    out_of_order  INTEGER NOT NULL,
    first_seen_us INTEGER,
    last_seen_us  INTEGER,
    PRIMARY KEY (run_id, source)
);
CREATE TABLE ingest_drops (
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    reason        TEXT    NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (run_id, reason)
);
CREATE VIEW v_metrics AS
    SELECT p.run_id, p.trial_id, p.instance, p.plugin_id, s.name AS metric, s.unit, s.better,
           m.subject, m.value, m.t_us
    FROM metrics m JOIN series s ON s.id = m.series_id JOIN plugins p ON p.id = s.plugin_row;
CREATE VIEW v_events AS
    SELECT e.id, e.run_id, p.trial_id, p.instance, p.plugin_id, e.severity, e.kind, e.subject,
           e.message, e.detail_json, e.t_us
    FROM events e LEFT JOIN plugins p ON p.id = e.plugin_row;
)sql"},
        {2, "governance: trials and the hash-chained audit log", R"sql(
CREATE TABLE trials (
    id                INTEGER PRIMARY KEY,
    plugin_id         TEXT    NOT NULL,
    plugin_version    TEXT    NOT NULL,
    plugin_file       TEXT    NOT NULL,
    plugin_sha256     TEXT    NOT NULL,
    manifest_json     TEXT    NOT NULL,
    organisation      TEXT    NOT NULL,
    testbed           TEXT    NOT NULL,
    reads_json        TEXT    NOT NULL,  -- JSON array of granted read prefixes
    publishes_json    TEXT    NOT NULL,  -- JSON array of granted publish prefixes
    from_us           INTEGER NOT NULL,  -- trial window, microseconds since the Unix epoch
    until_us          INTEGER NOT NULL,
    purpose           TEXT    NOT NULL,
    trust             TEXT    NOT NULL CHECK (trust IN ('isolated', 'in-process')),
    state             TEXT    NOT NULL CHECK (state IN ('proposed', 'approved', 'active', 'suspended',
                                                        'completed', 'rejected')),
    baseline_from_us  INTEGER,           -- optional baseline window for evaluation
    baseline_until_us INTEGER,
    control_json      TEXT,              -- optional control group for evaluation
    retention_days    INTEGER,
    config_json       TEXT    NOT NULL DEFAULT '{}',
    created_us        INTEGER NOT NULL,
    updated_us        INTEGER NOT NULL,
    CHECK (until_us > from_us)
);
CREATE INDEX trials_testbed_state ON trials(testbed, state);
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    t_us        INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    trial_id    INTEGER,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('done', 'refused')),
    reason      TEXT    NOT NULL,
    detail_json TEXT    NOT NULL DEFAULT '{}',
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
)sql"},
        {3, "isolation: incidents of isolated plugin runners (crash, hang, limits, protocol)", R"sql(
CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    plugin_row      INTEGER REFERENCES plugins(id),
    instance        TEXT    NOT NULL,
    t_us            INTEGER NOT NULL,  -- when the host noticed, microseconds since the Unix epoch
    reason          TEXT    NOT NULL,  -- segfault, abort, hang, memory_limit, exit, protocol, ...
    signal          INTEGER,           -- signal that ended the runner, if any
    exit_status     INTEGER,           -- exit code of the runner, if it exited
    detail          TEXT    NOT NULL,
    log_tail_json   TEXT    NOT NULL DEFAULT '[]',  -- the plugin's last log lines
    restarts_before INTEGER NOT NULL,  -- restarts already spent when this happened
    action          TEXT    NOT NULL CHECK (action IN ('restart', 'gave_up')),
    backoff_ms      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX incidents_run_t ON incidents(run_id, t_us);
)sql"},
        {4, "api: access tokens for the HTTP API (only a hash of each token is stored)", R"sql(
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,  -- who holds it; the actor name in the audit log
    role        TEXT    NOT NULL,         -- 'staff' or 'org:<organisation>'
    token_hash  TEXT    NOT NULL UNIQUE,  -- hex BLAKE2b-256 of the token (crypto_generichash)
    created_us  INTEGER NOT NULL,
    expires_us  INTEGER,                  -- NULL: never expires
    revoked_us  INTEGER,
    CHECK (role = 'staff' OR (role LIKE 'org:%' AND length(role) > 4))
);
)sql"},
        {5, "feeds: stale detection in feed health, stale periods", R"sql(
ALTER TABLE feed_health ADD COLUMN stale_after_s INTEGER NOT NULL DEFAULT 0;  -- 0: never stale
ALTER TABLE feed_health ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;          -- 1: silent past it now
ALTER TABLE feed_health ADD COLUMN stale_count INTEGER NOT NULL DEFAULT 0;    -- stale periods so far
ALTER TABLE feed_health ADD COLUMN updated_us INTEGER;                        -- last written
CREATE TABLE feed_stale_periods (
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    source        TEXT    NOT NULL,
    from_us       INTEGER NOT NULL,  -- last message before the silence
    until_us      INTEGER,           -- first message after it; NULL while it lasts
    PRIMARY KEY (run_id, source, from_us)
);
)sql"},
        // Reserved: 6 reports. Keep this list sorted by version.
        {7, "governance extras: audit head, append-only audit triggers, rehearsals", R"sql(
CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_id     INTEGER NOT NULL,  -- newest audit_log row: detects rows removed from the end
    last_hash   TEXT    NOT NULL
);
INSERT INTO audit_head(id, last_id, last_hash) SELECT 1, id, hash FROM audit_log ORDER BY id DESC LIMIT 1;
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be changed'); END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END;
CREATE TABLE rehearsals (
    id                INTEGER PRIMARY KEY,
    trial_id          INTEGER NOT NULL REFERENCES trials(id),
    t_us              INTEGER NOT NULL,
    recording         TEXT    NOT NULL,
    recording_sha256  TEXT    NOT NULL,
    plugin_sha256     TEXT    NOT NULL,
    database          TEXT    NOT NULL,  -- the separate rehearsal database with the raw results
    summary_json      TEXT    NOT NULL
);
CREATE INDEX rehearsals_trial ON rehearsals(trial_id);
)sql"},
    };
    return kMigrations;
}

Status migrate(sqlite3* db, const std::string& file) {
    sqlite3_stmt* st = nullptr;
    int current = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        current = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    for (std::size_t i = 1; i < migrations().size(); ++i) {
        if (migrations()[i].version <= migrations()[i - 1].version) {
            return Error{"internal error: schema migrations are not sorted by version (" +
                             std::to_string(migrations()[i].version) + " after " +
                             std::to_string(migrations()[i - 1].version) + ")",
                         "migration"};
        }
    }
    const int latest = migrations().empty() ? 0 : migrations().back().version;
    if (current > latest) {
        return Error{file + ": database schema version " + std::to_string(current) + " is newer than this program knows (" +
                         std::to_string(latest) + "); use a newer testbed release or another database file",
                     "schema_newer"};
    }
    for (const auto& m : migrations()) {
        if (m.version <= current) continue;
        char* err = nullptr;
        const std::string sql = std::string("BEGIN IMMEDIATE;\n") + m.sql + "\nPRAGMA user_version = " +
                                std::to_string(m.version) + ";\nCOMMIT;";
        if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : "unknown error";
            sqlite3_free(err);
            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
            return Error{file + ": schema migration " + std::to_string(m.version) + " (" + m.name + ") failed: " + msg +
                             "; the database was left at version " + std::to_string(current),
                         "migration"};
        }
        current = m.version;
    }
    return {};
}

}  // namespace tb::host
