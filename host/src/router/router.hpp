// router/router.hpp: decides which plugin instances receive a feed message.
//
// A plugin subscribes to topic prefixes (its manifest's `reads`, narrowed by its trial's grant).
// The router matches on the topic alone and never looks at a payload. The set of targets for a
// topic is computed once and cached, so routing costs one hash lookup per message however many
// plugins and prefixes there are; the cache is bounded and rebuilt when subscriptions change.
//
// Thread safety: dispatch() is called by the single feed-receiver thread. add()/remove() are
// called from the main thread; they take a lock that dispatch also takes (uncontended in the
// steady state).
#pragma once

#include "bus/feed_message.hpp"

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tb::host {

class PluginInstance;

class Router {
   public:
    // Optional per-target rewrite of a message before delivery (governance: per-trial pseudonyms
    // of household ids). Returns the message to deliver (the same pointer when untouched).
    using Transform = std::function<FeedMessagePtr(const FeedMessagePtr&)>;

    void add(PluginInstance* target, std::vector<std::string> prefixes, Transform transform = {});
    void remove(PluginInstance* target);

    // Deliver to every matching target (once each). Returns the number of targets.
    std::size_t dispatch(const FeedMessagePtr& msg);

    // Targets for `topic` (for tests and the API).
    std::vector<PluginInstance*> targets(std::string_view topic);

    std::size_t cache_size() const;

   private:
    struct Subscription {
        std::string prefix;
        PluginInstance* target;
    };
    const std::vector<PluginInstance*>& lookup_locked(const std::string& topic);

    static constexpr std::size_t kMaxCache = 100'000;
    mutable std::mutex mu_;
    std::vector<Subscription> subs_;                                    // guarded by mu_
    std::unordered_map<std::string, std::vector<PluginInstance*>> cache_;  // guarded by mu_
    std::unordered_map<PluginInstance*, Transform> transforms_;           // guarded by mu_
};

}  // namespace tb::host
