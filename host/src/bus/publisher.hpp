// bus/publisher.hpp: the host's output feed. Plugin publications are queued here and sent on a
// ZeroMQ PUB socket by the publisher's own thread (sockets are never shared between threads),
// in the same wire format as the input feeds.
// Thread safety: publish() and stats() may be called from any thread.
#pragma once

#include "common/result.hpp"
#include "wire/wire.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace zmq {
class context_t;
}

namespace tb::host {

class Publisher {
   public:
    // Bind a PUB socket at `endpoint` (e.g. "tcp://127.0.0.1:7601").
    static Result<std::unique_ptr<Publisher>> start(zmq::context_t& ctx, const std::string& endpoint,
                                                    std::size_t queue_capacity = 100'000);
    ~Publisher();

    // Queue a message; false when the queue is full (the caller counts the drop).
    bool publish(std::string_view topic, std::string_view payload, wire::ContentType type);
    uint64_t sent() const;
    void stop();

   private:
    Publisher();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tb::host
