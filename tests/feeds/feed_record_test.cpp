// testbed feed record / replay: a recorded simulator run replayed into a real host gives the
// same results as the live run; damaged recordings are refused with the reason and the count.
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

namespace tb::test {
namespace {

using namespace std::chrono_literals;

constexpr int kCount = 300;

std::string testbed_toml(const std::string& ingest) {
    return R"([testbed]
id = "rec-test"
name = "record/replay test"
zone = "zones/city-centre.geojson"

[host]
ingest = ")" + ingest + R"("
output = ""

[[sensors]]
kind = "groundwater"
topic_prefix = "sensor/groundwater/"
id_prefix = "GW-"
count = 5
unit = "m"

[[plugins]]
name = "groundwater_alert"
library = "groundwater_alert"
trusted = true
[plugins.config]
alert_level_m = -1.0
)";
}

std::vector<std::string> sim_args(const fs::path& testbed, const std::string& ep) {
    return {"feed", "sim", "--testbed", testbed.string(), "--endpoint", ep, "--count", std::to_string(kCount),
            "--max", "--rate", "50", "--start", "1700000000", "--seed", "7", "--wait", "20"};
}

// Run a host on `testbed`, feed it with `feed` (a testbed CLI command line), and return its
// metric and event rows once all kCount readings have been recorded.
std::vector<std::vector<std::string>> run_host(const TempDir& d, const fs::path& testbed, const std::string& name,
                                               const std::vector<std::string>& feed) {
    const fs::path db = d / (name + ".db");
    Process host(bin_dir() / "testbed-host", {"--dev", "--testbed", testbed.string(), "--db", db.string()}, d.path());
    EXPECT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    const auto r = run(bin_dir() / "testbed", feed, 60s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(wait_until([&] { return query_int(db, "SELECT count(*) FROM metrics").value_or(0) >= kCount; }, 30s))
        << host.err();
    EXPECT_EQ(host.stop(), 0) << host.err();
    auto rows = query_rows(db, "SELECT metric, subject, printf('%.9g', value), t_us FROM v_metrics ORDER BY metric, subject, t_us");
    const auto events = query_rows(db, "SELECT kind, subject, message, detail_json FROM v_events "
                                       "WHERE plugin_id IS NOT NULL ORDER BY subject, id");
    rows.insert(rows.end(), events.begin(), events.end());
    return rows;
}

TEST(FeedRecord, ReplayedRecordingGivesTheSameResultsAsTheLiveRun) {
    TempDir d;
    const std::string ingest = d.ipc("ingest");
    const fs::path tb = write_testbed(d / "tb", testbed_toml(ingest));

    // Live: simulator straight into a host.
    const auto live = run_host(d, tb, "live", sim_args(tb, ingest));
    ASSERT_GE(live.size(), static_cast<std::size_t>(kCount));

    // Record the same simulator run.
    const fs::path rec = d / "run.tbrec";
    const std::string rec_ep = d.ipc("rec");
    {
        Process recorder(bin_dir() / "testbed", {"feed", "record", "--endpoint", rec_ep, "--out", rec.string(), "--count",
                                                 std::to_string(kCount)},
                         d.path());
        ASSERT_TRUE(recorder.wait_for_output("recording", 20s)) << recorder.err();
        const auto r = run(bin_dir() / "testbed", sim_args(tb, rec_ep), 60s);
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
        ASSERT_EQ(recorder.wait(30s), 0) << recorder.err();
        EXPECT_NE(recorder.out().find("wrote 300 message(s)"), std::string::npos) << recorder.out();
    }

    // Replay it (original timing, scaled) into a fresh host.
    const auto replayed =
        run_host(d, tb, "replay", {"feed", "replay", rec.string(), "--endpoint", ingest, "--speed", "4", "--wait", "20"});
    EXPECT_EQ(replayed, live);
}

// Replays `file` into a recorder; returns the replay's result and how many messages arrived.
std::pair<RunResult, int64_t> replay_into_recorder(const TempDir& d, const fs::path& file, const std::string& name) {
    const std::string ep = d.ipc(name);
    const fs::path out = d / (name + "-received.tbrec");
    Process recorder(bin_dir() / "testbed", {"feed", "record", "--endpoint", ep, "--out", out.string(), "--duration", "60"},
                     d.path());
    EXPECT_TRUE(recorder.wait_for_output("recording", 20s));
    auto r = run(bin_dir() / "testbed", {"feed", "replay", file.string(), "--endpoint", ep, "--max", "--wait", "20"}, 60s);
    // Let the last messages arrive, then stop the recorder cleanly (it closes the file on SIGTERM).
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(recorder.stop(), 0) << recorder.err();
    const auto out_text = recorder.out();
    const auto pos = out_text.find("wrote ");
    int64_t n = -1;
    if (pos != std::string::npos) n = std::stoll(out_text.substr(pos + 6));
    return {r, n};
}

fs::path make_recording(const TempDir& d, int count) {
    const fs::path tb = write_testbed(d / "tb", testbed_toml(d.ipc("unused")));
    const fs::path rec = d / "src.tbrec";
    const std::string ep = d.ipc("src");
    Process recorder(bin_dir() / "testbed",
                     {"feed", "record", "--endpoint", ep, "--out", rec.string(), "--count", std::to_string(count)},
                     d.path());
    EXPECT_TRUE(recorder.wait_for_output("recording", 20s));
    auto args = sim_args(tb, ep);
    args[7] = std::to_string(count);
    const auto r = run(bin_dir() / "testbed", args, 60s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(recorder.wait(30s), 0) << recorder.err();
    return rec;
}

TEST(FeedRecord, TruncatedRecordingReplaysTheCompleteRecordsAndSaysHowMany) {
    TempDir d;
    const fs::path rec = make_recording(d, 20);
    const auto bytes = read_file(rec);
    ASSERT_GT(bytes.size(), 100u);
    const fs::path cut = d / "cut.tbrec";
    write_file(cut, bytes.substr(0, bytes.size() - 7));  // ends inside the 20th record

    const auto [r, received] = replay_into_recorder(d, cut, "cut");
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("19 complete record(s)"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("replayed 19 message(s)"), std::string::npos) << r.err;
    EXPECT_EQ(received, 19);
}

TEST(FeedRecord, OtherFormatVersionIsRefusedNamingBothVersions) {
    TempDir d;
    const fs::path rec = make_recording(d, 3);
    auto bytes = read_file(rec);
    bytes[5] = 2;
    const fs::path v2 = d / "v2.tbrec";
    write_file(v2, bytes);
    const auto r = run(bin_dir() / "testbed", {"feed", "replay", v2.string(), "--endpoint", d.ipc("x")}, 30s);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("version 2"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("reads version 1"), std::string::npos) << r.err;

    write_file(d / "junk.tbrec", "this is not a recording at all");
    const auto j = run(bin_dir() / "testbed", {"feed", "replay", (d / "junk.tbrec").string(), "--endpoint", d.ipc("x")}, 30s);
    EXPECT_EQ(j.exit_code, 2);
    EXPECT_NE(j.err.find("not a testbed recording"), std::string::npos) << j.err;
}

TEST(FeedRecord, BadArgumentsAreUsageErrors) {
    TempDir d;
    const auto r = run(bin_dir() / "testbed", {"feed", "record", "--endpoint", "nonsense://x", "--out", (d / "a").string(),
                                               "--count", "1"},
                       30s);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("nonsense://x"), std::string::npos) << r.err;
    const auto m = run(bin_dir() / "testbed", {"feed", "replay", (d / "missing.tbrec").string(), "--endpoint", d.ipc("y")}, 30s);
    EXPECT_EQ(m.exit_code, 2);
    EXPECT_NE(m.err.find("missing.tbrec"), std::string::npos) << m.err;
}

}  // namespace
}  // namespace tb::test
