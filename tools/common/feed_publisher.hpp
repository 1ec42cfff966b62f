// tools/common/feed_publisher.hpp: publish wire-format messages to a host (docs/wire-format.md).
//
// Used by the simulator, the replayer and the bridges. It connects (or binds) an XPUB socket and
// can wait until a subscriber is actually attached, so the first messages are not lost to
// ZeroMQ's "slow joiner" effect. Sequence numbers are kept per topic, starting at 1.
// Thread safety: one thread per FeedPublisher.
#pragma once

#include "common/result.hpp"
#include "wire/wire.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <optional>
#include <unordered_map>
#include <vector>

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace tb::tools {

struct FeedPublisherOptions {
    std::string endpoint;   // e.g. "tcp://127.0.0.1:7600"
    bool bind = false;      // false: connect to a host's ingest (the usual case)
    int sndhwm = 1'000'000; // messages queued before ZeroMQ drops
    // CURVE client (docs/feeds.md): both set, or neither. The server key is 40 Z85 characters or
    // a NAME.pub file; the client key file is a NAME.key from `testbed keys new`.
    std::string curve_server_key;
    std::string curve_client_key_file;
};

class FeedPublisher {
   public:
    static host::Result<std::unique_ptr<FeedPublisher>> open(FeedPublisherOptions opt);
    ~FeedPublisher();

    // Wait until at least one subscriber has subscribed; false on timeout.
    bool wait_for_subscriber(std::chrono::milliseconds timeout);

    // Send one message; sequence is assigned per topic unless `sequence` is given.
    bool send(std::string_view topic, std::string_view payload, wire::ContentType type, int64_t source_time_us,
              std::optional<uint64_t> sequence = std::nullopt);
    // Send raw frames (for replaying recordings and for tests of malformed input).
    bool send_frames(const std::vector<std::string>& frames);

    uint64_t sent() const noexcept { return sent_; }
    // Give queued messages time to leave before the socket closes (linger).
    void close(std::chrono::milliseconds linger = std::chrono::milliseconds(2000));

   private:
    FeedPublisher();
    std::unique_ptr<zmq::context_t> ctx_;
    std::unique_ptr<zmq::socket_t> sock_;
    std::unordered_map<std::string, uint64_t> seq_;
    uint64_t sent_ = 0;
};

}  // namespace tb::tools
