// Overload: a publisher at the transport's full speed into a host with a deliberately slow plugin
// (reliability_slow, 2 ms a message, inbox of 200) next to a cheap one (reliability_fast) and
// groundwater_alert. Checks, from the per-plugin statistics the host stores at exit
// (plugins.stats_json) and the run summary: every message offered to a plugin is either
// delivered or counted as dropped; the slow plugin really was overloaded (it dropped); the fast
// plugin lost nothing because of it. Host memory is measured and reported, not bounded (see below).
#include "reliability_common.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

namespace tb::test::reliability {
namespace {

using namespace std::chrono_literals;

// Peak resident set (VmHWM) of a process in KiB, 0 when unknown.
int64_t peak_rss_kib(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
    }
    return 0;
}

TEST(Overload, DropsAreAccountedPerPluginAndTheFastPluginLosesNothing) {
    TempDir dir;
    const auto plugins = test_plugin_dir();
    const auto tb = groundwater_testbed(dir / "tb", R"(
[[plugins]]
name = "slow"
library = ")" + (plugins / "reliability_slow.so").string() + R"("
inbox_capacity = 200
[plugins.config]
delay_us = 2000

[[plugins]]
name = "fast"
library = ")" + (plugins / "reliability_fast.so").string() + R"("
inbox_capacity = 10000
)");
    const auto db = dir / "results.db";
    const auto ingest = dir.ipc("in");
    Process host(bin_dir() / "testbed-host",
                 {"--dev", "--testbed", tb.string(), "--db", db.string(), "--ingest", ingest, "--no-output"}, dir.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    TestPublisher pub(ingest);
    ASSERT_TRUE(pub.wait_for_subscriber(10s));
    const int64_t base_kib = peak_rss_kib(host.pid());
    // 8 KiB readings (SenML with a padding field the reader skips), so queued memory shows in RSS.
    constexpr uint64_t kMessages = 10'000;
    const std::string pad(8192, 'x');
    uint64_t sent = 0;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (sent < kMessages && std::chrono::steady_clock::now() < deadline) {
        char id[16];
        std::snprintf(id, sizeof id, "GW-%04d", static_cast<int>(sent % 40) + 1);
        const std::string payload = std::string("[{\"bn\":\"") + id + "/\",\"n\":\"level\",\"u\":\"m\",\"v\":-1.5,\"t\":" +
                                    std::to_string(1.7e9 + static_cast<double>(sent)) + ",\"pad\":\"" + pad + "\"}]";
        ASSERT_TRUE(pub.send(std::string("sensor/groundwater/") + id, payload));
        ++sent;
    }
    ASSERT_EQ(sent, kMessages);
    // Stopping closes the input first, so wait until the host has taken everything in: the fast
    // plugin writes one row per message it was delivered (if it lost any, this times out).
    const bool all_in = wait_until(
        [&] {
            return query_int(db, "SELECT count(*) FROM metrics WHERE series_id IN "
                                 "(SELECT id FROM series WHERE name = 'seen')")
                       .value_or(0) >= static_cast<int64_t>(kMessages);
        },
        180s);
    const int64_t peak_kib = peak_rss_kib(host.pid());
    ASSERT_EQ(host.stop(30s), 0) << host.err();
    ASSERT_TRUE(all_in) << "the fast plugin did not record all " << kMessages << " messages";

    const auto runs = query_rows(db, "SELECT summary_json FROM runs");
    ASSERT_EQ(runs.size(), 1u);
    const auto summary = nlohmann::json::parse(runs[0][0]);
    const auto received = summary.at("received").get<uint64_t>();
    EXPECT_EQ(received, kMessages);

    std::map<std::string, nlohmann::json> stats;
    for (const auto& row : query_rows(db, "SELECT instance, stats_json FROM plugins")) {
        stats[row[0]] = nlohmann::json::parse(row[1]);
    }
    ASSERT_EQ(stats.size(), 3u);
    for (const auto& [name, s] : stats) {
        SCOPED_TRACE(name + ": " + s.dump());
        const auto offered = s.at("offered").get<uint64_t>();
        // Every plugin reads sensor/groundwater/, so each was offered every message received.
        EXPECT_EQ(offered, received);
        EXPECT_EQ(offered, s.at("delivered").get<uint64_t>() + s.at("dropped_inbox").get<uint64_t>() +
                               s.at("dropped_not_running").get<uint64_t>());
    }
    EXPECT_GT(stats["slow"].at("dropped_inbox").get<uint64_t>(), 0u) << "the slow plugin was never overloaded";
    EXPECT_EQ(stats["fast"].at("dropped_inbox").get<uint64_t>(), 0u);
    EXPECT_EQ(stats["fast"].at("dropped_not_running").get<uint64_t>(), 0u);
    EXPECT_EQ(stats["fast"].at("delivered").get<uint64_t>(), received);
    // Memory: the slow plugin's inbox is bounded (it refused messages: dropped_inbox > 0 with
    // offered == delivered + dropped, checked above). The host's RSS is NOT asserted: the ingest
    // socket's receive high-water mark (FeedReceiver rcvhwm = 1'000'000 messages) lets ZeroMQ
    // queue everything the publisher sends before the receiver thread takes it, ~150 MiB here
    // (see docs/reliability.md, "Overload"). The figure is printed for the record.
    EXPECT_GT(peak_kib, 0);
    std::printf("[ figures  ] received %llu; slow delivered %llu dropped %llu; fast delivered %llu; host RSS %lld -> "
                "peak %lld KiB\n",
                static_cast<unsigned long long>(received),
                static_cast<unsigned long long>(stats["slow"].at("delivered").get<uint64_t>()),
                static_cast<unsigned long long>(stats["slow"].at("dropped_inbox").get<uint64_t>()),
                static_cast<unsigned long long>(stats["fast"].at("delivered").get<uint64_t>()),
                static_cast<long long>(base_kib), static_cast<long long>(peak_kib));
    RecordProperty("host_peak_rss_kib", std::to_string(peak_kib));
    RecordProperty("slow_dropped", std::to_string(stats["slow"].at("dropped_inbox").get<uint64_t>()));
}

}  // namespace
}  // namespace tb::test::reliability
