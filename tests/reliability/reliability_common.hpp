// tests/reliability/reliability_common.hpp: what the reliability tests share: a testbed with the
// groundwater_alert plugin (one metric row per reading), a publisher loop bounded in time and
// count, and a read-write reopen of a results database as a restarted host would do it.
// Thread safety: none (single-threaded tests).
#pragma once

#include "support/test_support.hpp"

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace tb::test::reliability {

// The testbed every reliability test runs: groundwater sensors, the groundwater_alert plugin.
inline fs::path groundwater_testbed(const fs::path& dir, const std::string& extra_plugins = "") {
    return write_testbed(dir, R"(
[testbed]
id = "reliability"
name = "Reliability"
zone = "zones/city-centre.geojson"

[host]
output = ""
workers = 2
store_flush_ms = 20

[[sensors]]
kind = "groundwater"
topic_prefix = "sensor/groundwater/"
id_prefix = "GW-"
count = 40
unit = "m"

[[plugins]]
name = "groundwater_alert"
library = "groundwater_alert"
)" + extra_plugins);
}

// Publish readings as fast as the socket takes them, for at most `duration` and `max_messages`.
// Returns how many were sent.
inline uint64_t publish_for(TestPublisher& pub, std::chrono::milliseconds duration, uint64_t max_messages,
                            uint64_t first = 0) {
    const auto deadline = std::chrono::steady_clock::now() + duration;
    uint64_t sent = 0;
    char id[16];
    while (sent < max_messages && std::chrono::steady_clock::now() < deadline) {
        for (int k = 0; k < 256 && sent < max_messages; ++k) {
            const uint64_t n = first + sent;
            std::snprintf(id, sizeof id, "GW-%04d", static_cast<int>(n % 40) + 1);
            if (!pub.send(std::string("sensor/groundwater/") + id,
                          senml(std::string(id) + "/", "level", "m", -1.0 - static_cast<double>(n % 100) / 100.0,
                                1.7e9 + static_cast<double>(n)))) {
                return sent;
            }
            ++sent;
        }
    }
    return sent;
}

// What a reopened database looks like: integrity and row counts. Opened read-write, so a
// WAL left by a killed host is recovered exactly as the next host would recover it.
struct DbCheck {
    std::string integrity;  // "ok" when PRAGMA integrity_check passes
    int64_t metrics = -1;
    int64_t events = -1;
    std::string error;
};

inline DbCheck reopen(const fs::path& db_file) {
    DbCheck c;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        c.error = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        return c;
    }
    sqlite3_busy_timeout(db, 10000);
    auto scalar = [&](const char* sql, std::string& text) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
            c.error += std::string(sql) + ": " + sqlite3_errmsg(db) + "; ";
        } else if (sqlite3_step(st) == SQLITE_ROW) {
            const auto* t = sqlite3_column_text(st, 0);
            text = t ? reinterpret_cast<const char*>(t) : "";
        }
        sqlite3_finalize(st);
    };
    std::string m, e;
    scalar("PRAGMA integrity_check", c.integrity);
    scalar("SELECT count(*) FROM metrics", m);
    scalar("SELECT count(*) FROM events", e);
    if (!m.empty()) c.metrics = std::stoll(m);
    if (!e.empty()) c.events = std::stoll(e);
    sqlite3_close(db);
    return c;
}

// The committed_rows figure of a --status-file (0 when the file does not exist yet).
inline int64_t status_committed(const fs::path& status_file) {
    const std::string s = read_file(status_file);
    const auto k = s.find("\"committed_rows\":");
    if (k == std::string::npos) return 0;
    return std::stoll(s.substr(k + 17));
}

}  // namespace tb::test::reliability
