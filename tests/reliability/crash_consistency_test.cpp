// Crash consistency: nothing the host acknowledged as committed is lost when it dies.
//
// The real testbed-host records at full speed (TestPublisher into groundwater_alert, one metric
// row per reading) and reports its committed row count in --status-file after every commit. We
// SIGKILL it at a random moment (fixed seeds), reopen the database and check: integrity_check
// is ok, the rows are at least everything acknowledged, and the host starts again on the same
// file without repair. The same for a file size limit reached mid-run (a full disk as a
// process sees it: writes fail with EFBIG): the host reports it, keeps running, stops cleanly,
// and loses nothing committed.
#include "reliability_common.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <random>

namespace tb::test::reliability {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> host_args(const fs::path& tb, const fs::path& db, const std::string& ingest,
                                   const fs::path& status) {
    return {"--dev", "--testbed", tb.string(), "--db", db.string(), "--ingest", ingest, "--no-output",
            "--status-file", status.string(), "--log-level", "info"};
}

TEST(CrashConsistency, SigkillAtRandomPointsLosesNothingCommitted) {
    TempDir dir;
    const auto tb = groundwater_testbed(dir / "tb");
    const auto db = dir / "results.db";
    int64_t rows_before = 0;
    int64_t acked_total = 0;
    for (const unsigned seed : {11u, 23u, 37u, 41u, 59u}) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        std::mt19937 rng(seed);
        const auto kill_after = std::chrono::milliseconds(std::uniform_int_distribution<int>(150, 1500)(rng));
        const auto status = dir / ("status-" + std::to_string(seed) + ".json");
        const auto ingest = dir.ipc("in-" + std::to_string(seed));
        Process host(bin_dir() / "testbed-host", host_args(tb, db, ingest, status), dir.path());
        ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
        TestPublisher pub(ingest);
        ASSERT_TRUE(pub.wait_for_subscriber(10s));
        const uint64_t sent = publish_for(pub, kill_after, 5'000'000);
        ASSERT_GT(sent, 0u);
        host.signal(SIGKILL);
        ASSERT_EQ(host.wait(30s), -SIGKILL);
        // The status file is rewritten (by rename) after each commit, so whatever it says now
        // is the last count the host acknowledged before it died.
        const int64_t acked = status_committed(status);
        acked_total += acked;

        const auto c = reopen(db);
        ASSERT_TRUE(c.error.empty()) << c.error;
        EXPECT_EQ(c.integrity, "ok");
        const int64_t rows = c.metrics + c.events;
        EXPECT_GE(rows - rows_before, acked) << "rows committed before the kill are missing";
        std::printf("[ figures  ] seed %u: killed after %lld ms, %llu sent, %lld acknowledged, %lld rows added\n", seed,
                    static_cast<long long>(kill_after.count()), static_cast<unsigned long long>(sent),
                    static_cast<long long>(acked), static_cast<long long>(rows - rows_before));
        rows_before = rows;
    }
    // At least some rounds must have committed something, or the test proved nothing.
    EXPECT_GT(acked_total, 0);

    // The host starts again on the same database, records, and stops cleanly.
    const auto ingest = dir.ipc("in-final");
    Process host(bin_dir() / "testbed-host", host_args(tb, db, ingest, dir / "status-final.json"), dir.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    TestPublisher pub(ingest);
    ASSERT_TRUE(pub.wait_for_subscriber(10s));
    ASSERT_EQ(publish_for(pub, 10s, 500), 500u);
    ASSERT_TRUE(wait_until([&] { return status_committed(dir / "status-final.json") >= 500; }, 60s)) << host.err();
    EXPECT_EQ(host.stop(), 0) << host.err();
    const auto c = reopen(db);
    EXPECT_EQ(c.integrity, "ok");
    EXPECT_GE(c.metrics + c.events, rows_before + 500);
    // Every run, killed or not, is in the runs table; the killed ones have no end time.
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM runs"), 6);
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM runs WHERE ended_us IS NULL"), 5);
}

TEST(CrashConsistency, FileSizeLimitReportsErrorKeepsCommittedRowsAndRestarts) {
    TempDir dir;
    const auto tb = groundwater_testbed(dir / "tb");
    const auto db = dir / "results.db";
    const auto status = dir / "status.json";
    const auto ingest = dir.ipc("in");
    // Writes past the limit fail with EFBIG instead of killing the process with SIGXFSZ (the
    // ignored disposition is inherited through fork and exec).
    std::signal(SIGXFSZ, SIG_IGN);
    constexpr int64_t kLimitBytes = 3 * 1024 * 1024;
    auto args = host_args(tb, db, ingest, status);
    args.insert(args.begin(), {"--fsize=" + std::to_string(kLimitBytes), (bin_dir() / "testbed-host").string()});
    int64_t acked = 0;
    {
        Process host("/usr/bin/prlimit", args, dir.path());
        ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
        TestPublisher pub(ingest);
        ASSERT_TRUE(pub.wait_for_subscriber(10s));
        // Far more than fits: ~100 bytes a row, so the limit is reached within the first 60k rows.
        uint64_t sent = 0;
        const bool reported = wait_until(
            [&] {
                sent += publish_for(pub, 50ms, 5000, sent);
                return host.err().find("failed") != std::string::npos || !host.running();
            },
            120s);
        ASSERT_TRUE(reported) << "no write failure reported after " << sent << " messages";
        ASSERT_TRUE(host.running()) << "host died on a full disk: " << host.err();
        EXPECT_NE(host.err().find("row(s) failed"), std::string::npos) << host.err();
        // It keeps running (more input is refused cleanly, not fatally) and stops cleanly.
        publish_for(pub, 200ms, 2000, sent);
        acked = status_committed(status);
        EXPECT_EQ(host.stop(), 0) << host.err();
        EXPECT_GE(status_committed(status), acked);
        acked = status_committed(status);
    }
    EXPECT_GT(acked, 0);
    auto c = reopen(db);
    std::printf("[ figures  ] file size limit: %lld rows acknowledged, %lld in the database\n",
                static_cast<long long>(acked), static_cast<long long>(c.metrics + c.events));
    ASSERT_TRUE(c.error.empty()) << c.error;
    EXPECT_EQ(c.integrity, "ok");
    EXPECT_GE(c.metrics + c.events, acked);
    const int64_t rows_before = c.metrics + c.events;

    // With space again, the same database takes new rows.
    const auto status2 = dir / "status2.json";
    Process host(bin_dir() / "testbed-host", host_args(tb, db, dir.ipc("in2"), status2), dir.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    TestPublisher pub(dir.ipc("in2"));
    ASSERT_TRUE(pub.wait_for_subscriber(10s));
    ASSERT_EQ(publish_for(pub, 10s, 200), 200u);
    ASSERT_TRUE(wait_until([&] { return status_committed(status2) >= 200; }, 60s)) << host.err();
    EXPECT_EQ(host.stop(), 0) << host.err();
    c = reopen(db);
    EXPECT_EQ(c.integrity, "ok");
    EXPECT_GE(c.metrics + c.events, rows_before + 200);
}

}  // namespace
}  // namespace tb::test::reliability
