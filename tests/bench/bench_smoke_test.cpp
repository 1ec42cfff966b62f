// bench_smoke_test: keeps the benchmark suite from rotting. Runs the real tb-bench (which starts
// the real testbed-host with the real groundwater_alert and bench plugins over ipc and tcp on
// 127.0.0.1) with tiny counts and checks that every workload ran and its counts were verified.
// It never looks at a figure: timing belongs to tools/bench.
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

namespace {

using tb::test::bin_dir;

TEST(BenchSmoke, GeneratorYieldsTheIssuesAlertCount) {
    const auto r = tb::test::run(bin_dir() / "tb-bench", {"alerts", "200000"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "33139\n");
}

TEST(BenchSmoke, TinySuiteRunsEveryWorkloadWithVerifiedCounts) {
    tb::test::TempDir dir;
    const auto json_file = dir / "bench.json";
    const auto r =
        tb::test::run(bin_dir() / "tb-bench", {"suite", "--tiny", "--json", json_file.string()},
                      std::chrono::seconds(180));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const auto j = nlohmann::json::parse(tb::test::read_file(json_file));
    std::set<std::string> workloads;
    for (const auto& row : j["rows"]) {
        EXPECT_TRUE(row["verified"].get<bool>()) << row.dump();
        workloads.insert(row["workload"].get<std::string>());
    }
    for (const char* w :
         {"raw", "W1 groundwater", "W2 dispatch", "W3 latency", "W4 store", "W5 scale", "W6 isolation",
          "emergency stop", "API load"}) {
        EXPECT_EQ(workloads.count(w), 1u) << "missing " << w << " in\n" << r.out;
    }
    // One table with the issue's columns.
    for (const char* column : {"workload", "figure", "ours", "raw limit", "ratio"}) {
        EXPECT_NE(r.out.find(column), std::string::npos) << "no column " << column << " in\n"
                                                         << r.out;
    }
}

TEST(BenchSmoke, RejectsAnUnknownWorkload) {
    const auto r = tb::test::run(bin_dir() / "tb-bench", {"suite", "--only", "W9"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("W9"), std::string::npos) << r.err;
}

}  // namespace
