// bus/feed_message.hpp: one decoded feed message, immutable and shared by every plugin it is
// delivered to. Thread safety: immutable after construction.
#pragma once

#include "wire/wire.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace tb::host {

struct FeedMessage {
    std::string topic;
    std::string payload;
    wire::Header header;
    int64_t receive_time_us = 0;
    int64_t receive_mono_ns = 0;  // for latency measurement
};
using FeedMessagePtr = std::shared_ptr<const FeedMessage>;

}  // namespace tb::host
