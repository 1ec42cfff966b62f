#include "router/router.hpp"

#include "runtime/plugin_instance.hpp"

#include <algorithm>

namespace tb::host {

void Router::add(PluginInstance* target, std::vector<std::string> prefixes, Transform transform) {
    std::lock_guard lock(mu_);
    if (transform) transforms_[target] = std::move(transform);
    for (auto& p : prefixes) subs_.push_back({std::move(p), target});
    cache_.clear();
}

void Router::remove(PluginInstance* target) {
    std::lock_guard lock(mu_);
    subs_.erase(std::remove_if(subs_.begin(), subs_.end(), [&](const Subscription& s) { return s.target == target; }),
                subs_.end());
    transforms_.erase(target);
    cache_.clear();
}

const std::vector<PluginInstance*>& Router::lookup_locked(const std::string& topic) {
    if (auto it = cache_.find(topic); it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxCache) cache_.clear();  // bounded: many distinct topics cost a rebuild
    std::vector<PluginInstance*> out;
    for (const auto& s : subs_) {
        if (std::string_view(topic).substr(0, s.prefix.size()) == s.prefix &&
            std::find(out.begin(), out.end(), s.target) == out.end()) {
            out.push_back(s.target);
        }
    }
    return cache_.emplace(topic, std::move(out)).first->second;
}

std::size_t Router::dispatch(const FeedMessagePtr& msg) {
    std::lock_guard lock(mu_);
    const auto& targets = lookup_locked(msg->topic);
    for (auto* t : targets) {
        if (transforms_.empty()) {
            t->deliver(msg);
        } else if (auto it = transforms_.find(t); it != transforms_.end()) {
            t->deliver(it->second(msg));
        } else {
            t->deliver(msg);
        }
    }
    return targets.size();
}

std::vector<PluginInstance*> Router::targets(std::string_view topic) {
    std::lock_guard lock(mu_);
    return lookup_locked(std::string(topic));
}

std::size_t Router::cache_size() const {
    std::lock_guard lock(mu_);
    return cache_.size();
}

}  // namespace tb::host
