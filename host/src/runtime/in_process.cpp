#include "runtime/in_process.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "runtime/inline_delivery.hpp"
#include "runtime/latency_histogram.hpp"

namespace tb::host {

tb_status call_on_message(const tb_plugin_desc& desc, void* self, const FeedMessage& msg,
                          std::string& error_text) {
    tb_message m{};
    m.struct_size = sizeof m;
    m.content_type = static_cast<uint16_t>(msg.header.content_type);
    m.topic = msg.topic.c_str();
    m.topic_len = msg.topic.size();
    m.payload = msg.payload.data();
    m.payload_size = msg.payload.size();
    m.sequence = msg.header.sequence;
    m.source_time_us = msg.header.source_time_us;
    m.receive_time_us = msg.receive_time_us;
    tb_error err{};
    err.struct_size = sizeof err;
    const tb_status rc = desc.on_message(self, &m, &err);
    if (rc != TB_OK) {
        err.message[sizeof err.message - 1] = '\0';
        error_text = err.message;
    }
    return rc;
}

void add_runtime_stats(nlohmann::json& j, const LatencyHistogram& callback_ns,
                       const LatencyHistogram& latency_ns, const InboxOptions& inbox) {
    j["callback_p50_us"] = static_cast<double>(callback_ns.percentile_ns(0.50)) / 1000.0;
    j["callback_p99_us"] = static_cast<double>(callback_ns.percentile_ns(0.99)) / 1000.0;
    j["latency_p50_us"] = static_cast<double>(latency_ns.percentile_ns(0.50)) / 1000.0;
    j["latency_p99_us"] = static_cast<double>(latency_ns.percentile_ns(0.99)) / 1000.0;
    j["inbox_capacity"] = inbox.capacity;
    j["overflow"] = inbox.overflow == OverflowPolicy::drop_newest ? "drop_newest" : "drop_oldest";
}

namespace {

namespace asio = boost::asio;

class InProcessInstance final : public PluginInstance, public InlineRunnable {
 public:
    InProcessInstance(std::shared_ptr<PluginLibrary> lib, std::unique_ptr<PluginContext> ctx,
                      Executor& ex, InboxOptions inbox)
        : PluginInstance(std::move(ctx)),
          lib_(std::move(lib)),
          desc_(lib_->desc()),
          strand_(asio::make_strand(ex.io())),
          timer_(strand_),
          opt_(inbox) {}

    ~InProcessInstance() override {
        if (self_ != nullptr) stop(std::chrono::milliseconds(0));
    }

    std::string_view mode() const override { return "in-process"; }

    Status start() override {
        auto& ctx = context();
        tb_error err{};
        err.struct_size = sizeof err;
        const std::string config = ctx.config().dump();
        self_ = desc_.create(PluginContext::api(), ctx.c_context(), config.c_str(), &err);
        err.message[sizeof err.message - 1] = '\0';
        if (self_ == nullptr) {
            state_.store(PluginState::failed);
            return Error{"plugin '" + name() + "' (" + lib_->file().string() +
                             "): create failed: " +
                             (err.message[0] ? std::string(err.message) : "no message") +
                             " (code " + std::to_string(err.code) + ")",
                         "create"};
        }
        if (desc_.start != nullptr) {
            err = tb_error{};
            err.struct_size = sizeof err;
            if (const tb_status rc = desc_.start(self_, &err); rc != TB_OK) {
                err.message[sizeof err.message - 1] = '\0';
                desc_.destroy(self_);
                self_ = nullptr;
                state_.store(PluginState::failed);
                return Error{"plugin '" + name() + "': start failed: " + std::string(err.message) +
                                 " (code " + std::to_string(rc) + ")",
                             "start"};
            }
        }
        state_.store(PluginState::running);
        if (ctx.manifest().tick_interval_ms > 0 && desc_.on_tick != nullptr) schedule_tick();
        return {};
    }

    void deliver(const FeedMessagePtr& msg) override {
        auto& c = context().counters();
        c.offered.fetch_add(1, std::memory_order_relaxed);
        if (state_.load(std::memory_order_acquire) != PluginState::running) {
            c.dropped_not_running.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        bool post = false;
        {
            std::lock_guard lock(mu_);
            if (inbox_.size() >= opt_.capacity) {
                c.dropped_inbox.fetch_add(1, std::memory_order_relaxed);
                if (opt_.overflow == OverflowPolicy::drop_newest) return;
                inbox_.pop_front();
            }
            inbox_.push_back(msg);
            if (!scheduled_) {
                scheduled_ = true;
                post = true;
            }
        }
        if (!post) return;
        // The feed receiver runs the drain on its own thread when this plugin's callbacks have
        // been quick lately (runtime/inline_delivery.hpp); otherwise a worker runs it.
        const bool quick =
            msg->receive_mono_ns >= no_inline_until_ns_.load(std::memory_order_relaxed);
        if (!quick || !InlineSlot::claim(this)) asio::post(strand_, [this] { drain(); });
    }

    void run_drain(bool here) override {
        if (here) {
            asio::dispatch(strand_, [this] { drain(); });  // not in any strand: runs now if idle
        } else {
            asio::post(strand_, [this] { drain(); });
        }
    }

    void set_suspended(bool suspended) override {
        PluginState expected = suspended ? PluginState::running : PluginState::suspended;
        if (state_.compare_exchange_strong(
                expected, suspended ? PluginState::suspended : PluginState::running) &&
            suspended) {
            // Messages still waiting were routed before the stop; they must not reach the plugin.
            std::lock_guard lock(mu_);
            context().counters().dropped_not_running.fetch_add(inbox_.size(),
                                                               std::memory_order_relaxed);
            inbox_.clear();
        }
    }

    bool wait_idle(std::chrono::milliseconds timeout) override {
        // A barrier on the strand: it runs after the callback (or drain batch) in flight, and a
        // batch re-checks the state before every message, so nothing is delivered after it.
        auto done = std::make_shared<std::promise<void>>();
        auto fut = done->get_future();
        asio::post(strand_, [done] { done->set_value(); });
        return fut.wait_for(timeout) == std::future_status::ready;
    }

    void stop(std::chrono::milliseconds drain_timeout) override {
        if (self_ == nullptr) return;
        // Let the inbox drain (bounded in time), then no more deliveries.
        {
            std::unique_lock lock(mu_);
            drained_.wait_for(lock, drain_timeout, [&] { return inbox_.empty() && !scheduled_; });
            state_.store(PluginState::stopping);
            context().counters().dropped_not_running.fetch_add(inbox_.size(),
                                                               std::memory_order_relaxed);
            inbox_.clear();
        }
        // Run the plugin's stop() on its strand, after any callback in flight.
        run_on_strand([this] {
            timer_.cancel();
            if (desc_.stop != nullptr) {
                tb_error err{};
                err.struct_size = sizeof err;
                if (desc_.stop(self_, &err) != TB_OK) {
                    err.message[sizeof err.message - 1] = '\0';
                    context().log()->warn("stop() failed: {}", err.message);
                }
            }
        });
        // A drain or a cancelled tick may still be queued on the strand and would touch this
        // object; wait until none is left before the instance can be destroyed.
        for (;;) {
            bool idle = false;
            run_on_strand([&] {
                std::lock_guard lock(mu_);
                idle = !scheduled_ && !tick_pending_;
            });
            if (idle) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        desc_.destroy(self_);
        self_ = nullptr;
        state_.store(PluginState::stopped);
    }

    PluginState state() const override { return state_.load(); }

    std::size_t inbox_depth() const override {
        std::lock_guard lock(mu_);
        return inbox_.size();
    }

    nlohmann::json stats_json() const override {
        auto j = base_stats_json();
        add_runtime_stats(j, callback_ns_, latency_ns_, opt_);
        return j;
    }

 private:
    static constexpr std::size_t kBatch = 256;
    // A callback longer than this keeps the plugin's drains off the feed receiver's thread for
    // kInlinePauseNs: a slow plugin must not slow the input of every other.
    static constexpr int64_t kInlineMaxCallbackNs = 200'000;
    static constexpr int64_t kInlinePauseNs = 1'000'000'000;
    // A callback longer than this is named in the log: it held a worker, and maybe the feed input
    // (the feed receiver takes the input back from a callback after as long).
    static constexpr int64_t kSlowCallbackNs = 50'000'000;

    void warn_slow(const FeedMessage& m, int64_t ns) {
        const uint64_t n = slow_callbacks_++;
        if (n < 5 || n % 1000 == 0) {
            context().log()->warn(
                "on_message took {} ms on '{}' (#{}): an in-process callback this slow holds a "
                "worker thread, and the feed input while it runs on the reading worker; make it "
                "quicker or run the plugin with isolation = \"process\"",
                ns / 1'000'000, m.topic, n + 1);
        }
    }

    void drain() {
        batch_.clear();
        {
            std::lock_guard lock(mu_);
            const std::size_t n = std::min(kBatch, inbox_.size());
            for (std::size_t i = 0; i < n; ++i) {
                batch_.push_back(std::move(inbox_.front()));
                inbox_.pop_front();
            }
            if (batch_.empty()) {
                scheduled_ = false;
                drained_.notify_all();
                return;
            }
        }
        auto& c = context().counters();
        for (const auto& m : batch_) {
            if (state_.load(std::memory_order_acquire) != PluginState::running) {
                c.dropped_not_running.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            const int64_t t0 = mono_ns();
            latency_ns_.record(t0 - m->receive_mono_ns);
            const tb_status rc = call_on_message(desc_, self_, *m, error_text_);
            const int64_t t1 = mono_ns();
            callback_ns_.record(t1 - t0);
            if (t1 - t0 > kInlineMaxCallbackNs) {
                no_inline_until_ns_.store(t1 + kInlinePauseNs, std::memory_order_relaxed);
                if (t1 - t0 > kSlowCallbackNs) warn_slow(*m, t1 - t0);
            }
            c.delivered.fetch_add(1, std::memory_order_relaxed);
            if (rc == TB_E_BAD_DATA) {
                const uint64_t n = c.bad_data.fetch_add(1, std::memory_order_relaxed);
                if (n < 5 || n % 10000 == 0)
                    context().log()->warn("bad data on '{}': {} (#{})", m->topic, error_text_,
                                          n + 1);
            } else if (rc != TB_OK) {
                const uint64_t n = c.callback_errors.fetch_add(1, std::memory_order_relaxed);
                if (n < 5 || n % 10000 == 0) {
                    context().log()->error("on_message failed on '{}': {} (code {}, #{})", m->topic,
                                           error_text_, rc, n + 1);
                }
            }
        }
        batch_.clear();
        {
            // Done when nothing came in meanwhile (no second trip through the scheduler per
            // message at low rates); otherwise yield the thread so other strands get their turn.
            std::lock_guard lock(mu_);
            if (inbox_.empty()) {
                scheduled_ = false;
                drained_.notify_all();
                return;
            }
        }
        asio::post(strand_, [this] { drain(); });
    }

    template <class Fn>
    void run_on_strand(Fn&& fn) {
        std::promise<void> done;
        asio::post(strand_, [&] {
            fn();
            done.set_value();
        });
        done.get_future().wait();
    }

    void schedule_tick() {
        tick_pending_ = true;
        timer_.expires_after(std::chrono::milliseconds(context().manifest().tick_interval_ms));
        timer_.async_wait([this](const boost::system::error_code& ec) {
            tick_pending_ = false;
            if (ec || state_.load() == PluginState::stopping ||
                state_.load() == PluginState::stopped)
                return;
            if (state_.load() == PluginState::running) {
                tb_error err{};
                err.struct_size = sizeof err;
                context().counters().ticks.fetch_add(1, std::memory_order_relaxed);
                if (desc_.on_tick(self_, now_us(), &err) != TB_OK) {
                    err.message[sizeof err.message - 1] = '\0';
                    context().counters().callback_errors.fetch_add(1, std::memory_order_relaxed);
                    context().log()->error("on_tick failed: {}", err.message);
                }
            }
            schedule_tick();
        });
    }

    std::shared_ptr<PluginLibrary> lib_;
    const tb_plugin_desc& desc_;
    asio::strand<asio::io_context::executor_type> strand_;
    asio::steady_timer timer_;
    InboxOptions opt_;
    void* self_ = nullptr;
    std::atomic<PluginState> state_{PluginState::created};

    mutable std::mutex mu_;
    std::condition_variable drained_;
    std::deque<FeedMessagePtr> inbox_;  // guarded by mu_
    bool scheduled_ = false;            // guarded by mu_
    bool tick_pending_ = false;         // strand only (read under a strand barrier)

    std::vector<FeedMessagePtr> batch_;  // strand only
    std::string error_text_;             // strand only
    uint64_t slow_callbacks_ = 0;        // strand only
    LatencyHistogram callback_ns_, latency_ns_;
    std::atomic<int64_t> no_inline_until_ns_{0};  // mono ns
};

}  // namespace

std::unique_ptr<PluginInstance> make_in_process_instance(std::shared_ptr<PluginLibrary> library,
                                                         std::unique_ptr<PluginContext> context,
                                                         Executor& executor, InboxOptions inbox) {
    return std::make_unique<InProcessInstance>(std::move(library), std::move(context), executor,
                                               inbox);
}

}  // namespace tb::host
