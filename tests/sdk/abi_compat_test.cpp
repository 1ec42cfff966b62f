// abi_compat_test: the ABI holds across SDK versions, compilers and languages (issue #3).
//  - abi10_probe.so is built from the frozen ABI 1.0 headers (tests/sdk/frozen/abi-1.0) and
//    must load and run in the current host, forever;
//  - abi11_probe.so uses the ABI 1.1 monotonic_ns and works in the current host, and against a
//    1.0-sized host table it fails with "needs host ABI >= 1.1" instead of crashing;
//  - c11_probe.so is plain C11 (no libstdc++); clang_probe.so is built by clang++ while the
//    host is built by the project's compiler (g++).
// The run tests use the real testbed-host, real ZeroMQ (ipc) and the real SQLite results file.
#include "loader/plugin_library.hpp"
#include "support/test_support.hpp"

#include <testbed/testkit.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

namespace fs = std::filesystem;
using tb::host::PluginLibrary;
using namespace tb::test;
using namespace std::chrono_literals;

fs::path probe(const std::string& name) {
    return test_plugin_dir() / (name + ".so");
}

bool file_contains(const fs::path& file, const std::string& needle) {
    return read_file(file).find(needle) != std::string::npos;
}

TEST(AbiCompat, FrozenPluginReportsAbi10) {
    auto lib = PluginLibrary::load(probe("abi10_probe"));
    ASSERT_TRUE(lib) << lib.error().message;
    EXPECT_EQ((*lib)->manifest().abi_major, 1u);
    EXPECT_EQ((*lib)->manifest().abi_minor, 0u)
        << "abi10_probe must be built from the frozen 1.0 headers";
    EXPECT_EQ((*lib)->manifest().sdk_version, "1.0.0");
    EXPECT_EQ((*lib)->desc().struct_size, PluginLibrary::min_desc_size());
}

TEST(AbiCompat, CurrentPluginReportsAbi11) {
    auto lib = PluginLibrary::load(probe("abi11_probe"));
    ASSERT_TRUE(lib) << lib.error().message;
    EXPECT_EQ((*lib)->manifest().abi_minor, static_cast<uint32_t>(TB_ABI_MINOR));
    EXPECT_GE(TB_ABI_MINOR, 1);
    EXPECT_EQ((*lib)->manifest().sdk_version, TB_SDK_VERSION);
    EXPECT_NE((*lib)->manifest().metric("elapsed_ns"), nullptr);
}

TEST(AbiCompat, C11PluginHasNoCppRuntime) {
    const fs::path file = probe("c11_probe");
    ASSERT_TRUE(fs::exists(file));
    EXPECT_FALSE(file_contains(file, "libstdc++"))
        << "c11_probe must not depend on the C++ runtime";
    auto lib = PluginLibrary::load(file);
    ASSERT_TRUE(lib) << lib.error().message;
}

TEST(AbiCompat, ClangPluginWasBuiltByClang) {
    // The .comment section records the compiler; the host's own plugins carry "GCC:".
    EXPECT_TRUE(file_contains(probe("clang_probe"), "clang version"));
    EXPECT_TRUE(file_contains(probe("abi11_probe"), "GCC: "))
        << "the project compiler is expected to be g++";
    auto lib = PluginLibrary::load(probe("clang_probe"));
    ASSERT_TRUE(lib) << lib.error().message;
    EXPECT_EQ((*lib)->manifest().id, "clang_probe");
}

// A 1.1 plugin handed a 1.0 host table (struct_size = TB_HOST_API_SIZE_1_0, abi_minor 0) by the
// test kit: every message fails with TB_E_UNSUPPORTED and a clear message, nothing crashes.
TEST(AbiCompat, Abi11PluginInAbi10HostGetsClearError) {
    tb::testkit::Options old_host;
    old_host.host_abi_minor = 0;
    tb::testkit::Harness h(probe("abi11_probe").string(), old_host);
    EXPECT_EQ(h.host().api()->struct_size, TB_HOST_API_SIZE_1_0);
    const auto r = h.send("sensor/test/T-1", tb::testkit::senml_value("x", "1", 4));
    EXPECT_EQ(r.code, TB_E_UNSUPPORTED);
    EXPECT_NE(r.message.find("needs host ABI >= 1.1 (host has 1.0)"), std::string::npos)
        << r.message;
    EXPECT_TRUE(h.metrics().empty());

    // The same plugin with a 1.1 table works and measures with the (fake) monotonic clock.
    tb::testkit::Harness current(probe("abi11_probe").string());
    const auto ok = current.send("sensor/test/T-1", tb::testkit::senml_value("x", "1", 4));
    EXPECT_TRUE(ok.ok()) << ok.message;
    EXPECT_EQ(current.metrics("elapsed_ns").size(), 1u);
    ASSERT_EQ(current.metrics("value").size(), 1u);
    EXPECT_EQ(current.metrics("value")[0].value, 4);
}

// The frozen 1.0 plugin never looks past the 1.0 table, so a 1.0 host serves it too.
TEST(AbiCompat, FrozenPluginInAbi10Host) {
    tb::testkit::Options old_host;
    old_host.host_abi_minor = 0;
    tb::testkit::Harness h(probe("abi10_probe").string(), old_host);
    const auto r = h.send("sensor/test/T-1", tb::testkit::senml_value("x", "1", 2.5));
    EXPECT_TRUE(r.ok()) << r.message;
    ASSERT_EQ(h.metrics("abi_minor").size(), 1u);
    EXPECT_EQ(h.metrics("abi_minor")[0].value, 0);
}

// All four probes in one real host: each receives the feed and records through the host API.
TEST(AbiCompat, AllProbesRunInTheRealHost) {
    TempDir dir;
    const std::string in = dir.ipc("in");
    const fs::path testbed = write_testbed(dir / "tb", R"(
[testbed]
id = "abi-compat"
name = "ABI compatibility"

[host]
ingest = ")" + in + R"("
output = ")" + dir.ipc("out") + R"("

[[plugins]]
name = "frozen10"
library = ")" + probe("abi10_probe").string() + R"("

[[plugins]]
name = "current11"
library = ")" + probe("abi11_probe").string() + R"("

[[plugins]]
name = "plain_c"
library = ")" + probe("c11_probe").string() + R"("
[plugins.config]
scale = 3

[[plugins]]
name = "clang_built"
library = ")" + probe("clang_probe").string() + R"("
)");
    const fs::path db = dir / "results.db";
    Process host(bin_dir() / "testbed-host", {"--dev", "--testbed", testbed.string(), "--db", db.string()},
                 dir.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.out() << host.err();
    TestPublisher pub(in);
    ASSERT_TRUE(pub.wait_for_subscriber(10s));
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(pub.send("sensor/test/T-" + std::to_string(i),
                             tb::testkit::senml_value("x", "1", 10.0 + i)));
    }
    auto count = [&](const std::string& plugin, const std::string& metric) {
        return query_int(db, "SELECT COUNT(*) FROM v_metrics WHERE plugin_id = '" + plugin +
                                 "' AND metric = '" + metric + "'")
            .value_or(0);
    };
    const bool all = wait_until(
        [&] {
            return count("abi10_probe", "value") == 3 && count("abi11_probe", "elapsed_ns") == 3 &&
                   count("c11_probe", "bytes") == 3 && count("clang_probe", "elapsed_ns") == 3;
        },
        30s);
    EXPECT_TRUE(all) << "abi10 " << count("abi10_probe", "value") << ", abi11 "
                     << count("abi11_probe", "elapsed_ns") << ", c11 "
                     << count("c11_probe", "bytes") << ", clang "
                     << count("clang_probe", "elapsed_ns") << "\n"
                     << host.out() << host.err();
    EXPECT_EQ(host.stop(), 0) << host.err();

    // The frozen plugin saw the current host's minor through its 1.0 view of the table.
    const auto minors =
        query_rows(db,
                   "SELECT DISTINCT value FROM v_metrics WHERE plugin_id = 'abi10_probe' AND "
                   "metric = 'abi_minor'");
    ASSERT_EQ(minors.size(), 1u);
    EXPECT_EQ(std::stod(minors[0][0]), TB_ABI_MINOR);
    const auto sums =
        query_rows(db,
                   "SELECT SUM(value) FROM v_metrics WHERE plugin_id = 'clang_probe' AND "
                   "metric = 'value'");
    ASSERT_EQ(sums.size(), 1u);
    EXPECT_EQ(std::stod(sums[0][0]), 33.0);
    const auto scale =
        query_rows(db,
                   "SELECT DISTINCT value FROM v_metrics WHERE plugin_id = 'c11_probe' AND "
                   "metric = 'scale'");
    ASSERT_EQ(scale.size(), 1u);
    EXPECT_EQ(std::stod(scale[0][0]), 3.0) << "the C plugin reads its config through config_get";
}

}  // namespace
