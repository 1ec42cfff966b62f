// store/result_store.hpp: where pilot results go. The interface is backend-neutral so that a
// city-wide deployment can put PostgreSQL behind it; SqliteStore (sqlite_store.hpp) is the one
// implementation today.
//
// Rows (metrics, events) are queued from any thread and written by the store's own writer in
// batched transactions, so callers never wait for the disk. A row counts as recorded once the
// transaction holding it has committed; committed_rows in stats() only ever grows.
// Thread safety: every method is thread-safe.
#pragma once

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tb::host {

struct MetricRow {
    int64_t series_id = 0;  // from register_plugin()
    std::string subject;    // e.g. a sensor id; may be empty
    double value = 0;
    int64_t t_us = 0;
};

struct EventRow {
    int64_t run_id = 0;
    int64_t plugin_row = 0;  // 0 for events raised by the host itself
    int32_t severity = 0;    // tb_severity
    std::string kind, subject, message, detail_json;
    int64_t t_us = 0;
};

struct FeedHealthRow {
    std::string source;
    uint64_t messages = 0, bytes = 0, gaps = 0, duplicates = 0, out_of_order = 0;
    int64_t first_seen_us = 0, last_seen_us = 0;
    // Stale detection (schema 5): the source's limit (0 = never stale), whether it is silent past
    // it right now, since when, and how many stale periods it has had in this run.
    int64_t stale_after_s = 0;
    bool stale = false;
    int64_t stale_since_us = 0;
    uint64_t stale_count = 0;
};

// One period in which a source was silent past its stale_after_s (until_us 0 while it lasts).
struct StalePeriod {
    std::string source;
    int64_t from_us = 0, until_us = 0;
};

struct RunInfo {
    std::string testbed;
    std::string host_version;
    int64_t started_us = 0;
    nlohmann::json config;
};

struct PluginRegistration {
    int64_t run_id = 0;
    std::string instance, plugin_id, version, organisation, file, sha256, mode;
    std::optional<int64_t> trial_id;
    nlohmann::json manifest;
    struct Series {
        std::string name, unit, better, description;
    };
    std::vector<Series> series;
};

struct PluginRecord {
    int64_t plugin_row = 0;
    std::map<std::string, int64_t> series_ids;  // metric name -> series id
};

struct StoreStats {
    uint64_t queued = 0;          // accepted into the queue
    uint64_t committed_rows = 0;  // durably written
    uint64_t rejected = 0;        // refused because the queue was full
    uint64_t failed_rows = 0;     // lost to a failed transaction (disk full, I/O error)
    uint64_t commits = 0;
    uint64_t queue_depth = 0;
};

class ResultStore {
   public:
    virtual ~ResultStore() = default;

    // Bookkeeping; these wait until written.
    virtual Result<int64_t> begin_run(const RunInfo& info) = 0;
    virtual Result<PluginRecord> register_plugin(const PluginRegistration& reg) = 0;
    virtual Status end_run(int64_t run_id, int64_t ended_us, const nlohmann::json& summary,
                           const std::vector<FeedHealthRow>& feeds,
                           const std::map<std::string, uint64_t>& drops) = 0;
    virtual Status save_plugin_stats(int64_t plugin_row, const nlohmann::json& stats) = 0;
    // Feed health so far (replaces the run's previous figures); written periodically during a run
    // so that reports and a crashed run keep it. Waits until written.
    virtual Status save_feed_health(int64_t run_id, const std::vector<FeedHealthRow>& feeds,
                                    const std::map<std::string, uint64_t>& drops,
                                    const std::vector<StalePeriod>& stale_periods) {
        (void)run_id, (void)feeds, (void)drops, (void)stale_periods;
        return {};
    }

    // Queue a row; never blocks on I/O. False when the queue is full (the row is counted and dropped).
    virtual bool add_metric(MetricRow row) = 0;
    virtual bool add_event(EventRow row) = 0;

    // Wait until every row queued before this call has been committed (or failed).
    virtual Status flush() = 0;
    // Flush, stop the writer and close. Idempotent.
    virtual Status close() = 0;

    virtual StoreStats stats() const = 0;
};

}  // namespace tb::host
