// runtime/plugin_context.hpp: the host side of one plugin instance's tb_host_api.
//
// Every call a plugin makes into the host (publish, record_metric, record_event, log, config_get)
// lands here, whether the plugin runs in-process or in an isolated runner (which forwards the
// calls). The context checks each call against the manifest (declared metrics, declared publish
// topics) and against an optional policy hook that governance installs (the trial's grant), then
// queues the result for the store or the output feed. It never blocks on I/O.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include "loader/plugin_library.hpp"
#include "store/result_store.hpp"

#include <testbed/plugin.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace tb::host {

class Publisher;

// Counters of what one plugin instance did and what happened to its messages.
struct PluginCounters {
    std::atomic<uint64_t> offered{0};            // messages routed to the instance
    std::atomic<uint64_t> delivered{0};          // on_message calls completed
    std::atomic<uint64_t> dropped_inbox{0};      // inbox full (overflow policy)
    std::atomic<uint64_t> dropped_not_running{0};// arrived while suspended, stopped or failed
    std::atomic<uint64_t> callback_errors{0};    // on_message/on_tick returned an error
    std::atomic<uint64_t> bad_data{0};           // on_message returned TB_E_BAD_DATA
    std::atomic<uint64_t> ticks{0};
    std::atomic<uint64_t> published{0};
    std::atomic<uint64_t> publish_denied{0};     // outside the manifest or grant
    std::atomic<uint64_t> publish_dropped{0};    // throttled or output queue full
    std::atomic<uint64_t> metrics{0};
    std::atomic<uint64_t> metrics_rejected{0};   // undeclared name or store queue full
    std::atomic<uint64_t> events{0};
    std::atomic<uint64_t> events_rejected{0};
    std::atomic<uint64_t> log_lines{0};
    std::atomic<uint64_t> record_throttled{0};   // metrics/events over the record budget (also *_rejected)
};

struct PluginContextOptions {
    std::string instance;
    ManifestInfo manifest;
    nlohmann::json config = nlohmann::json::object();
    int64_t run_id = 0;
    double publish_budget_per_s = 0;  // 0 = unlimited
    double record_budget_per_s = 0;   // metric samples + events per second; 0 = unlimited
    std::size_t log_tail_lines = 20;  // kept for incident reports
};

class PluginContext {
   public:
    PluginContext(PluginContextOptions opt, ResultStore* store, Publisher* publisher);
    ~PluginContext();
    PluginContext(const PluginContext&) = delete;
    PluginContext& operator=(const PluginContext&) = delete;

    // Set once the instance is registered in the store (before any callback runs).
    void set_record(PluginRecord rec);
    const PluginRecord& record() const noexcept { return record_; }

    // Optional policy hook: return false to refuse a publication on `topic` (trial grant).
    using TopicPolicy = std::function<bool(std::string_view topic)>;
    void set_publish_policy(TopicPolicy policy);

    // The C function table handed to the plugin, and the ctx pointer that goes with it.
    static const tb_host_api* api();
    void* c_context() noexcept { return this; }

    // The host API, in C++ terms (the C trampolines call these; so does the runner bridge).
    void log(int32_t level, std::string_view msg);
    tb_status publish(std::string_view topic, std::string_view data, int32_t content_type, std::string& why);
    tb_status record_metric(std::string_view name, std::string_view subject, double value, int64_t time_us,
                            std::string& why);
    tb_status record_event(int32_t severity, std::string_view kind, std::string_view subject,
                           std::string_view message, std::string_view detail_json, std::string& why);
    tb_status config_get(std::string_view key, std::string& value, std::string& why) const;

    // Record an event on behalf of the host about this plugin (incidents, refusals).
    void host_event(int32_t severity, const std::string& kind, const std::string& message,
                    const std::string& detail_json = {});

    const std::string& instance() const noexcept { return opt_.instance; }
    const ManifestInfo& manifest() const noexcept { return opt_.manifest; }
    const nlohmann::json& config() const noexcept { return opt_.config; }
    PluginCounters& counters() noexcept { return counters_; }
    const PluginCounters& counters() const noexcept { return counters_; }
    std::vector<std::string> log_tail() const;
    std::shared_ptr<spdlog::logger> log() const { return log_; }

   private:
    bool take_publish_token();
    bool take_record_token();

    PluginContextOptions opt_;
    ResultStore* store_;
    Publisher* publisher_;
    PluginRecord record_;
    std::shared_ptr<spdlog::logger> log_;
    PluginCounters counters_;

    mutable std::mutex mu_;
    TopicPolicy policy_;               // guarded by mu_
    std::deque<std::string> tail_;     // guarded by mu_
    double tokens_ = 0;                // guarded by mu_
    int64_t tokens_at_ns_ = 0;         // guarded by mu_
    double record_tokens_ = 0;         // guarded by mu_
    int64_t record_tokens_at_ns_ = 0;  // guarded by mu_
};

// Copy `msg` into a caller-owned tb_error (NULL-safe, truncating).
void fill_error(tb_error* err, tb_status code, std::string_view msg);

}  // namespace tb::host
