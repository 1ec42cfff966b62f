// host/host.hpp: one testbed host. Reads the testbed, opens the results store, loads and starts
// the plugins, receives feeds and routes them, and on stop shuts everything down in order:
// input closed, inboxes drained, plugins stopped, results flushed, run summary recorded.
//
// Thread safety: construct, start() and stop() on the main thread. request_stop() and
// snapshot() may be called from any thread.
#pragma once

#include "bus/feed_message.hpp"
#include "common/result.hpp"
#include "config/testbed_config.hpp"
#include "store/result_store.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tb::host {

inline constexpr const char* kHostVersion = "0.1.0";

struct HostOptions {
    std::filesystem::path testbed;          // folder or testbed.toml
    std::filesystem::path db = "results.db";
    std::filesystem::path plugin_dir;       // where bare library names are found
    std::vector<std::string> ingest;        // overrides [host] ingest when not empty
    std::optional<std::string> output;      // overrides [host] output ("" disables)
    std::filesystem::path status_file;      // if set: JSON status rewritten after each commit
    std::chrono::milliseconds drain_timeout{2000};
    // Development/rehearsal mode: also run testbed.toml [[plugins]] entries that have no trial
    // (ungoverned, logged as such). Without it only approved trials run (docs/governance.md).
    bool dev = false;
};

class Host {
   public:
    // Load the testbed and plugins and open the store; nothing runs yet.
    static Result<std::unique_ptr<Host>> create(HostOptions options);
    ~Host();

    // Start plugins, output and input. After this, messages flow.
    Status start();
    // Orderly shutdown; returns the run summary. Idempotent.
    nlohmann::json stop();

    // Live figures (counters, per-plugin stats) as JSON.
    nlohmann::json snapshot() const;
    // Per-source feed health so far (empty before start()). Any thread.
    std::vector<FeedHealthRow> feed_health() const;
    // Called on the feed-receiver thread with every well-formed message before it is routed
    // (the API's last-value cache). Must be cheap and must not block. Set before start().
    void set_feed_observer(std::function<void(const FeedMessagePtr&)> observer);
    const TestbedConfig& testbed() const;
    int64_t run_id() const;

   private:
    Host();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// One-paragraph human summary of a run's JSON summary (printed at exit).
std::string format_summary(const nlohmann::json& summary);

}  // namespace tb::host
