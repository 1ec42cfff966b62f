// runtime/latency_histogram.hpp: a lock-free histogram of durations for p50/p99 figures.
//
// Buckets are log-linear (8 sub-buckets per power of two), so a percentile is accurate to about
// 12% of its value from 1 ns to about 1 hour. Thread safety: record() and percentile_ns() may be
// called concurrently from any thread.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace tb::host {

class LatencyHistogram {
   public:
    void record(int64_t ns) {
        const auto v = static_cast<uint64_t>(ns < 1 ? 1 : ns);
        buckets_[index(v)].fetch_add(1, std::memory_order_relaxed);
        count_.fetch_add(1, std::memory_order_relaxed);
    }
    uint64_t count() const { return count_.load(std::memory_order_relaxed); }
    // The value below which fraction `q` (0..1) of samples fall; 0 when empty.
    int64_t percentile_ns(double q) const {
        const uint64_t n = count();
        if (n == 0) return 0;
        auto target = static_cast<uint64_t>(q * static_cast<double>(n));
        if (target >= n) target = n - 1;
        uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) {
            seen += buckets_[i].load(std::memory_order_relaxed);
            if (seen > target) return static_cast<int64_t>(upper(i));
        }
        return static_cast<int64_t>(upper(kBuckets - 1));
    }

   private:
    static constexpr int kSub = 8;
    static constexpr std::size_t kBuckets = 64 * kSub;
    static std::size_t index(uint64_t v) {
        const int msb = 63 - std::countl_zero(v);
        if (msb < 3) return static_cast<std::size_t>(v);
        const auto sub = static_cast<std::size_t>((v >> (msb - 3)) & (kSub - 1));
        return static_cast<std::size_t>(msb) * kSub + sub;
    }
    static uint64_t upper(std::size_t i) {
        if (i < kSub) return i;
        const std::size_t msb = i / kSub, sub = i % kSub;
        return ((uint64_t{kSub} + sub + 1) << (msb - 3)) - 1;
    }
    std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
    std::atomic<uint64_t> count_{0};
};

}  // namespace tb::host
