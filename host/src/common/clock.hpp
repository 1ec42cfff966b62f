// common/clock.hpp: wall-clock and monotonic time in the units that cross our interfaces.
// Thread safety: stateless.
#pragma once

#include <chrono>
#include <cstdint>

namespace tb::host {

// Microseconds since the Unix epoch (wall clock; stored in the database and on the wire).
inline int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Nanoseconds of the monotonic clock (for durations and latencies only).
inline int64_t mono_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace tb::host
