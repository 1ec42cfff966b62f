// governance/governor.hpp: the host side of governance. Runs the plugins of the trials that are
// approved for this testbed and inside their window, exactly as approved, and follows staff
// decisions while the host runs.
//
// On start it loads, for each live trial of the testbed whose window is open, the trial's exact
// plugin file (its SHA-256 is checked before the library is even opened; a changed file is
// refused with an event and an audit row), subscribes it to the granted read prefixes only,
// installs the granted publish prefixes as the publish policy, and gives it per-trial pseudonyms
// for personal sensor groups. A governance thread then polls the database (PRAGMA data_version
// on its own read connection, every `poll` interval) and applies changes without a restart:
// suspend/resume within one poll plus one callback, window start (approved -> active), window
// end (stop + completed), trials approved or completed while running. Its own transitions and
// enforcement acknowledgements are audited with actor "host".
//
// Libraries: after start() the governance thread is the only thread that opens or closes plugin
// libraries (the main thread does so only before start() and after stop()), which keeps the
// loader's single-loader rule.
// Thread safety: create/start/stop on the host's main thread; instances()/stats() from any thread.
#pragma once

#include "common/result.hpp"
#include "config/testbed_config.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <vector>

namespace tb::host {

class SqliteStore;
class Publisher;
class Executor;
class Router;
class PluginInstance;

struct GovernorOptions {
    std::filesystem::path db;
    std::filesystem::path plugin_dir;
    int64_t run_id = 0;
    std::chrono::milliseconds poll{10};
    // Windows are checked at least this often even when the database does not change.
    std::chrono::milliseconds window_check{200};
};

class Governor {
   public:
    static Result<std::unique_ptr<Governor>> create(const TestbedConfig& cfg, GovernorOptions opt, SqliteStore* store,
                                                    Publisher* publisher, Executor& executor, Router& router);
    ~Governor();

    // Start the trials whose window is open and the governance thread.
    Status start();
    // Stop the thread, then every trial plugin (draining up to `drain_timeout`). Idempotent.
    void stop(std::chrono::milliseconds drain_timeout);

    // Every trial plugin instance created so far (alive until stop()).
    std::vector<PluginInstance*> instances() const;
    std::size_t running_trials() const;

   private:
    Governor();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tb::host
