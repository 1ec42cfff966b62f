// store/sqlite_store.hpp: the SQLite ResultStore. One database file per host, WAL journal, one
// writer thread that batches queued rows into transactions, versioned schema migrations.
//
// Durability: with synchronous=NORMAL (default) in WAL mode a committed transaction survives the
// host being killed at any point (it may be lost only on power failure); synchronous=FULL also
// survives power loss at some cost. Opening a database written by a newer version is refused.
// Thread safety: every public method is thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "store/result_store.hpp"

struct sqlite3;

namespace tb::host {

struct SqliteOptions {
    std::size_t queue_capacity = 1'000'000;
    std::size_t batch_rows = 10'000;
    std::chrono::milliseconds flush_interval{50};
    bool synchronous_full = false;
    // Called by the writer after each commit with the total committed row count (e.g. to write
    // a status file). Runs on the writer thread; must be quick.
    std::function<void(uint64_t committed_rows)> on_commit;
};

// The schema version this build writes and the newest it can open.
int schema_version_latest();

class SqliteStore final : public ResultStore {
 public:
    static Result<std::unique_ptr<SqliteStore>> open(const std::filesystem::path& file,
                                                     SqliteOptions options = {});
    ~SqliteStore() override;

    Result<int64_t> begin_run(const RunInfo& info) override;
    Result<PluginRecord> register_plugin(const PluginRegistration& reg) override;
    Status end_run(int64_t run_id, int64_t ended_us, const nlohmann::json& summary,
                   const std::vector<FeedHealthRow>& feeds,
                   const std::map<std::string, uint64_t>& drops) override;
    Status save_plugin_stats(int64_t plugin_row, const nlohmann::json& stats) override;
    Status save_feed_health(int64_t run_id, const std::vector<FeedHealthRow>& feeds,
                            const std::map<std::string, uint64_t>& drops,
                            const std::vector<StalePeriod>& stale_periods) override;
    bool add_metric(MetricRow row) override;
    bool add_event(EventRow row) override;
    Status flush() override;
    Status close() override;
    StoreStats stats() const override;

    // Run `fn` on the writer thread with the connection, after rows queued before it are
    // committed, and wait for its result. For subsystems that own tables (trials, incidents).
    Status execute(std::function<Status(sqlite3*)> fn);

    const std::filesystem::path& file() const noexcept;

 private:
    SqliteStore();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Open (creating if needed) and migrate a database for tools that read or govern it without a
// running host (the testbed CLI). The caller owns the handle (sqlite3_close). WAL; a busy lock
// is waited for in 250 µs steps, for about 5 s.
Result<sqlite3*> open_database(const std::filesystem::path& file, bool create);

// Helpers for code that uses the raw sqlite3 API: run SQL, or return an Error naming `what`.
Status exec_sql(sqlite3* db, const char* sql, const std::string& what);

}  // namespace tb::host
