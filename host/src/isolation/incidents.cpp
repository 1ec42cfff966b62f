#include "isolation/incidents.hpp"

#include "common/logging.hpp"
#include "store/sqlite_store.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

namespace tb::host {

Status insert_incident(sqlite3* db, const IncidentRow& r) {
    static const char* kSql =
        "INSERT INTO incidents(run_id, plugin_row, instance, t_us, reason, signal, exit_status, detail, "
        "log_tail_json, restarts_before, action, backoff_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, kSql, -1, &st, nullptr) != SQLITE_OK) {
        return Error{std::string("recording an incident: ") + sqlite3_errmsg(db), "sqlite"};
    }
    const std::string tail = nlohmann::json(r.log_tail).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    sqlite3_bind_int64(st, 1, r.run_id);
    if (r.plugin_row > 0) sqlite3_bind_int64(st, 2, r.plugin_row);
    else sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, r.instance.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, r.t_us);
    sqlite3_bind_text(st, 5, r.reason.c_str(), -1, SQLITE_TRANSIENT);
    if (r.signal) sqlite3_bind_int(st, 6, *r.signal);
    else sqlite3_bind_null(st, 6);
    if (r.exit_status) sqlite3_bind_int(st, 7, *r.exit_status);
    else sqlite3_bind_null(st, 7);
    sqlite3_bind_text(st, 8, r.detail.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, tail.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 10, r.restarts_before);
    sqlite3_bind_text(st, 11, r.action.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 12, r.backoff_ms);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return Error{std::string("recording an incident: ") + sqlite3_errmsg(db), "sqlite"};
    return {};
}

IncidentSink make_store_incident_sink(SqliteStore& store) {
    return [&store](const IncidentRow& row) {
        if (auto s = store.execute([&row](sqlite3* db) { return insert_incident(db, row); }); !s) {
            logger("isolation")->error("plugin '{}': {} (incident: {} - {})", row.instance, s.message(), row.reason,
                                       row.detail);
        }
    };
}

}  // namespace tb::host
