// runtime/in_process.hpp: a plugin instance that runs inside the host process.
//
// Each instance has its own Asio strand on the shared Executor, so its callbacks never run
// concurrently (the plugin needs no locks) while different plugins run in parallel, and one
// slow plugin does not stall the others. Messages wait in a bounded inbox; when it is full the
// overflow policy (drop_newest or drop_oldest) decides which message is dropped, and the drop
// is counted. A trusted plugin shares the host's fate: use the isolated runner for code you do
// not control.
// Thread safety: as PluginInstance.
#pragma once

#include "config/testbed_config.hpp"
#include "loader/plugin_library.hpp"
#include "runtime/executor.hpp"
#include "runtime/plugin_instance.hpp"

#include <memory>

namespace tb::host {

struct InboxOptions {
    std::size_t capacity = 10000;
    OverflowPolicy overflow = OverflowPolicy::drop_newest;
};

std::unique_ptr<PluginInstance> make_in_process_instance(std::shared_ptr<PluginLibrary> library,
                                                         std::unique_ptr<PluginContext> context,
                                                         Executor& executor, InboxOptions inbox);

class LatencyHistogram;

// Add the figures every runtime reports (callback and delivery latency percentiles, inbox
// settings) to a stats_json object, so in-process and isolated plugins read the same.
void add_runtime_stats(nlohmann::json& j, const LatencyHistogram& callback_ns, const LatencyHistogram& latency_ns,
                       const InboxOptions& inbox);

// Call on_message for one message and account for the result (shared with the runner process).
// Returns the plugin's status; `error_text` receives its message on failure.
tb_status call_on_message(const tb_plugin_desc& desc, void* self, const FeedMessage& msg, std::string& error_text);

}  // namespace tb::host
