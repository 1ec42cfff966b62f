// plugins/drone_geofence in a real host on the space53-airfield testbed: a breach raises one
// CRITICAL event on the first position outside; low battery a WARNING; the simulator's drone
// flights (same JSON as the MAVLink bridge) produce breaches and battery warnings.
#include "feed_test_util.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace tb::test {
namespace {

using namespace std::chrono_literals;

// The space53-airfield testbed with its ingest and output moved to ipc endpoints.
fs::path space53(const TempDir& d, const std::string& ingest, const std::string& output) {
    std::string text = read_file(testbed_dir("space53-airfield") / "testbed.toml");
    text = std::regex_replace(text, std::regex("ingest = \"[^\"]*\""), "ingest = \"" + ingest + "\"");
    text = std::regex_replace(text, std::regex("output = \"[^\"]*\""), "output = \"" + output + "\"");
    const fs::path dir = d / "space53";
    fs::create_directories(dir / "zones");
    write_file(dir / "testbed.toml", text);
    fs::copy_file(testbed_dir("space53-airfield") / "zones" / "space53-airfield.geojson",
                  dir / "zones" / "space53-airfield.geojson");
    return dir;
}

std::string position(double lat, double lon, double rel_alt) {
    return R"({"sysid":7,"compid":1,"lat_deg":)" + std::to_string(lat) + R"(,"lon_deg":)" + std::to_string(lon) +
           R"(,"alt_m":)" + std::to_string(30 + rel_alt) + R"(,"rel_alt_m":)" + std::to_string(rel_alt) + "}";
}

TEST(DroneGeofence, BreachIsCriticalOnTheFirstPositionOutsideAndBatteryWarns) {
    TempDir d;
    const std::string ingest = d.ipc("ingest");
    const fs::path tb = space53(d, ingest, "");
    const fs::path db = d / "r.db";
    Process host(bin_dir() / "testbed-host", {"--dev", "--testbed", tb.string(), "--db", db.string()}, d.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    TestPublisher pub(ingest);
    ASSERT_TRUE(pub.wait_for_subscriber());
    auto events = [&](const std::string& kind) {
        return query_int(db, "SELECT count(*) FROM events WHERE kind = '" + kind + "'").value_or(0);
    };
    const std::string t = "drone/7/position";
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(pub.send(t, position(52.2760, 6.8890, 50), 2));
    ASSERT_TRUE(pub.send(t, position(52.2900, 6.8890, 50), 2));  // ~700 m north of the zone
    ASSERT_TRUE(wait_until([&] { return events("geofence_breach") == 1; }, 30s)) << host.err();
    EXPECT_EQ(query_int(db, "SELECT severity FROM events WHERE kind = 'geofence_breach'"), 4);  // CRITICAL
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM metrics m JOIN series s ON s.id = m.series_id "
                            "WHERE s.name = 'outside_m' AND m.value > 0"),
              1);  // the breach event came with the first (and only) position outside
    ASSERT_TRUE(pub.send(t, position(52.2905, 6.8890, 50), 2));  // still outside: no second event
    ASSERT_TRUE(pub.send(t, position(52.2760, 6.8890, 50), 2));  // back inside
    ASSERT_TRUE(wait_until([&] { return events("geofence_clear") == 1; }, 30s));
    EXPECT_EQ(events("geofence_breach"), 1);
    ASSERT_TRUE(pub.send(t, position(52.2760, 6.8890, 150), 2));  // above the 120 m limit
    ASSERT_TRUE(wait_until([&] { return events("geofence_breach") == 2; }, 30s));

    ASSERT_TRUE(pub.send("drone/7/battery", R"({"sysid":7,"remaining_pct":25})", 2));
    ASSERT_TRUE(wait_until([&] { return events("battery_low") == 1; }, 30s));
    EXPECT_EQ(query_int(db, "SELECT severity FROM events WHERE kind = 'battery_low'"), 2);  // WARNING
    ASSERT_TRUE(pub.send("drone/7/battery", R"({"sysid":7,"remaining_pct":10})", 2));
    ASSERT_TRUE(wait_until([&] { return events("battery_critical") == 1; }, 30s));

    // Bad data is counted by the host, and the plugin carries on.
    ASSERT_TRUE(pub.send(t, position(52.2760, 6.8890, 50), 2));  // back inside and below the limit
    ASSERT_TRUE(wait_until([&] { return events("geofence_clear") == 2; }, 30s));
    ASSERT_TRUE(pub.send(t, R"({"sysid":7,"lat_deg":"north"})", 2));
    ASSERT_TRUE(pub.send(t, position(52.2950, 6.8890, 50), 2));
    ASSERT_TRUE(wait_until([&] { return events("geofence_breach") == 3; }, 30s)) << host.err();
    EXPECT_EQ(host.stop(), 0);
    EXPECT_NE(host.out().find("bad data 1"), std::string::npos) << host.out();
}

TEST(DroneGeofence, SimulatedFlightsBreachTheZoneAndDrainTheBattery) {
    TempDir d;
    const std::string ingest = d.ipc("ingest");
    const fs::path tb = space53(d, ingest, "");
    const fs::path db = d / "r.db";
    Process host(bin_dir() / "testbed-host", {"--dev", "--testbed", tb.string(), "--db", db.string()}, d.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    // 2 simulated seconds per message, 9 telemetry streams: each drone reports its position every
    // 18 s over about 4 flight cycles.
    const auto r = run(bin_dir() / "testbed", {"feed", "sim", "--testbed", tb.string(), "--endpoint", ingest, "--count",
                                               "2700", "--max", "--rate", "10", "--speed", "20", "--start", "1700000000",
                                               "--seed", "3", "--wait", "20"},
                       120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("3 drone(s)"), std::string::npos) << r.out;
    ASSERT_TRUE(wait_until([&] { return query_int(db, "SELECT sum(messages) FROM feed_health").value_or(0) >= 2700; }, 60s));
    EXPECT_EQ(host.stop(), 0);
    EXPECT_GE(query_int(db, "SELECT count(*) FROM events WHERE kind = 'geofence_breach'").value_or(0), 1);
    EXPECT_GE(query_int(db, "SELECT count(*) FROM events WHERE kind = 'battery_low'").value_or(0), 1);
    // 9 telemetry streams heard (configured sensors that sent nothing have rows with 0 messages).
    EXPECT_EQ(query_int(db, "SELECT count(DISTINCT source) FROM feed_health WHERE messages > 0"), 9);
}

}  // namespace
}  // namespace tb::test
