// groundwater_alert_test: the example plugin's spec (plugins/groundwater_alert/*.cpp header),
// checked through the SDK test kit the way a plugin author would: load the .so, feed SenML,
// assert on metrics, events, publications. No host process, no ZeroMQ.
#include <testbed/testkit.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using tb::testkit::Harness;
using tb::testkit::Options;
using tb::testkit::senml_value;

const std::string kTopic = "sensor/groundwater/GW-0042";

Options config(std::map<std::string, std::string> values) {
    Options opt;
    opt.config = std::move(values);
    return opt;
}

TEST(GroundwaterAlert, ManifestDeclaresWhatItUses) {
    Harness h(GROUNDWATER_ALERT_SO);
    const tb_manifest& m = h.manifest();
    EXPECT_STREQ(m.id, "groundwater_alert");
    ASSERT_NE(m.reads[0], nullptr);
    EXPECT_STREQ(m.reads[0], "sensor/groundwater/");
    EXPECT_STREQ(m.publishes[0], "alert/groundwater/");
    EXPECT_STREQ(m.metrics[0]->name, "level");
    EXPECT_STREQ(m.metrics[0]->unit, "m");
}

TEST(GroundwaterAlert, RecordsEachLevelWithSensorAndTime) {
    Harness h(GROUNDWATER_ALERT_SO);
    ASSERT_TRUE(h.send(kTopic, senml_value("urn:dev:GW-0042:level", "m", -1.2, 1767225600.5)).ok());
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -1.1)).ok());
    const auto levels = h.metrics("level");
    ASSERT_EQ(levels.size(), 2u);
    EXPECT_EQ(levels[0].subject, "GW-0042");
    EXPECT_DOUBLE_EQ(levels[0].value, -1.2);
    EXPECT_EQ(levels[0].time_us, 1767225600500000);
    EXPECT_EQ(levels[1].time_us, h.now_us())
        << "without a SenML time the message's source time is used";
    EXPECT_TRUE(h.events().empty());
    EXPECT_TRUE(h.published().empty());
    EXPECT_TRUE(h.refusals().empty());
}

TEST(GroundwaterAlert, AlertsOnceWhenCrossingThenAgainAfterHysteresis) {
    Harness h(GROUNDWATER_ALERT_SO, config({{"alert_level_m", "-0.5"}, {"hysteresis_m", "0.1"}}));
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -0.6)).ok());
    EXPECT_TRUE(h.events().empty());
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -0.4)).ok());
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -0.3)).ok());   // still high: no repeat
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -0.55)).ok());  // inside hysteresis band
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -0.45)).ok());  // no new alert yet
    auto events = h.events("groundwater_high");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].severity, tb::Severity::warning);
    EXPECT_EQ(events[0].subject, "GW-0042");
    EXPECT_NE(events[0].detail_json.find("-0.4"), std::string::npos) << events[0].detail_json;

    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -0.7)).ok());  // below -0.6: re-armed
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -0.2)).ok());
    EXPECT_EQ(h.events("groundwater_high").size(), 2u);

    const auto alerts = h.published();
    ASSERT_EQ(alerts.size(), 2u);
    EXPECT_EQ(alerts[0].topic, "alert/groundwater/GW-0042");
    EXPECT_EQ(alerts[0].content_type, tb::ContentType::json);
    EXPECT_NE(alerts[0].data.find("\"sensor\":\"GW-0042\""), std::string::npos) << alerts[0].data;
    EXPECT_TRUE(h.refusals().empty()) << h.refusals()[0].message;
}

TEST(GroundwaterAlert, EveryReadingAlertsEachTime) {
    Harness h(GROUNDWATER_ALERT_SO, config({{"every_reading", "true"}}));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -0.1)).ok());
    EXPECT_EQ(h.events("groundwater_high").size(), 3u);
    EXPECT_EQ(h.published().size(), 3u);
}

TEST(GroundwaterAlert, RunningMeanPerSensor) {
    Harness h(GROUNDWATER_ALERT_SO, config({{"mean_every", "2"}}));
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -1.0)).ok());
    ASSERT_TRUE(h.send("sensor/groundwater/GW-0001", senml_value("level", "m", -3.0)).ok());
    EXPECT_TRUE(h.metrics("level_mean").empty());
    ASSERT_TRUE(h.send(kTopic, senml_value("level", "m", -2.0)).ok());
    const auto means = h.metrics("level_mean");
    ASSERT_EQ(means.size(), 1u);
    EXPECT_EQ(means[0].subject, "GW-0042");
    EXPECT_DOUBLE_EQ(means[0].value, -1.5);
}

TEST(GroundwaterAlert, MalformedInputIsBadDataAndRecordsNothing) {
    Harness h(GROUNDWATER_ALERT_SO);
    for (const std::string payload :
         {"", "not json", "[{", "{}", "[{\"n\":\"level\",\"v\":\"high\"}]",
          "[{\"n\":\"temperature\",\"u\":\"Cel\",\"v\":11}]"}) {
        const auto r = h.send(kTopic, payload);
        EXPECT_EQ(r.code, TB_E_BAD_DATA) << "payload: " << payload;
        EXPECT_FALSE(r.message.empty());
    }
    const auto wrong_unit = h.send(kTopic, senml_value("level", "cm", -40));
    EXPECT_EQ(wrong_unit.code, TB_E_BAD_DATA);
    EXPECT_NE(wrong_unit.message.find("'cm'"), std::string::npos) << wrong_unit.message;
    EXPECT_TRUE(h.metrics().empty());
    EXPECT_TRUE(h.events().empty());
    // Still healthy afterwards.
    EXPECT_TRUE(h.send(kTopic, senml_value("level", "m", -1)).ok());
}

TEST(GroundwaterAlert, BadConfigIsRefusedAtCreate) {
    try {
        Harness h(GROUNDWATER_ALERT_SO, config({{"alert_level_m", "high"}}));
        FAIL() << "create should have failed";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("alert_level_m"), std::string::npos) << e.what();
    }
}

}  // namespace
