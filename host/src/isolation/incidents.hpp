// isolation/incidents.hpp: what is recorded when an isolated plugin's runner dies, hangs or
// misbehaves (table `incidents`, schema migration 3; columns documented in docs/isolation.md).
//
// Thread safety: IncidentRow is a plain value; the sink returned by make_store_incident_sink()
// may be called from any thread (it queues the insert on the store's writer and waits for it).
#pragma once

#include "common/result.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace tb::host {

class SqliteStore;

struct IncidentRow {
    int64_t run_id = 0;
    int64_t plugin_row = 0;
    std::string instance;
    int64_t t_us = 0;
    // segfault, abort, crash, signal, killed, exit, hang, memory_limit, cpu_limit,
    // uncaught_exception, protocol, init_failed, start_timeout
    std::string reason;
    std::optional<int> signal;       // the signal that ended the runner, if any
    std::optional<int> exit_status;  // its exit code, if it exited
    std::string detail;              // one sentence for people
    std::vector<std::string> log_tail;
    int restarts_before = 0;         // restarts already spent when this happened
    std::string action;              // "restart" or "gave_up"
    int64_t backoff_ms = 0;          // delay before the restart (0 when giving up)
};

using IncidentSink = std::function<void(const IncidentRow&)>;

// Insert one row (on a connection the caller owns, e.g. inside SqliteStore::execute).
Status insert_incident(sqlite3* db, const IncidentRow& row);

// A sink writing to `store` through its writer thread. Failures are logged, never thrown.
IncidentSink make_store_incident_sink(SqliteStore& store);

}  // namespace tb::host
