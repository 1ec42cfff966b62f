// The MAVLink decoder (tools/common/mavlink.*) against frames made by node-mavlink, an
// implementation we did not write (tests/feeds/mavlink_frames.cjs), plus corrupted variants.
#include "common/mavlink.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>

namespace tb::test {
namespace {

using namespace std::chrono_literals;

std::string unhex(const std::string& h) {
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
    return out;
}

// Frames generated at test time by node-mavlink (installed by tools/setup-deps from tests/npm).
nlohmann::json node_frames(const TempDir& d) {
    const fs::path out = d / "frames.json";
    const auto r = run("/usr/bin/env", {"node", (source_dir() / "tests/feeds/mavlink_frames.cjs").string(), out.string()}, 60s);
    if (r.exit_code != 0) {
        ADD_FAILURE() << "node tests/feeds/mavlink_frames.cjs failed (run tools/setup-deps to install node-mavlink): " << r.err;
        return nlohmann::json::array();
    }
    return nlohmann::json::parse(read_file(out));
}

void expect_fields(const nlohmann::json& got, const nlohmann::json& want, const std::string& name) {
    for (const auto& [k, v] : want.items()) {
        ASSERT_TRUE(got.contains(k)) << name << ": no '" << k << "' in " << got.dump();
        if (v.is_number_float() || (v.is_number() && got[k].is_number_float())) {
            EXPECT_NEAR(got[k].get<double>(), v.get<double>(), 1e-6) << name << "." << k;
        } else {
            EXPECT_EQ(got[k], v) << name << "." << k;
        }
    }
}

TEST(Mavlink, DecodesEveryFrameNodeMavlinkProduces) {
    TempDir d;
    const auto frames = node_frames(d);
    ASSERT_GE(frames.size(), 10u);
    int decoded = 0;
    for (const auto& f : frames) {
        tools::MavStats st;
        const auto out = tools::parse_mavlink(unhex(f["hex"]), st);
        const std::string name = f["name"].get<std::string>() + " v" + std::to_string(f["version"].get<int>());
        if (f["name"] == "attitude") {
            EXPECT_TRUE(out.empty());
            EXPECT_EQ(st.errors[static_cast<int>(tools::MavError::unknown_id)], 1u) << name;
            continue;
        }
        ASSERT_EQ(out.size(), 1u) << name << ": errors " << st.errors_total();
        EXPECT_EQ(st.errors_total(), 0u) << name;
        EXPECT_EQ(out[0].version, f["version"].get<int>()) << name;
        EXPECT_EQ(out[0].msgid, f["msgid"].get<uint32_t>()) << name;
        EXPECT_EQ(out[0].sysid, f["sysid"].get<int>()) << name;
        const auto tel = tools::to_telemetry(out[0]);
        expect_fields(nlohmann::json::parse(tel.json), f["fields"], name);
        ++decoded;
    }
    EXPECT_EQ(decoded, 10);
}

TEST(Mavlink, CorruptedFramesAreCountedAndSkippedNeverMisread) {
    TempDir d;
    const auto frames = node_frames(d);
    ASSERT_FALSE(frames.empty());
    std::string pos;
    for (const auto& f : frames) {
        if (f["name"] == "position" && f["version"] == 2) pos = unhex(f["hex"]);
    }
    ASSERT_FALSE(pos.empty());
    auto errors = [](const std::string& bytes, tools::MavError e, std::size_t* n_frames = nullptr) {
        tools::MavStats st;
        const auto out = tools::parse_mavlink(bytes, st);
        if (n_frames) *n_frames = out.size();
        return st.errors[static_cast<int>(e)];
    };
    std::size_t n = 0;
    std::string flipped = pos;
    flipped[14] = static_cast<char>(flipped[14] ^ 0x40);  // a payload bit
    EXPECT_EQ(errors(flipped, tools::MavError::bad_crc, &n), 1u);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(errors(pos.substr(0, pos.size() - 3), tools::MavError::truncated, &n), 1u);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(errors("\x01\x02garbage" + pos, tools::MavError::garbage, &n), 1u);
    EXPECT_EQ(n, 1u);  // the frame after the garbage is still found
    EXPECT_EQ(errors(pos + pos, tools::MavError::garbage, &n), 0u);
    EXPECT_EQ(n, 2u);
    // A valid checksum over a payload longer than HEARTBEAT allows.
    EXPECT_EQ(errors(tools::encode_mavlink(2, 0, 1, 1, 0, std::string(20, 'x')), tools::MavError::bad_length, &n), 1u);
    EXPECT_EQ(n, 0u);
    std::string flags = pos;
    flags[2] = 0x02;  // unknown incompatibility flag
    EXPECT_EQ(errors(flags, tools::MavError::bad_flags, &n), 1u);
    EXPECT_EQ(n, 0u);

    // Random bytes: never a crash, never a frame of ours by accident (CRC + CRC_EXTRA).
    std::mt19937_64 rng(42);
    uint64_t accepted = 0;
    for (int i = 0; i < 2000; ++i) {
        std::string junk(static_cast<std::size_t>(rng() % 300), '\0');
        for (auto& c : junk) c = static_cast<char>(rng());
        if (i % 2 == 0 && !junk.empty()) junk[0] = static_cast<char>(0xFD);
        tools::MavStats st;
        accepted += tools::parse_mavlink(junk, st).size();
    }
    EXPECT_EQ(accepted, 0u);
}

TEST(Mavlink, OwnEncoderRoundTripsThroughTheDecoder) {
    std::string p(28, '\0');
    p[4] = 1;  // lat low byte only: the v2 frame truncates the rest
    for (const uint8_t v : {uint8_t{1}, uint8_t{2}}) {
        tools::MavStats st;
        const auto out = tools::parse_mavlink(tools::encode_mavlink(v, 9, 42, 1, 33, p), st);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].sysid, 42);
        EXPECT_EQ(out[0].payload, p);
    }
}

}  // namespace
}  // namespace tb::test
