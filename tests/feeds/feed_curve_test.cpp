// CURVE on a real host ingest (keys from `testbed keys new`): an authorized publisher's messages
// arrive, an unknown key's and an unauthenticated publisher's never do. Also the XSUB/XPUB proxy.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/test_support.hpp"

namespace tb::test {
namespace {

using namespace std::chrono_literals;

std::string toml(const std::string& ingest, const std::string& id_prefix,
                 const std::string& host_extra = "") {
    return R"([testbed]
id = "curve-test"
name = "curve test"
zone = "zones/city-centre.geojson"

[host]
ingest = ")" +
           ingest + R"("
output = ""
)" + host_extra +
           R"(
[[sensors]]
kind = "groundwater"
topic_prefix = "sensor/groundwater/"
id_prefix = ")" +
           id_prefix + R"("
count = 2
unit = "m"
)";
}

void new_key(const TempDir& d, const std::string& name) {
    const auto r = run(bin_dir() / "testbed",
                       {"keys", "new", "--out", (d / "keys").string(), "--name", name}, 30s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST(FeedCurve, OnlyAuthorizedPublishersAreHeard) {
    TempDir d;
    for (const char* n : {"host", "good", "stranger"}) new_key(d, n);
    struct stat st {};
    ASSERT_EQ(::stat((d / "keys" / "good.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // Creating it again is refused rather than overwriting a key.
    EXPECT_EQ(run(bin_dir() / "testbed",
                  {"keys", "new", "--out", (d / "keys").string(), "--name", "good"}, 30s)
                  .exit_code,
              2);
    fs::create_directories(d / "authorized");
    fs::copy_file(d / "keys" / "good.pub", d / "authorized" / "good.pub");

    const std::string ingest = d.ipc("ingest");
    const fs::path host_tb = write_testbed(
        d / "host",
        toml(ingest, "GW-",
             "curve_secret_key_file = \"" + (d / "keys" / "host.key").string() +
                 "\"\ncurve_authorized_keys = \"" + (d / "authorized").string() + "\"\n"));
    const fs::path db = d / "r.db";
    Process host(bin_dir() / "testbed-host",
                 {"--dev", "--testbed", host_tb.string(), "--db", db.string()}, d.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();

    auto sim = [&](const std::string& prefix, std::vector<std::string> curve,
                   const std::string& wait_s) {
        const fs::path tb = write_testbed(d / ("sim-" + prefix), toml(d.ipc("unused"), prefix));
        std::vector<std::string> args{"feed",       "sim",    "--testbed", tb.string(),
                                      "--endpoint", ingest,   "--count",   "20",
                                      "--max",      "--wait", wait_s};
        args.insert(args.end(), curve.begin(), curve.end());
        return run(bin_dir() / "testbed", args, 60s);
    };
    const std::string server = (d / "keys" / "host.pub").string();
    // Not authorized: the handshake never completes, so no subscription reaches it.
    const auto bad = sim(
        "BAD-",
        {"--curve-server-key", server, "--curve-key", (d / "keys" / "stranger.key").string()}, "3");
    EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
    const auto plain = sim("PLAIN-", {}, "3");
    EXPECT_EQ(plain.exit_code, 1) << plain.out << plain.err;
    const auto good = sim(
        "GW-", {"--curve-server-key", server, "--curve-key", (d / "keys" / "good.key").string()},
        "20");
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;

    ASSERT_TRUE(wait_until(
        [&] { return query_int(db, "SELECT sum(messages) FROM feed_health").value_or(0) >= 20; },
        30s))
        << host.err();
    EXPECT_EQ(host.stop(), 0);
    EXPECT_EQ(query_int(db, "SELECT sum(messages) FROM feed_health"), 20);
    EXPECT_EQ(
        query_int(
            db, "SELECT count(*) FROM feed_health WHERE source NOT LIKE 'sensor/groundwater/GW-%'"),
        0);
    EXPECT_NE(host.err().find("not in the authorized keys"), std::string::npos) << host.err();
}

TEST(FeedCurve, HostRefusesToStartWithAReadableSecretKey) {
    TempDir d;
    new_key(d, "host");
    fs::create_directories(d / "authorized");
    ::chmod((d / "keys" / "host.key").c_str(), 0644);
    const fs::path tb = write_testbed(
        d / "tb",
        toml(d.ipc("ingest"), "GW-",
             "curve_secret_key_file = \"" + (d / "keys" / "host.key").string() +
                 "\"\ncurve_authorized_keys = \"" + (d / "authorized").string() + "\"\n"));
    const auto r = run(
        bin_dir() / "testbed-host",
        {"--dev", "--testbed", tb.string(), "--db", (d / "r.db").string(), "--duration", "1"}, 30s);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE((r.out + r.err).find("chmod 600"), std::string::npos) << r.out << r.err;
}

// A key file is TOML too: text toml++ 3.3.0 cannot read safely is refused with its line
// (config/toml_guard), not handed to the parser.
TEST(FeedCurve, HostRefusesAKeyFileTheTomlReaderCannotReadSafely) {
    TempDir d;
    fs::create_directories(d / "keys");
    fs::create_directories(d / "authorized");
    const fs::path key = d / "keys" / "host.key";
    write_file(key, "# CURVE key\npublic_key\xC3\xA9 = \"x\"\n");
    ::chmod(key.c_str(), 0600);
    const fs::path tb = write_testbed(d / "tb", toml(d.ipc("ingest"), "GW-",
                                                     "curve_secret_key_file = \"" + key.string() +
                                                         "\"\ncurve_authorized_keys = \"" +
                                                         (d / "authorized").string() + "\"\n"));
    const auto r = run(
        bin_dir() / "testbed-host",
        {"--dev", "--testbed", tb.string(), "--db", (d / "r.db").string(), "--duration", "1"}, 30s);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE((r.out + r.err).find("host.key:2: not a key file: non-ASCII character"),
              std::string::npos)
        << r.out << r.err;
}

TEST(FeedProxy, ForwardsPublishersToAHost) {
    TempDir d;
    const std::string ingest = d.ipc("ingest"), in = d.ipc("proxy-in");
    const fs::path tb = write_testbed(d / "tb", toml(ingest, "GW-"));
    const fs::path db = d / "r.db";
    Process host(bin_dir() / "testbed-host",
                 {"--dev", "--testbed", tb.string(), "--db", db.string()}, d.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.err();
    Process proxy(bin_dir() / "testbed",
                  {"feed", "proxy", "--in", in, "--out", ingest, "--out-connect"}, d.path());
    ASSERT_TRUE(proxy.wait_for_output("forwarding", 30s)) << proxy.err();
    const auto r = run(bin_dir() / "testbed",
                       {"feed", "sim", "--testbed", tb.string(), "--endpoint", in, "--count", "30",
                        "--max", "--wait", "20"},
                       60s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(wait_until(
        [&] { return query_int(db, "SELECT sum(messages) FROM feed_health").value_or(0) >= 30; },
        30s))
        << host.err();
    EXPECT_EQ(proxy.stop(), 0);
    EXPECT_EQ(host.stop(), 0);
}

}  // namespace
}  // namespace tb::test
