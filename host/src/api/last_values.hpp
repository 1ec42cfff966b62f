// api/last_values.hpp: the latest message per feed topic, for the dashboard map (sensor states,
// drone positions) and GET /api/v1/latest.
//
// The feed receiver calls update() for every routed message, so it must be cheap: it stores a
// shared pointer to the already decoded, immutable message (no copy, no parsing) in one of 16
// shards, each with its own mutex, so a reader copying one shard never stalls the receiver for
// long. The number of topics is bounded; topics beyond the bound are not cached (counted).
// Thread safety: all methods may be called from any thread.
#pragma once

#include "bus/feed_message.hpp"

#include <array>
#include <atomic>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tb::host::api {

class LastValues {
   public:
    explicit LastValues(std::size_t max_topics = 20'000) : max_per_shard_(max_topics / kShards + 1) {}

    void update(const FeedMessagePtr& msg);

    // Latest message of every cached topic starting with `prefix`, sorted by topic.
    std::vector<FeedMessagePtr> with_prefix(std::string_view prefix) const;
    std::size_t size() const;
    uint64_t not_cached() const { return not_cached_.load(std::memory_order_relaxed); }

   private:
    static constexpr std::size_t kShards = 16;
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<std::string, FeedMessagePtr> last;  // guarded by mu
    };
    std::size_t max_per_shard_;
    std::array<Shard, kShards> shards_;
    std::atomic<uint64_t> not_cached_{0};
};

}  // namespace tb::host::api
