// Feed health in a real host: a source silent longer than its sensor group's stale_after_s
// raises feed_stale once and feed_recovered when it is back; feed health reaches the database
// periodically, so it survives a killed host. A configured sensor that never sends is flagged too.
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

namespace tb::test {
namespace {

using namespace std::chrono_literals;

std::string toml(const std::string& ingest) {
    return R"([testbed]
id = "health-test"
name = "feed health test"
zone = "zones/city-centre.geojson"

[host]
ingest = ")" + ingest + R"("
output = ""
feed_health_interval_s = 1

[[sensors]]
kind = "groundwater"
topic_prefix = "sensor/groundwater/"
id_prefix = "GW-"
count = 2
unit = "m"
stale_after_s = 2
)";
}

TEST(FeedHealth, SilentSourceRaisesStaleOnceAndRecoveredWhenBack) {
    TempDir d;
    const std::string ingest = d.ipc("ingest");
    const fs::path tb = write_testbed(d / "tb", toml(ingest));
    const fs::path db = d / "r.db";
    Process host(bin_dir() / "testbed-host", {"--dev", "--testbed", tb.string(), "--db", db.string()}, d.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    TestPublisher pub(ingest);
    ASSERT_TRUE(pub.wait_for_subscriber());
    const std::string a = "sensor/groundwater/GW-0001", b = "sensor/groundwater/GW-0002";
    ASSERT_TRUE(pub.send(a, senml("urn:dev:gw:1:", "level", "m", -1.0, 1.7e9)));
    ASSERT_TRUE(pub.send(b, senml("urn:dev:gw:2:", "level", "m", -1.0, 1.7e9)));

    // b keeps talking (every 200 ms), a goes silent: only a becomes stale.
    auto stale_events = [&](const std::string& kind, const std::string& subject) {
        return query_int(db, "SELECT count(*) FROM events WHERE kind = '" + kind + "' AND subject = '" + subject + "'")
            .value_or(0);
    };
    const bool a_stale = wait_until(
        [&] {
            pub.send(b, senml("urn:dev:gw:2:", "level", "m", -1.0, 1.7e9));
            std::this_thread::sleep_for(200ms);
            return stale_events("feed_stale", a) > 0;
        },
        30s);
    ASSERT_TRUE(a_stale) << host.err();
    EXPECT_EQ(stale_events("feed_stale", b), 0);
    EXPECT_EQ(query_int(db, "SELECT severity FROM events WHERE kind = 'feed_stale'"), 2);  // WARNING

    // Still silent for a while: no second stale event for the same silence.
    for (int i = 0; i < 10; ++i) {
        pub.send(b, senml("urn:dev:gw:2:", "level", "m", -1.0, 1.7e9));
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(stale_events("feed_stale", a), 1);

    // Back (and kept alive from now on): feed_recovered once, and the stale period is closed.
    auto keep_alive = [&] {
        pub.send(a, senml("urn:dev:gw:1:", "level", "m", -1.0, 1.7e9));
        pub.send(b, senml("urn:dev:gw:2:", "level", "m", -1.0, 1.7e9));
        std::this_thread::sleep_for(200ms);
    };
    ASSERT_TRUE(wait_until([&] { keep_alive(); return stale_events("feed_recovered", a) > 0; }, 30s)) << host.err();
    ASSERT_TRUE(wait_until(
        [&] {
            keep_alive();
            return query_int(db, "SELECT count(*) FROM feed_stale_periods WHERE source = '" + a + "' AND until_us IS NOT NULL")
                       .value_or(0) == 1 &&
                   query_int(db, "SELECT stale FROM feed_health WHERE source = '" + a + "'") == 0;
        },
        30s));
    EXPECT_EQ(query_int(db, "SELECT stale_count FROM feed_health WHERE source = '" + a + "'"), 1);
    EXPECT_EQ(query_int(db, "SELECT stale_count FROM feed_health WHERE source = '" + b + "'"), 0);
    EXPECT_EQ(stale_events("feed_recovered", a), 1);
    EXPECT_EQ(host.stop(), 0);
}

TEST(FeedHealth, ConfiguredSensorThatNeverSendsGoesStaleAndRecoversOnItsFirstMessage) {
    TempDir d;
    const std::string ingest = d.ipc("ingest");
    const fs::path tb = write_testbed(d / "tb", toml(ingest));
    const fs::path db = d / "r.db";
    Process host(bin_dir() / "testbed-host", {"--dev", "--testbed", tb.string(), "--db", db.string()}, d.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    TestPublisher pub(ingest);
    ASSERT_TRUE(pub.wait_for_subscriber());
    // GW-0001 talks all along; GW-0002 (configured, count = 2) says nothing at first.
    const std::string a = "sensor/groundwater/GW-0001", silent = "sensor/groundwater/GW-0002";
    auto keep_a = [&] {
        pub.send(a, senml("urn:dev:gw:1:", "level", "m", -1.0, 1.7e9));
        std::this_thread::sleep_for(200ms);
    };
    auto events = [&](const std::string& kind, const std::string& subject) {
        return query_int(db, "SELECT count(*) FROM events WHERE kind = '" + kind + "' AND subject = '" + subject + "'")
            .value_or(0);
    };
    ASSERT_TRUE(wait_until([&] { keep_a(); return events("feed_stale", silent) > 0; }, 30s)) << host.err();
    EXPECT_EQ(events("feed_stale", a), 0);
    const auto ev = query_rows(db, "SELECT message, json_extract(detail_json, '$.never_heard') FROM events "
                                   "WHERE kind = 'feed_stale' AND subject = '" + silent + "'");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_NE(ev[0][0].find("configured but has sent nothing"), std::string::npos) << ev[0][0];
    EXPECT_EQ(ev[0][1], "1");
    // Its feed-health row exists with no messages and is marked stale.
    ASSERT_TRUE(wait_until(
        [&] {
            keep_a();
            return query_int(db, "SELECT stale FROM feed_health WHERE source = '" + silent + "' AND messages = 0") == 1;
        },
        30s));

    // Its first message ends the silence.
    ASSERT_TRUE(wait_until(
        [&] {
            keep_a();
            pub.send(silent, senml("urn:dev:gw:2:", "level", "m", -1.0, 1.7e9));
            return events("feed_recovered", silent) > 0;
        },
        30s))
        << host.err();
    EXPECT_EQ(events("feed_stale", silent), 1);
    EXPECT_EQ(host.stop(), 0);
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM feed_stale_periods WHERE source = '" + silent + "' AND until_us IS NOT NULL"), 1);
}

TEST(FeedHealth, PersistedPeriodicallySoAKilledHostKeepsIt) {
    TempDir d;
    const std::string ingest = d.ipc("ingest");
    const fs::path tb = write_testbed(d / "tb", toml(ingest));
    const fs::path db = d / "r.db";
    Process host(bin_dir() / "testbed-host", {"--dev", "--testbed", tb.string(), "--db", db.string()}, d.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    TestPublisher pub(ingest);
    ASSERT_TRUE(pub.wait_for_subscriber());
    const std::string a = "sensor/groundwater/GW-0001";
    for (uint64_t seq : {1, 2, 3, 5, 5, 4}) {  // a gap (4 missing at first), a duplicate, out of order
        ASSERT_TRUE(pub.send(a, senml("urn:dev:gw:1:", "level", "m", -1.0, 1.7e9), 1, seq));
    }
    ASSERT_TRUE(wait_until([&] { return query_int(db, "SELECT messages FROM feed_health WHERE source = '" + a + "'")
                                            .value_or(0) == 6; },
                           30s))
        << host.err();
    host.signal(SIGKILL);
    (void)host.wait(10s);
    const auto rows = query_rows(db, "SELECT messages, gaps, duplicates, out_of_order FROM feed_health WHERE source = '" + a + "'");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"6", "1", "1", "1"}));
}

}  // namespace
}  // namespace tb::test
