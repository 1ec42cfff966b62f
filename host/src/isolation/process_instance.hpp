// isolation/process_instance.hpp: a plugin instance that runs in its own testbed-runner process.
//
// The second implementation of PluginInstance (the first is in_process.hpp). The host keeps the
// plugin's PluginContext, so every host API call the runner forwards is checked and counted
// exactly as in-process. Each instance owns one I/O thread that spawns and watches the runner
// (pidfd, waitpid), feeds it messages from the bounded inbox (same overflow policy as
// in-process) with a small window in flight, runs the callback watchdog, records an incident
// when the runner dies, hangs, exceeds a limit or breaks the protocol, and restarts it with
// exponential back-off and jitter until the restart budget is spent (then the state is `failed`
// and a MAJOR event is recorded). Messages arriving while the runner is down are counted in
// dropped_not_running for this plugin only. Details: docs/isolation.md.
//
// Thread safety: as PluginInstance (deliver() and observers from any thread, start()/stop() on
// the host's main thread).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "isolation/incidents.hpp"
#include "runtime/in_process.hpp"
#include "runtime/plugin_instance.hpp"

namespace tb::host {

struct ProcessOptions {
    int64_t run_id = 0;                 // for incident rows
    std::filesystem::path runner;       // the testbed-runner executable
    std::filesystem::path plugin_file;  // the plugin .so (absolute)
    std::filesystem::path socket_dir;   // where the ipc socket files go (default: temp dir)
    InboxOptions inbox;
    int restart_max = 5;
    std::chrono::milliseconds restart_backoff{200};
    std::chrono::milliseconds restart_backoff_max{30000};
    // A runner that stays up this long gets its restart budget back (0 = never: counts per run).
    std::chrono::seconds restart_reset{300};
    std::chrono::milliseconds callback_deadline{2000};
    std::chrono::milliseconds start_timeout{10000};  // spawn + load + create + start
    uint64_t memory_limit_mb = 0;                    // 0 = none
    uint64_t cpu_limit_s = 0;                        // 0 = none
    int nice = 10;  // nice steps below the host: the runner yields the CPU to the host
    uint32_t tick_interval_ms = 0;   // 0 = the plugin has no on_tick
    std::size_t window = 2048;       // messages sent to the runner before their replies arrive
    double record_budget_per_s = 0;  // mirrored by the runner for its one-way records (0 = none)
};

std::unique_ptr<PluginInstance> make_process_instance(std::unique_ptr<PluginContext> context,
                                                      ProcessOptions options,
                                                      IncidentSink incidents);

// The testbed-runner next to the running executable (or $TB_RUNNER when set).
std::filesystem::path default_runner_path();

// Options for running `lib` isolated, from its [[plugins]] entry (nullptr: the defaults). Shared by
// the host (testbed.toml plugins) and governance (trial plugins) so both isolate the same way.
ProcessOptions process_options_for(const PluginSpec* spec, int64_t run_id,
                                   const PluginLibrary& lib);

}  // namespace tb::host
