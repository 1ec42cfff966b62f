// End to end, through real processes: the real testbed-host (in --dev mode, so the testbed's
// [[plugins]] run without a trial) loads the real groundwater_alert plugin, a real ZeroMQ publisher sends a known set of messages (good and malformed), the host is
// stopped with SIGTERM, and the SQLite file must hold exactly the expected rows.
#include "support/test_support.hpp"
#include "wire/wire.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <csignal>
#include <map>

namespace tb::test {
namespace {

using ::testing::HasSubstr;

std::string testbed_toml(const TempDir& dir, const std::string& plugin_lib, const std::string& extra = "") {
    return "[testbed]\nid = \"e2e\"\nname = \"end to end\"\nzone = \"zones/city-centre.geojson\"\n\n[host]\ningest = \"" +
           dir.ipc("ingest") + "\"\noutput = \"" + dir.ipc("output") +
           "\"\nworkers = 2\n\n[[sensors]]\nkind = \"groundwater\"\ntopic_prefix = \"sensor/groundwater/\"\nid_prefix = "
           "\"GW-\"\ncount = 10\n\n[[plugins]]\nname = \"gw\"\nlibrary = \"" +
           plugin_lib + "\"\ntrusted = true\n[plugins.config]\nalert_level_m = -0.5\nhysteresis_m = 0.1\nmean_every = 0\n" +
           extra;
}

std::string header(uint8_t version = 1, uint8_t content_type = 1) {
    wire::Header h;
    h.content_type = static_cast<wire::ContentType>(content_type);
    auto b = wire::encode_header(h);
    std::string s(b.data(), b.size());
    s[2] = static_cast<char>(version);
    return s;
}

TEST(HostEndToEnd, RecordsExactlyTheExpectedRowsAndCountsMalformedMessagesPerReason) {
    TempDir dir;
    write_testbed(dir / "tb", testbed_toml(dir, (plugin_dir() / "groundwater_alert.so").string()));
    const auto db = dir / "results.db";
    const auto status = dir / "status.json";
    Process host(bin_dir() / "testbed-host",
                 {"--dev", "--testbed", (dir / "tb").string(), "--db", db.string(), "--status-file", status.string()}, dir.path());
    ASSERT_TRUE(host.wait_for_output("testbed-host: ready", std::chrono::seconds(30))) << host.err();

    TestPublisher pub(dir.ipc("ingest"));
    ASSERT_TRUE(pub.wait_for_subscriber());

    // 10 sensors x 50 readings. Sensor k oscillates: every 10th reading is above the alert level
    // (-0.3) and the one after it drops far below (-1.0), so each sensor crosses 5 times.
    int expected_alerts = 0;
    for (int i = 0; i < 50; ++i) {
        for (int k = 1; k <= 10; ++k) {
            char id[16];
            std::snprintf(id, sizeof id, "GW-%04d", k);
            const bool high = i % 10 == 5;
            expected_alerts += high ? 1 : 0;
            ASSERT_TRUE(pub.send(std::string("sensor/groundwater/") + id,
                                 senml(std::string("urn:dev:enschede:gw:") + id + ":", "level", "m", high ? -0.3 : -1.0,
                                       1764300000.0 + i)));
        }
        if (i == 20) {
            // Malformed messages in the middle of the stream: 1 + 2 + 3 + 4 of them.
            ASSERT_TRUE(pub.send_frames({"sensor/groundwater/GW-0001", header()}));
            for (int n = 0; n < 2; ++n) ASSERT_TRUE(pub.send_frames({"sensor/groundwater/GW-0001", "short", "[]"}));
            for (int n = 0; n < 3; ++n) ASSERT_TRUE(pub.send_frames({"sensor/groundwater/GW-0001", header(7), "[]"}));
            for (int n = 0; n < 4; ++n) ASSERT_TRUE(pub.send_frames({"sensor/groundwater/GW-0001", header(), "[{oops"}));
        }
    }
    // Messages no plugin reads are received but not delivered.
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(pub.send("sensor/footfall/FF-0001", "[{\"n\":\"count\",\"v\":3}]"));
    ASSERT_EQ(expected_alerts, 50);

    // Wait until the host acknowledges every row as committed, then stop it cleanly.
    const int64_t expected_rows = 500 + expected_alerts;
    ASSERT_TRUE(wait_until(
        [&] {
            const auto s = read_file(status);
            return s.find("\"committed_rows\":" + std::to_string(expected_rows) + ",") != std::string::npos;
        },
        std::chrono::seconds(60)))
        << read_file(status) << host.err();
    ASSERT_EQ(host.stop(), 0) << host.err();

    EXPECT_EQ(query_int(db, "SELECT COUNT(*) FROM v_metrics WHERE instance = 'gw' AND metric = 'level'"), 500);
    EXPECT_EQ(query_int(db, "SELECT COUNT(*) FROM v_metrics WHERE instance = 'gw' AND metric = 'level' AND value > -0.5"), 50);
    EXPECT_EQ(query_int(db, "SELECT COUNT(*) FROM v_events WHERE instance = 'gw' AND kind = 'groundwater_high' AND severity = 2"),
              expected_alerts);
    EXPECT_EQ(query_int(db, "SELECT COUNT(DISTINCT subject) FROM v_metrics"), 10);
    // Every row carries its run and plugin, and the source timestamp of the reading.
    EXPECT_EQ(query_int(db, "SELECT COUNT(*) FROM v_metrics WHERE run_id IS NULL OR t_us < 1764300000000000"), 0);
    EXPECT_EQ(query_int(db, "SELECT count FROM ingest_drops WHERE reason = 'frame_count'"), 1);
    EXPECT_EQ(query_int(db, "SELECT count FROM ingest_drops WHERE reason = 'short_header'"), 2);
    EXPECT_EQ(query_int(db, "SELECT count FROM ingest_drops WHERE reason = 'unknown_version'"), 3);
    EXPECT_EQ(query_int(db, "SELECT count FROM ingest_drops WHERE reason = 'invalid_json'"), 4);
    EXPECT_EQ(query_int(db, "SELECT messages FROM feed_health WHERE source = 'sensor/groundwater/GW-0001'"), 50);
    EXPECT_EQ(query_int(db, "SELECT SUM(gaps) FROM feed_health"), 0);
    EXPECT_EQ(query_int(db, "SELECT json_extract(summary_json, '$.received') FROM runs"), 520);
    EXPECT_EQ(query_int(db, "SELECT json_extract(summary_json, '$.delivered') FROM runs"), 500);
    EXPECT_EQ(query_int(db, "SELECT json_extract(summary_json, '$.ingest_dropped') FROM runs"), 10);
    EXPECT_EQ(query_int(db, "SELECT COUNT(*) FROM runs WHERE ended_us IS NOT NULL"), 1);

    // The exit summary says the same, in words.
    EXPECT_THAT(host.out(), HasSubstr("received 520 message(s), delivered 500 to plugins, dropped 10 malformed"));
    EXPECT_THAT(host.err(), HasSubstr("invalid_json"));

    // And `testbed report` reads it back.
    const auto rep = run(bin_dir() / "testbed", {"report", "--db", db.string(), "--json"});
    ASSERT_EQ(rep.exit_code, 0) << rep.err;
    const auto j = nlohmann::json::parse(rep.out);
    bool found = false;
    for (const auto& m : j["metrics"]) {
        if (m["metric"] == "level") {
            found = true;
            EXPECT_EQ(m["count"], 500);
            EXPECT_DOUBLE_EQ(m["max"].get<double>(), -0.3);
            EXPECT_DOUBLE_EQ(m["min"].get<double>(), -1.0);
        }
    }
    EXPECT_TRUE(found) << rep.out;
    EXPECT_EQ(j["events"][0]["warning"], expected_alerts);
    // Feed health per kind of source, and the malformed input by reason.
    std::map<std::string, nlohmann::json> feeds;
    for (const auto& f : j["feeds"]) feeds[f["prefix"].get<std::string>()] = f;
    ASSERT_EQ(feeds.count("sensor/groundwater/"), 1u) << rep.out;
    EXPECT_EQ(feeds["sensor/groundwater/"]["sources"], 10);
    EXPECT_EQ(feeds["sensor/groundwater/"]["messages"], 500);
    EXPECT_EQ(feeds["sensor/groundwater/"]["gaps"], 0);
    EXPECT_EQ(feeds["sensor/footfall/"]["messages"], 20);
    EXPECT_EQ(j["ingest_dropped"]["invalid_json"], 4);
    EXPECT_EQ(j["ingest_dropped"]["frame_count"], 1);
    const auto table = run(bin_dir() / "testbed", {"report", "--db", db.string()});
    EXPECT_THAT(table.out, HasSubstr("feed health"));
    EXPECT_THAT(table.out, HasSubstr("sensor/groundwater/"));
    EXPECT_THAT(table.out, HasSubstr("\"short_header\":2"));
}

TEST(HostEndToEnd, SecondRunAppendsToTheSameDatabase) {
    TempDir dir;
    write_testbed(dir / "tb", testbed_toml(dir, (plugin_dir() / "groundwater_alert.so").string()));
    const auto db = dir / "results.db";
    for (int round = 0; round < 2; ++round) {
        const auto r = run(bin_dir() / "testbed-host", {"--dev", "--testbed", (dir / "tb").string(), "--db", db.string(), "--duration", "0.3"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    EXPECT_EQ(query_int(db, "SELECT COUNT(*) FROM runs WHERE ended_us IS NOT NULL"), 2);
}

struct BadStart {
    const char* name;
    std::string toml_extra;     // appended to a valid testbed
    std::string library;        // plugin library entry
    std::vector<std::string> expect;
};

TEST(HostEndToEnd, RefusesToStartWithAClearMessage) {
    TempDir dir;
    test::write_file(dir / "not-a-plugin.so", "hello, I am text");
    const std::vector<BadStart> cases = {
        {"missing plugin", "", (dir / "nope.so").string(), {"nope.so", "does not exist", "plugin 'gw'"}},
        {"text file", "", (dir / "not-a-plugin.so").string(), {"not-a-plugin.so", "not a plugin library", "text file"}},
        {"unknown plugin config key", "treshold = 3\n", (plugin_dir() / "groundwater_alert.so").string(),
         {"config key 'treshold' is not declared", "alert_level_m"}},
    };
    for (const auto& c : cases) {
        write_testbed(dir / c.name, testbed_toml(dir, c.library, c.toml_extra));
        const auto r = run(bin_dir() / "testbed-host", {"--dev", "--testbed", (dir / c.name).string(), "--db", (dir / "r.db").string()});
        EXPECT_EQ(r.exit_code, 1) << c.name;
        for (const auto& e : c.expect) EXPECT_THAT(r.err, HasSubstr(e)) << c.name;
        EXPECT_THAT(r.err, HasSubstr("testbed.toml:")) << c.name;
    }
    // A syntax error names file and line; an unknown key names the key.
    write_file(dir / "syntax" / "testbed.toml", "[testbed]\nid = \"x\"\n[host\n");
    auto r = run(bin_dir() / "testbed-host", {"--testbed", (dir / "syntax").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("syntax/testbed.toml:3"));
    write_file(dir / "unknown" / "testbed.toml", "[testbed]\nid = \"x\"\ncolour = \"red\"\n");
    r = run(bin_dir() / "testbed-host", {"--testbed", (dir / "unknown").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("unknown key 'colour' in [testbed]"));
    // Nothing was written for the refused starts.
    EXPECT_FALSE(fs::exists(dir / "r.db"));
}

}  // namespace
}  // namespace tb::test
