// The demo story end to end (issue 7): the real host runs the city-centre testbed with the real
// parking_guide plugin; the real simulator publishes parking occupancy and search times and
// follows the guidance the plugin publishes on the host's output; the report then finds that
// guided zones search significantly shorter than the control zones, with every guardrail green.
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using namespace tb::test;

TEST(DemoStory, GuidanceShortensSearchTimeAndReportDetectsIt) {
    TempDir dir;
    const auto db = (dir / "results.db").string();
    const std::string in = dir.ipc("in"), out = dir.ipc("out");
    {
        Process host(bin_dir() / "testbed-host",
                     {"--dev", "--testbed", testbed_dir("city-centre").string(), "--db", db, "--plugin-dir",
                      plugin_dir().string(), "--ingest", in, "--output", out, "--log-level", "warn"},
                     dir.path());
        ASSERT_TRUE(host.wait_for_output("ready", std::chrono::seconds(30))) << host.err();
        // Eight simulated hours (08:00 to 16:00 local) in eight seconds.
        const auto sim = run(bin_dir() / "testbed",
                             {"feed", "sim", "--testbed", testbed_dir("city-centre").string(), "--endpoint", in,
                              "--follow", out, "--speed", "3600", "--start", "1789974000", "--duration", "8", "--rate",
                              "400", "--wait", "20"},
                             std::chrono::seconds(90));
        ASSERT_EQ(sim.exit_code, 0) << sim.out << sim.err;
        EXPECT_EQ(sim.out.find("followed 0 guidance"), std::string::npos) << sim.out;
        EXPECT_EQ(host.stop(), 0) << host.err();
    }
    const auto r = run(bin_dir() / "testbed", {"report", "--db", db, "--plugin", "parking_guide", "--control-subjects",
                                               "PZ-0003,PZ-0004", "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& t = j["trials"][0];
    const auto& k = t["kpis"][0];
    ASSERT_EQ(k["metric"], "search_time");
    EXPECT_EQ(k["verdict"], "improved") << k["verdict_text"] << "\n" << k["notes"].dump();
    EXPECT_LT(k["test"]["ci95_high"].get<double>(), 0.0);
    EXPECT_EQ(t["overall"], "improved") << t["overall_text"];
    for (const auto& g : t["guardrails"]) EXPECT_EQ(g["status"], "green") << g["name"] << ": " << g["detail"];
}

}  // namespace

namespace {

TEST(DemoStory, FollowNeedsAValidEndpoint) {
    const auto r = tb::test::run(tb::test::bin_dir() / "testbed",
                                 {"feed", "sim", "--testbed", tb::test::testbed_dir("city-centre").string(), "--endpoint",
                                  "ipc:///nonexistent/in.sock", "--follow", "not-an-endpoint", "--wait", "0.1"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--follow not-an-endpoint"), std::string::npos) << r.err;
}

}  // namespace
