#include "feedsim/city_sim.hpp"
#include "support/test_support.hpp"

#include <testbed/senml.hpp>

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace tb::feedsim {
namespace {

host::TestbedConfig city() {
    auto cfg = host::load_testbed(test::testbed_dir("city-centre"));
    EXPECT_TRUE(cfg) << cfg.error().message;
    return cfg.value();
}

TEST(CitySim, SameSeedGivesByteIdenticalReadings) {
    const auto cfg = city();
    CitySim a(cfg, 7), b(cfg, 7), c(cfg, 8);
    bool differs = false;
    for (int i = 0; i < 2000; ++i) {
        const int64_t t = 1764300000000000 + int64_t{i} * 60'000'000;
        const auto ra = a.next(t), rb = b.next(t), rc = c.next(t);
        ASSERT_EQ(ra.topic, rb.topic);
        ASSERT_EQ(ra.payload, rb.payload);
        differs = differs || ra.payload != rc.payload;
    }
    EXPECT_TRUE(differs) << "a different seed must give different readings";
}

TEST(CitySim, CoversEverySensorOfEveryGroupWithValidSenml) {
    const auto cfg = city();
    CitySim sim(cfg, 1);
    std::set<std::string> topics;
    std::map<std::string, std::pair<double, double>> range;  // kind -> min, max
    std::size_t expected = 0;
    for (const auto& g : cfg.sensors) expected += static_cast<std::size_t>(g.count);
    ASSERT_EQ(sim.sensor_count(), expected);
    for (std::size_t i = 0; i < expected * 24; ++i) {
        // One reading per sensor per simulated hour over a day.
        const int64_t t = 1764300000000000 + static_cast<int64_t>(i / expected) * 3'600'000'000;
        const auto r = sim.next(t);
        topics.insert(r.topic);
        const auto pack = senml::parse(r.payload);
        ASSERT_EQ(pack.size(), 1u) << r.payload;
        ASSERT_TRUE(pack[0].value) << r.payload;
        EXPECT_NEAR(pack[0].time, static_cast<double>(t) / 1e6, 0.001);
        const auto* g = cfg.sensor_group_for(r.topic);
        ASSERT_NE(g, nullptr) << r.topic;
        EXPECT_EQ(pack[0].unit, g->unit);
        auto& [mn, mx] = range.try_emplace(g->kind, 1e300, -1e300).first->second;
        mn = std::min(mn, *pack[0].value);
        mx = std::max(mx, *pack[0].value);
    }
    EXPECT_EQ(topics.size(), expected);
    // Plausible physical ranges per kind.
    EXPECT_LT(range["groundwater"].second, 0.5);
    EXPECT_GT(range["groundwater"].first, -3.5);
    EXPECT_GE(range["parking"].first, 0.0);
    EXPECT_LE(range["parking"].second, 100.0);
    EXPECT_GE(range["footfall"].first, 0.0);
    EXPECT_GT(range["footfall"].second, range["footfall"].first) << "footfall must vary over the day";
}

}  // namespace
}  // namespace tb::feedsim
