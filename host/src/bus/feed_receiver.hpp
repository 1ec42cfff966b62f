// bus/feed_receiver.hpp: the host's input. A ZeroMQ SUB socket bound to the testbed's ingest
// endpoints (publishers connect to it) and connected to any extra endpoints, read on the plugin
// worker pool, one read at a time (the design is in feed_receiver.cpp, on_readable()).
// It decodes each message (docs/wire-format.md), drops and counts malformed ones per reason,
// keeps per-source feed health (messages, bytes, sequence gaps, duplicates, out-of-order,
// last seen) and hands good messages to the router.
//
// Thread safety: start()/stop() from the main thread; snapshot functions from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bus/feed_message.hpp"
#include "common/result.hpp"
#include "store/result_store.hpp"
#include "wire/wire.hpp"

namespace zmq {
class context_t;
}
namespace boost::asio {
class io_context;
}

namespace tb::host {

struct ReceiverOptions {
    std::vector<std::string> bind;     // SUB binds (publishers connect here)
    std::vector<std::string> connect;  // SUB connects (to publishers or proxies that bind)
    bool validate_json = true;
    // Messages the ingest socket queues before ZeroMQ pushes back on publishers (their own send
    // queue then fills and drops, which the host sees as sequence gaps). Bounds host memory.
    int rcvhwm = 10'000;
    // Sources the testbed configures ([[sensors]] topics). They get a feed-health entry from the
    // start, so one that never sends goes stale stale_after_s after the receiver started.
    std::vector<std::string> expected_sources;
    // Seconds of silence after which a source counts as stale (0 = never); asked once per new
    // source, so the per-message path does no lookup.
    std::function<int64_t(std::string_view topic)> stale_after_s;
    // CURVE server (docs/feeds.md): when secret_z85 is set the SUB socket is a CURVE server and a
    // ZAP handler admits only publishers whose public key (Z85) is in authorized_keys.
    std::string curve_public_z85, curve_secret_z85;
    std::set<std::string> curve_authorized_keys;
};

// A change in a source's staleness, found by FeedReceiver::check_stale().
struct FeedStaleChange {
    std::string source;
    bool stale = false;        // true: went stale; false: recovered
    int64_t last_seen_us = 0;  // the last message before the silence, or the first after it
    int64_t silent_us = 0;     // how long it had been silent
    int64_t stale_after_s = 0;
    bool never_heard = false;  // went stale without a single message since the receiver started
};

struct ReceiverCounters {
    std::atomic<uint64_t> received{0};  // well-formed messages
    std::atomic<uint64_t> bytes{0};
    std::atomic<uint64_t> routed{0};      // had at least one target
    std::atomic<uint64_t> unrouted{0};    // no plugin subscribed
    std::atomic<uint64_t> deliveries{0};  // sum over targets
    std::array<std::atomic<uint64_t>, wire::kDropReasonCount> dropped{};
};

class FeedReceiver {
 public:
    using Sink = std::function<std::size_t(const FeedMessagePtr&)>;  // returns number of targets

    // Receives on `io` (the plugin worker pool), which must run until stop() has returned.
    static Result<std::unique_ptr<FeedReceiver>> start(zmq::context_t& ctx, ReceiverOptions opt,
                                                       Sink sink, boost::asio::io_context& io);
    ~FeedReceiver();
    void stop();  // waits until no receive is running or pending; idempotent

    const ReceiverCounters& counters() const;
    uint64_t dropped_total() const;
    std::map<std::string, uint64_t> drops_by_reason() const;
    std::vector<FeedHealthRow> feed_health() const;
    // Compare every source's last-seen time with `now_us`; mark and return the sources that went
    // stale or recovered since the last call (each transition is reported once).
    std::vector<FeedStaleChange> check_stale(int64_t now_us);
    // Every stale period of this run so far (the open ones with until_us = 0).
    std::vector<StalePeriod> stale_periods() const;
    // Client connections refused by the CURVE allow-list (ZAP).
    uint64_t curve_refused() const;
    // The reading worker runs the first due in-process drain itself (no thread hand-off). If that
    // callback has held the input for longer than `after`, make another worker the reader.
    // Called periodically by the host (its health thread); not concurrently with stop().
    void rescue_stalled_input(std::chrono::milliseconds after);
    uint64_t input_rescues() const;  // how often that happened

 private:
    FeedReceiver();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tb::host
