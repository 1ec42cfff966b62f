#include "api/last_values.hpp"

#include <algorithm>
#include <functional>

namespace tb::host::api {

void LastValues::update(const FeedMessagePtr& msg) {
    auto& shard = shards_[std::hash<std::string>{}(msg->topic) % kShards];
    std::lock_guard lock(shard.mu);
    auto it = shard.last.find(msg->topic);
    if (it != shard.last.end()) {
        it->second = msg;
    } else if (shard.last.size() < max_per_shard_) {
        shard.last.emplace(msg->topic, msg);
    } else {
        not_cached_.fetch_add(1, std::memory_order_relaxed);
    }
}

std::vector<FeedMessagePtr> LastValues::with_prefix(std::string_view prefix) const {
    std::vector<FeedMessagePtr> out;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard.mu);
        for (const auto& [topic, msg] : shard.last) {
            if (std::string_view(topic).substr(0, prefix.size()) == prefix) out.push_back(msg);
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->topic < b->topic; });
    return out;
}

std::size_t LastValues::size() const {
    std::size_t n = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard.mu);
        n += shard.last.size();
    }
    return n;
}

}  // namespace tb::host::api
