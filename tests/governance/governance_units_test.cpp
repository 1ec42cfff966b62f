// Unit checks of the governance building blocks (issue 5): time parsing, legal transitions,
// grant containment, pseudonymisation. The end-to-end rules are tested through the real CLI and
// host in trial_cli_test.cpp and governed_host_test.cpp.
#include "config/testbed_config.hpp"
#include "governance/pseudonym.hpp"
#include "governance/time_parse.hpp"
#include "governance/trial.hpp"

#include <gtest/gtest.h>

namespace tb::host::gov {
namespace {

TEST(GovernanceUnits, ParsesIsoWithZoneAndUnixSecondsAndRefusesZonelessTimes) {
    EXPECT_EQ(parse_time("2030-01-01T00:00:00Z", "t").value(), 1893456000000000);
    EXPECT_EQ(parse_time("2030-01-01T01:00:00+01:00", "t").value(), 1893456000000000);
    EXPECT_EQ(parse_time("2029-12-31T19:00-0500", "t").value(), 1893456000000000);
    EXPECT_EQ(parse_time("2030-01-01 00:00:00.25Z", "t").value(), 1893456000250000);
    EXPECT_EQ(parse_time("1893456000", "t").value(), 1893456000000000);
    EXPECT_FALSE(parse_time("2030-01-01T00:00:00", "--from"));
    EXPECT_NE(parse_time("2030-01-01T00:00:00", "--from").error().message.find("no time zone"), std::string::npos);
    EXPECT_FALSE(parse_time("2030-02-30T00:00:00Z", "t"));
    EXPECT_FALSE(parse_time("tomorrow", "t"));
    EXPECT_EQ(format_time(1893456000000000), "2030-01-01T00:00:00Z");
}

TEST(GovernanceUnits, OnlyLegalTransitions) {
    Trial t;
    t.id = 1;
    t.from_us = 100;
    t.until_us = 200;
    t.state = TrialState::proposed;
    EXPECT_EQ(next_state(t, Action::approve, 0).value(), TrialState::approved);
    EXPECT_EQ(next_state(t, Action::reject, 0).value(), TrialState::rejected);
    EXPECT_FALSE(next_state(t, Action::suspend, 0));
    EXPECT_FALSE(next_state(t, Action::activate, 0));
    t.state = TrialState::active;
    EXPECT_EQ(next_state(t, Action::suspend, 150).value(), TrialState::suspended);
    EXPECT_FALSE(next_state(t, Action::approve, 150));
    t.state = TrialState::suspended;
    EXPECT_EQ(next_state(t, Action::resume, 150).value(), TrialState::active);
    EXPECT_EQ(next_state(t, Action::resume, 50).value(), TrialState::approved);
    EXPECT_EQ(next_state(t, Action::complete, 150).value(), TrialState::completed);
    t.state = TrialState::completed;
    for (auto a : {Action::approve, Action::reject, Action::suspend, Action::resume, Action::complete, Action::activate}) {
        EXPECT_FALSE(next_state(t, a, 150));
    }
}

TEST(GovernanceUnits, GrantMustLieWithinTheManifest) {
    std::string outside;
    EXPECT_TRUE(grant_within({"sensor/groundwater/", "sensor/groundwater/GW-0001"}, {"sensor/groundwater/"}));
    EXPECT_FALSE(grant_within({"sensor/"}, {"sensor/groundwater/"}, &outside));
    EXPECT_EQ(outside, "sensor/");
}

TEST(GovernanceUnits, PseudonymsReplaceWholeIdsAndDependOnTheKey) {
    TestbedConfig cfg;
    SensorGroup g;
    g.topic_prefix = "sensor/groundwater/";
    g.personal = true;
    cfg.sensors.push_back(g);
    SensorGroup other;
    other.topic_prefix = "sensor/footfall/";
    cfg.sensors.push_back(other);
    TrialKey k1{}, k2{};
    k2[0] = 1;
    const Pseudonymiser a(cfg, k1), b(cfg, k2);
    std::string topic, payload;
    ASSERT_TRUE(a.apply("sensor/groundwater/GW-0001", R"([{"bn":"urn:dev:gw:GW-0001:","n":"GW-00012"}])", topic,
                        payload));
    const std::string p = a.pseudonym("GW-0001");
    EXPECT_EQ(topic, "sensor/groundwater/" + p);
    EXPECT_EQ(payload, R"([{"bn":"urn:dev:gw:)" + p + R"(:","n":"GW-00012"}])");
    EXPECT_EQ(a.pseudonym("GW-0001"), p);
    EXPECT_NE(b.pseudonym("GW-0001"), p);
    EXPECT_NE(a.pseudonym("GW-0002"), p);
    EXPECT_FALSE(a.apply("sensor/footfall/FF-0001", "x", topic, payload));
}

}  // namespace
}  // namespace tb::host::gov
