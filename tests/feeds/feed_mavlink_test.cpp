// testbed feed mavlink as a process: node-mavlink frames and corrupted variants sent over UDP
// arrive as drone/<sysid>/... JSON on the ZeroMQ side; bad ones are counted per reason.
#include "feed_test_util.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace tb::test {
namespace {

using namespace std::chrono_literals;

std::string unhex(const std::string& h) {
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
    return out;
}

TEST(FeedMavlink, BridgesNodeMavlinkFramesAndCountsBadOnes) {
    TempDir d;
    const fs::path fixture = d / "frames.json";
    const auto g = run("/usr/bin/env", {"node", (source_dir() / "tests/feeds/mavlink_frames.cjs").string(), fixture.string()}, 60s);
    ASSERT_EQ(g.exit_code, 0) << "node-mavlink missing? run tools/setup-deps: " << g.err;
    const auto frames = nlohmann::json::parse(read_file(fixture));

    const std::string ep = d.ipc("ingest");
    IngestSink sink(ep);
    const int port = free_port(SOCK_DGRAM);
    Process bridge(bin_dir() / "testbed", {"feed", "mavlink", "--udp", "127.0.0.1:" + std::to_string(port), "--endpoint", ep,
                                           "--stats-every", "0"},
                   d.path());
    ASSERT_TRUE(sink.serve_until([&] { return bridge.out().find("listening") != std::string::npos; }, 30s))
        << bridge.err();
    EXPECT_EQ(bridge.err().find("no host subscribed"), std::string::npos) << bridge.err();

    std::string position_v2;
    int sent_valid = 0;
    for (const auto& f : frames) {
        const std::string bytes = unhex(f["hex"]);
        if (f["name"] == "position" && f["version"] == 2) position_v2 = bytes;
        udp_send(port, bytes);
        if (f["name"] != "attitude") ++sent_valid;
    }
    // Corrupted variants: a flipped bit, a cut-off frame, line noise.
    std::string flipped = position_v2;
    flipped[12] = static_cast<char>(flipped[12] ^ 1);
    udp_send(port, flipped);
    udp_send(port, position_v2.substr(0, 15));
    udp_send(port, std::string("\x00\x13\x37noise", 8));

    std::set<std::string> topics;
    nlohmann::json position;
    for (int i = 0; i < sent_valid; ++i) {
        auto m = sink.recv(20s);
        ASSERT_TRUE(m) << "only " << i << " of " << sent_valid << " arrived; " << bridge.err();
        ASSERT_EQ(m->size(), 3u);
        EXPECT_EQ((*m)[1][3], 2);  // JSON
        topics.insert((*m)[0]);
        if ((*m)[0] == "drone/7/position") position = nlohmann::json::parse((*m)[2]);
    }
    EXPECT_EQ(topics, (std::set<std::string>{"drone/7/heartbeat", "drone/7/position", "drone/7/status", "drone/7/battery",
                                             "drone/7/odid"}));
    EXPECT_NEAR(position["lat_deg"].get<double>(), 52.273215, 1e-7);
    EXPECT_NEAR(position["rel_alt_m"].get<double>(), 30.25, 1e-9);
    EXPECT_FALSE(sink.recv(300ms));  // none of the corrupted frames got through

    EXPECT_EQ(bridge.stop(), 0);
    const std::string out = bridge.out();
    EXPECT_NE(out.find(std::to_string(sent_valid) + " frame(s) decoded"), std::string::npos) << out;
    for (const char* r : {"bad_crc=1", "truncated=1", "garbage=", "unknown_id=1"}) {
        EXPECT_NE(out.find(r), std::string::npos) << r << " in " << out;
    }
}

TEST(FeedMavlink, BadUdpAddressIsAUsageError) {
    TempDir d;
    const auto r = run(bin_dir() / "testbed", {"feed", "mavlink", "--udp", "localhost", "--endpoint", d.ipc("x")}, 30s);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("localhost"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tb::test
