// The `testbed` CLI, run as a process: errors name the thing and exit with 2 (bad input).
#include "support/test_support.hpp"

#include <gtest/gtest.h>

namespace tb::test {
namespace {

using ::testing::HasSubstr;

TEST(TestbedCli, ReportOnAMissingDatabaseSaysWhatToDo) {
    TempDir dir;
    const auto r = run(bin_dir() / "testbed", {"report", "--db", (dir / "none.db").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("none.db"));
    EXPECT_THAT(r.err, HasSubstr("does not exist"));
    EXPECT_FALSE(fs::exists(dir / "none.db")) << "report must not create a database";
}

TEST(TestbedCli, ReportOnAnEmptyDatabaseSaysThereIsNothing) {
    TempDir dir;
    // A host run with no input leaves a valid, empty database.
    write_testbed(dir / "tb", "[testbed]\nid = \"x\"\n[host]\ningest = \"" + dir.ipc("in") + "\"\noutput = \"\"\n");
    ASSERT_EQ(run(bin_dir() / "testbed-host", {"--testbed", (dir / "tb").string(), "--db", (dir / "r.db").string(), "--duration", "0.2"}).exit_code, 0);
    const auto r = run(bin_dir() / "testbed", {"report", "--db", (dir / "r.db").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("No metric samples recorded."));
}

TEST(TestbedCli, SimWithABadTestbedOrNoHostFailsClearly) {
    TempDir dir;
    auto r = run(bin_dir() / "testbed", {"feed", "sim", "--testbed", (dir / "missing").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("missing"));
    r = run(bin_dir() / "testbed", {"feed", "sim", "--testbed", testbed_dir("city-centre").string(), "--endpoint",
                                    dir.ipc("nobody"), "--wait", "0.3"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("no host subscribed"));
    r = run(bin_dir() / "testbed", {"feed", "sim", "--testbed", testbed_dir("city-centre").string(), "--rate", "-5"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("--rate"));
}

TEST(TestbedCli, UnknownSubcommandIsAUsageError) {
    const auto r = run(bin_dir() / "testbed", {"frobnicate"});
    EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace tb::test
