#include "config/testbed_config.hpp"

#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace tb::host {
namespace {

using ::testing::HasSubstr;

const char* kMinimal = R"(
[testbed]
id = "t"
name = "Test"
zone = "zones/city-centre.geojson"

[[sensors]]
kind = "groundwater"
topic_prefix = "sensor/groundwater/"
id_prefix = "GW-"
count = 3

[[plugins]]
name = "gw"
library = "groundwater_alert"
trusted = true
[plugins.config]
alert_level_m = -0.4
)";

TEST(TestbedConfig, LoadsTheShippedCityCentreTestbed) {
    auto cfg = load_testbed(test::testbed_dir("city-centre"));
    ASSERT_TRUE(cfg) << cfg.error().message;
    EXPECT_EQ(cfg->id, "city-centre");
    EXPECT_FALSE(cfg->sensors.empty());
    EXPECT_FALSE(cfg->plugins.empty());
    EXPECT_TRUE(cfg->zone.is_object());
    EXPECT_NE(cfg->sensor_group_for("sensor/groundwater/GW-0001"), nullptr);
    EXPECT_EQ(cfg->sensor_group_for("sensor/unknown/X"), nullptr);
}

TEST(TestbedConfig, ParsesSensorsPluginsAndConfig) {
    test::TempDir dir;
    test::write_testbed(dir.path(), kMinimal);
    auto cfg = load_testbed(dir.path());
    ASSERT_TRUE(cfg) << cfg.error().message;
    ASSERT_EQ(cfg->sensors.size(), 1u);
    EXPECT_EQ(cfg->sensors[0].ids(), (std::vector<std::string>{"GW-0001", "GW-0002", "GW-0003"}));
    ASSERT_EQ(cfg->plugins.size(), 1u);
    EXPECT_EQ(cfg->plugins[0].isolation, Isolation::in_process);
    EXPECT_DOUBLE_EQ(cfg->plugins[0].config["alert_level_m"].get<double>(), -0.4);
    EXPECT_EQ(cfg->host.ingest, std::vector<std::string>{"tcp://127.0.0.1:7600"});
}

TEST(TestbedConfig, UntrustedPluginsDefaultToProcessIsolation) {
    auto cfg =
        parse_testbed("[testbed]\nid=\"t\"\n[[plugins]]\nname=\"x\"\n", "/tmp/t/testbed.toml");
    ASSERT_TRUE(cfg) << cfg.error().message;
    EXPECT_EQ(cfg->plugins[0].isolation, Isolation::process);
}

TEST(TestbedConfig, SyntaxErrorNamesFileAndLine) {
    auto cfg = parse_testbed("[testbed]\nid = \"t\"\nname = \"unterminated\n", "/x/testbed.toml");
    ASSERT_FALSE(cfg);
    EXPECT_THAT(cfg.error().message, HasSubstr("/x/testbed.toml:3"));
    EXPECT_THAT(cfg.error().message, HasSubstr("syntax error"));
}

TEST(TestbedConfig, UnknownKeyNamesTheKeyTheLineAndTheKnownKeys) {
    auto cfg =
        parse_testbed("[testbed]\nid = \"t\"\n\n[[plugins]]\nname = \"a\"\nlibary = \"typo\"\n",
                      "/x/testbed.toml");
    ASSERT_FALSE(cfg);
    EXPECT_THAT(cfg.error().message, HasSubstr("/x/testbed.toml:6"));
    EXPECT_THAT(cfg.error().message, HasSubstr("unknown key 'libary'"));
    EXPECT_THAT(cfg.error().message, HasSubstr("library"));
}

TEST(TestbedConfig, RejectsWrongTypesBadValuesAndDuplicates) {
    struct Case {
        const char* toml;
        const char* expect;
    } cases[] = {
        {"[testbed]\nid = 5\n", "'id' must be a string"},
        {"[testbed]\nname = \"x\"\n", "needs id"},
        {"[testbed]\nid=\"t\"\n[host]\nworkers = 0\n", "'workers' must be 1..64"},
        {"[testbed]\nid=\"t\"\n[host]\ningest_hwm = 10\n", "'ingest_hwm' must be 100..10000000"},
        {"[testbed]\nid=\"t\"\n[host]\ningest_hwm = 4294977296\n",
         "'ingest_hwm' must be 100..10000000"},
        {"[testbed]\nid=\"t\"\n[[sensors]]\nkind = \"unicorn\"\ntopic_prefix=\"s/u/\"\ncount=1\n",
         "unknown kind 'unicorn'"},
        {"[testbed]\nid=\"t\"\n[[sensors]]\nkind = \"parking\"\ntopic_prefix=\"s/p\"\ncount=1\n",
         "ending in '/'"},
        {"[testbed]\nid=\"t\"\n[[plugins]]\nname=\"a\"\n[[plugins]]\nname=\"a\"\n", "used twice"},
        {"[testbed]\nid=\"t\"\n[[plugins]]\nname=\"a\"\nisolation=\"vm\"\n", "isolation must be"},
        {"[testbed]\nid=\"t\"\n[[plugins]]\nname=\"a\"\noverflow=\"block\"\n", "overflow must be"},
        {"[testbed]\nid=\"t\"\nzone=\"missing.geojson\"\n", "cannot be read"},
    };
    for (const auto& c : cases) {
        auto cfg = parse_testbed(c.toml, "/x/testbed.toml");
        ASSERT_FALSE(cfg) << c.toml;
        EXPECT_THAT(cfg.error().message, HasSubstr(c.expect)) << c.toml;
        EXPECT_THAT(cfg.error().message, HasSubstr("/x/testbed.toml")) << c.toml;
    }
}

TEST(TestbedConfig, MissingTestbedFolderSaysWhatToGive) {
    auto cfg = load_testbed("/nonexistent/testbed-folder");
    ASSERT_FALSE(cfg);
    EXPECT_THAT(cfg.error().message, HasSubstr("/nonexistent/testbed-folder"));
    EXPECT_THAT(cfg.error().message, HasSubstr("testbeds/city-centre"));
}

TEST(Zone, AcceptsPolygonsAndRejectsSwappedOrOpenRings) {
    auto poly = [](const char* coords) {
        return nlohmann::json::parse(std::string(R"({"type":"Polygon","coordinates":)") + coords +
                                     "}");
    };
    EXPECT_TRUE(validate_zone(poly("[[[6.8,52.2],[6.9,52.2],[6.9,52.3],[6.8,52.2]]]"), "z"));
    auto open = validate_zone(poly("[[[6.8,52.2],[6.9,52.2],[6.9,52.3],[6.8,52.3]]]"), "z");
    ASSERT_FALSE(open);
    EXPECT_THAT(open.message(), HasSubstr("end where it starts"));
    auto swapped = validate_zone(poly("[[[52.2,186.8],[52.2,6.9],[52.3,6.9],[52.2,186.8]]]"), "z");
    ASSERT_FALSE(swapped);
    EXPECT_THAT(swapped.message(), HasSubstr("[longitude, latitude]"));
    EXPECT_FALSE(
        validate_zone(nlohmann::json::parse(R"({"type":"FeatureCollection","features":[]})"), "z"));
    EXPECT_FALSE(validate_zone(
        nlohmann::json::parse(R"({"type":"LineString","coordinates":[[0,0],[1,1]]})"), "z"));
}

}  // namespace
}  // namespace tb::host
