#include "router/router.hpp"

#include "runtime/plugin_instance.hpp"

#include <gtest/gtest.h>

#include <atomic>

namespace tb::host {
namespace {

// Counts what the router hands it; no plugin behind it.
class CountingInstance final : public PluginInstance {
   public:
    explicit CountingInstance(const std::string& name)
        : PluginInstance(std::make_unique<PluginContext>(PluginContextOptions{name, {}, {}, 0}, nullptr, nullptr)) {}
    std::string_view mode() const override { return "test"; }
    Status start() override { return {}; }
    void deliver(const FeedMessagePtr& m) override { topics.push_back(m->topic); }
    void set_suspended(bool) override {}
    void stop(std::chrono::milliseconds) override {}
    PluginState state() const override { return PluginState::running; }
    std::size_t inbox_depth() const override { return 0; }
    nlohmann::json stats_json() const override { return base_stats_json(); }
    std::vector<std::string> topics;
};

FeedMessagePtr msg(const std::string& topic) {
    auto m = std::make_shared<FeedMessage>();
    m->topic = topic;
    return m;
}

TEST(Router, DeliversByPrefixOnlyToMatchingPlugins) {
    Router r;
    CountingInstance gw("gw"), all("all"), parking("parking");
    r.add(&gw, {"sensor/groundwater/"});
    r.add(&all, {"sensor/"});
    r.add(&parking, {"sensor/parking/"});
    EXPECT_EQ(r.dispatch(msg("sensor/groundwater/GW-0001")), 2u);
    EXPECT_EQ(r.dispatch(msg("sensor/parking/PG-0001")), 2u);
    EXPECT_EQ(r.dispatch(msg("drone/7/position")), 0u);
    EXPECT_EQ(gw.topics, std::vector<std::string>{"sensor/groundwater/GW-0001"});
    EXPECT_EQ(parking.topics, std::vector<std::string>{"sensor/parking/PG-0001"});
    EXPECT_EQ(all.topics.size(), 2u);
}

TEST(Router, OverlappingPrefixesOfOnePluginDeliverOnce) {
    Router r;
    CountingInstance p("p");
    r.add(&p, {"sensor/", "sensor/groundwater/", "sensor/groundwater/GW-"});
    EXPECT_EQ(r.dispatch(msg("sensor/groundwater/GW-0001")), 1u);
    EXPECT_EQ(p.topics.size(), 1u);
}

TEST(Router, PrefixIsNotASubstringMatch) {
    Router r;
    CountingInstance p("p");
    r.add(&p, {"sensor/air/"});
    EXPECT_EQ(r.dispatch(msg("sensor/airport/X")), 0u);
    EXPECT_EQ(r.dispatch(msg("xsensor/air/X")), 0u);
    EXPECT_EQ(r.dispatch(msg("sensor/air/AQ-1")), 1u);
}

TEST(Router, CacheIsRebuiltWhenSubscriptionsChange) {
    Router r;
    CountingInstance a("a"), b("b");
    r.add(&a, {"sensor/"});
    EXPECT_EQ(r.targets("sensor/x").size(), 1u);
    r.add(&b, {"sensor/"});
    EXPECT_EQ(r.targets("sensor/x").size(), 2u);
    r.remove(&a);
    auto t = r.targets("sensor/x");
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0], &b);
}

TEST(Router, ManyDistinctTopicsStayBounded) {
    Router r;
    CountingInstance p("p");
    r.add(&p, {"sensor/"});
    for (int i = 0; i < 120'000; ++i) r.dispatch(msg("sensor/groundwater/GW-" + std::to_string(i)));
    EXPECT_EQ(p.topics.size(), 120'000u);
    EXPECT_LE(r.cache_size(), 100'000u);
}

}  // namespace
}  // namespace tb::host
