// docs/wire-format.md promises that its Python example works as written: this test extracts the
// ```python block from the page, runs it with python3 against a real host, and checks that the
// host received and recorded every reading.
#include "support/test_support.hpp"

#include <gtest/gtest.h>

namespace tb::test {
namespace {

std::string python_example() {
    const std::string doc = read_file(source_dir() / "docs" / "wire-format.md");
    const auto start = doc.find("```python\n");
    if (start == std::string::npos) return {};
    const auto body = start + 10;
    return doc.substr(body, doc.find("```", body) - body);
}

TEST(WireFormatDoc, PythonExampleWorksAsWritten) {
    const auto code = python_example();
    ASSERT_FALSE(code.empty()) << "docs/wire-format.md has no ```python block";
    if (run("/usr/bin/python3", {"-c", "import zmq"}).exit_code != 0) {
        GTEST_SKIP() << "python3-zmq is not installed (tools/setup-deps installs it)";
    }
    TempDir dir;
    write_file(dir / "publish.py", code);
    write_testbed(dir / "tb", "[testbed]\nid = \"doc\"\n[host]\ningest = \"" + dir.ipc("in") +
                                  "\"\noutput = \"\"\n[[plugins]]\nname = \"gw\"\nlibrary = \"" +
                                  (plugin_dir() / "groundwater_alert.so").string() + "\"\ntrusted = true\n");
    const auto db = dir / "r.db";
    Process host(bin_dir() / "testbed-host", {"--testbed", (dir / "tb").string(), "--db", db.string(), "--status-file", (dir / "status.json").string()},
                 dir.path());
    ASSERT_TRUE(host.wait_for_output("testbed-host: ready", std::chrono::seconds(30))) << host.err();
    const auto r = run("/usr/bin/python3", {(dir / "publish.py").string(), dir.ipc("in"), "25"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("sent 25 readings"), std::string::npos);
    // Stop only once the host has committed every reading.
    ASSERT_TRUE(wait_until([&] { return read_file(dir / "status.json").find("\"committed_rows\":25,") != std::string::npos; },
                           std::chrono::seconds(30)))
        << read_file(dir / "status.json") << host.err();
    ASSERT_EQ(host.stop(), 0) << host.err();
    EXPECT_EQ(query_int(db, "SELECT json_extract(summary_json, '$.received') FROM runs"), 25);
    EXPECT_EQ(query_int(db, "SELECT COUNT(*) FROM v_metrics WHERE metric = 'level'"), 25);
    EXPECT_EQ(query_int(db, "SELECT SUM(gaps) FROM feed_health"), 0);
    EXPECT_EQ(query_int(db, "SELECT COUNT(*) FROM feed_health"), 3);
}

}  // namespace
}  // namespace tb::test
