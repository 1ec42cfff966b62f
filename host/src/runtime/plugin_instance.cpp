#include "runtime/plugin_instance.hpp"

namespace tb::host {

std::string_view to_string(PluginState s) {
    switch (s) {
        case PluginState::created: return "created";
        case PluginState::running: return "running";
        case PluginState::suspended: return "suspended";
        case PluginState::stopping: return "stopping";
        case PluginState::stopped: return "stopped";
        case PluginState::failed: return "failed";
        case PluginState::restarting: return "restarting";
    }
    return "unknown";
}

nlohmann::json PluginInstance::base_stats_json() const {
    const auto& c = context().counters();
    auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    return {{"instance", name()},
            {"plugin_id", context().manifest().id},
            {"mode", mode()},
            {"state", to_string(state())},
            {"inbox_depth", inbox_depth()},
            {"offered", ld(c.offered)},
            {"delivered", ld(c.delivered)},
            {"dropped_inbox", ld(c.dropped_inbox)},
            {"dropped_not_running", ld(c.dropped_not_running)},
            {"callback_errors", ld(c.callback_errors)},
            {"bad_data", ld(c.bad_data)},
            {"ticks", ld(c.ticks)},
            {"published", ld(c.published)},
            {"publish_denied", ld(c.publish_denied)},
            {"publish_dropped", ld(c.publish_dropped)},
            {"metrics", ld(c.metrics)},
            {"metrics_rejected", ld(c.metrics_rejected)},
            {"events", ld(c.events)},
            {"events_rejected", ld(c.events_rejected)},
            {"record_throttled", ld(c.record_throttled)}};
}

}  // namespace tb::host
