// tests/governance/gov_fixture.hpp: shared set-up for governance tests: a testbed with a personal
// groundwater group and a footfall group, the gov_probe plugins, and helpers that drive the real
// `testbed` CLI and `testbed-host`. Thread safety: single-threaded tests.
#pragma once

#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

namespace tb::test::gov {

inline std::string testbed_toml(const TempDir& dir) {
    return R"(
[testbed]
id = "gov-test"
name = "Governance test"
zone = "zones/city-centre.geojson"

[host]
ingest = ")" + dir.ipc("ingest") + R"("
output = ""
workers = 2

[[sensors]]
kind = "groundwater"
topic_prefix = "sensor/groundwater/"
id_prefix = "GW-"
count = 4
unit = "m"
personal = true

[[sensors]]
kind = "footfall"
topic_prefix = "sensor/footfall/"
id_prefix = "FF-"
count = 4
unit = "count"
)";
}

inline fs::path probe(const std::string& which = "a") { return test_plugin_dir() / ("gov_probe_" + which + ".so"); }

inline RunResult cli(std::vector<std::string> args) { return run(bin_dir() / "testbed", std::move(args)); }

inline std::string unix_s(int64_t offset_s) { return std::to_string(static_cast<int64_t>(std::time(nullptr)) + offset_s); }

// Propose a trial (window now-1h .. now+until_s) and return its id, or -1.
inline int64_t propose(const fs::path& db, const fs::path& plugin, std::vector<std::string> extra = {},
                       int64_t until_s = 3600) {
    std::vector<std::string> args{"trial", "propose", "--plugin", plugin.string(), "--org", "Test BV",
                                  "--testbed", "gov-test", "--from", unix_s(-3600), "--until", unix_s(until_s),
                                  "--purpose", "governance test", "--db", db.string()};
    bool has_reads = false;
    for (const auto& e : extra) has_reads = has_reads || e == "--reads";
    if (!has_reads) {
        args.insert(args.end(), {"--reads", "sensor/"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) return -1;
    const auto pos = r.out.find("trial ");
    return std::stoll(r.out.substr(pos + 6));
}

inline void decide(const fs::path& db, const std::string& action, int64_t id) {
    auto r = cli({"trial", action, std::to_string(id), "--by", "Alice Staff", "--reason", "test", "--db", db.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
}

inline std::vector<std::string> host_args(const fs::path& tb, const fs::path& db) {
    return {"--testbed", tb.string(), "--db", db.string(), "--no-output", "--log-level", "info"};
}

inline int64_t count(const fs::path& db, const std::string& sql) { return query_int(db, sql).value_or(-1); }

inline int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace tb::test::gov
