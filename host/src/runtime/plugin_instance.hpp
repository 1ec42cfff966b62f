// runtime/plugin_instance.hpp: the one interface the router and the host use to drive a plugin,
// whatever runs it. Implementations: in-process (in_process.hpp: the plugin's callbacks run on
// an Asio strand in this process) and, later, an isolated runner process. The router only ever
// calls deliver(); it never knows which implementation it talks to.
//
// Thread safety: deliver() and the observers may be called from any thread; start() and stop()
// only from the host's main thread.
#pragma once

#include "bus/feed_message.hpp"
#include "common/result.hpp"
#include "runtime/plugin_context.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace tb::host {

// restarting: an isolated plugin's runner died and waits for its back-off to end (ABI-free; appended).
enum class PluginState { created = 1, running = 2, suspended = 3, stopping = 4, stopped = 5, failed = 6, restarting = 7 };
std::string_view to_string(PluginState s);

class PluginInstance {
   public:
    virtual ~PluginInstance() = default;

    virtual std::string_view mode() const = 0;  // "in-process" or "process"

    // Create the plugin object and call its start(). Main thread.
    virtual Status start() = 0;

    // Hand over one message. Never blocks: when the inbox is full the overflow policy decides
    // what is dropped, and the drop is counted.
    virtual void deliver(const FeedMessagePtr& msg) = 0;

    // Pause/resume delivery (the emergency stop). While suspended, messages are counted in
    // dropped_not_running and never reach the plugin; messages already in the inbox are discarded.
    virtual void set_suspended(bool suspended) = 0;

    // Wait up to `timeout` until no plugin callback is in flight (after set_suspended(true): from
    // then on the plugin receives nothing more). True when idle. Any thread except the plugin's.
    virtual bool wait_idle(std::chrono::milliseconds timeout) {
        (void)timeout;
        return true;
    }

    // Drain the inbox (up to `drain_timeout`), call the plugin's stop() and destroy it. Main thread.
    virtual void stop(std::chrono::milliseconds drain_timeout) = 0;

    virtual PluginState state() const = 0;
    virtual std::size_t inbox_depth() const = 0;
    // Counters, callback latency percentiles and state as JSON (for the summary, API and store).
    virtual nlohmann::json stats_json() const = 0;

    PluginContext& context() noexcept { return *context_; }
    const PluginContext& context() const noexcept { return *context_; }
    const std::string& name() const noexcept { return context_->instance(); }

   protected:
    explicit PluginInstance(std::unique_ptr<PluginContext> ctx) : context_(std::move(ctx)) {}
    nlohmann::json base_stats_json() const;

   private:
    std::unique_ptr<PluginContext> context_;
};

}  // namespace tb::host
