// tests/report/report_fixture.hpp: results databases for the report tests, filled through the
// real schema (host::open_database runs every migration) and plain SQL, as a host would leave them.
// Thread safety: single-threaded test helpers.
#pragma once

#include "store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>

namespace tb::test::report {

inline constexpr int64_t kT0 = 1'790'000'000'000'000;  // 2026-09-21, microseconds
inline constexpr int64_t kMinute = 60'000'000;

class ResultsDb {
   public:
    explicit ResultsDb(const std::filesystem::path& file) {
        auto db = host::open_database(file, true);
        if (!db) throw std::runtime_error(db.error().message);
        db_ = *db;
    }
    ~ResultsDb() { sqlite3_close(db_); }
    ResultsDb(const ResultsDb&) = delete;
    ResultsDb& operator=(const ResultsDb&) = delete;

    void exec(const std::string& sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            const std::string msg = err ? err : "?";
            sqlite3_free(err);
            throw std::runtime_error("SQL failed: " + msg + " in: " + sql.substr(0, 200));
        }
    }
    int64_t run(const std::string& testbed = "city-centre") {
        exec("INSERT INTO runs(testbed, host_version, started_us) VALUES ('" + testbed + "', 'test', " +
             std::to_string(kT0) + ")");
        return sqlite3_last_insert_rowid(db_);
    }
    // A trial row; control_json and the baseline window are optional ("" / 0 = none).
    int64_t trial(const std::string& plugin_id, const std::string& control_json, int64_t baseline_from = 0,
                  int64_t baseline_until = 0, const std::string& testbed = "city-centre") {
        exec("INSERT INTO trials(plugin_id, plugin_version, plugin_file, plugin_sha256, manifest_json, organisation, "
             "testbed, reads_json, publishes_json, from_us, until_us, purpose, trust, state, baseline_from_us, "
             "baseline_until_us, control_json, created_us, updated_us) VALUES ('" + plugin_id + "', '1.0', 'x.so', "
             "'00', '{}', 'ParkCo B.V.', '" + testbed + "', '[]', '[]', " + std::to_string(kT0) + ", " +
             std::to_string(kT0 + 1000 * kMinute) + ", 'test', 'in-process', 'completed', " +
             (baseline_from ? std::to_string(baseline_from) : "NULL") + ", " +
             (baseline_until ? std::to_string(baseline_until) : "NULL") + ", " +
             (control_json.empty() ? "NULL" : "'" + control_json + "'") + ", " + std::to_string(kT0) + ", " +
             std::to_string(kT0) + ")");
        return sqlite3_last_insert_rowid(db_);
    }
    int64_t plugin(int64_t run_id, const std::string& plugin_id, int64_t trial_id = 0) {
        exec("INSERT INTO plugins(run_id, instance, plugin_id, version, organisation, file, sha256, mode, trial_id, "
             "manifest_json) VALUES (" + std::to_string(run_id) + ", '" + plugin_id + "', '" + plugin_id +
             "', '1.0', 'ParkCo', 'x.so', '00', 'in-process', " + (trial_id ? std::to_string(trial_id) : "NULL") +
             ", '{}')");
        return sqlite3_last_insert_rowid(db_);
    }
    int64_t series(int64_t plugin_row, const std::string& name, const std::string& unit, const std::string& better) {
        exec("INSERT INTO series(plugin_row, name, unit, better) VALUES (" + std::to_string(plugin_row) + ", '" + name +
             "', '" + unit + "', '" + better + "')");
        return sqlite3_last_insert_rowid(db_);
    }
    void sample(int64_t series_id, const std::string& subject, double v, int64_t t_us) {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db_, "INSERT INTO metrics(series_id, subject, value, t_us) VALUES (?, ?, ?, ?)", -1, &st, nullptr);
        sqlite3_bind_int64(st, 1, series_id);
        sqlite3_bind_text(st, 2, subject.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 3, v);
        sqlite3_bind_int64(st, 4, t_us);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    // n samples one minute apart from `start`, AR(1) noise (phi 0.6, sd 20) around `level`.
    void ar1(int64_t series_id, const std::string& subject, int n, double level, int64_t start, uint64_t seed) {
        std::mt19937_64 rng(seed);
        std::normal_distribution<double> z(0, 20);
        double e = 0;
        exec("BEGIN");
        for (int i = 0; i < n; ++i) {
            e = 0.6 * e + z(rng);
            sample(series_id, subject, level + e, start + i * kMinute);
        }
        exec("COMMIT");
    }
    sqlite3* handle() { return db_; }

   private:
    sqlite3* db_ = nullptr;
};

}  // namespace tb::test::report
