#include "wire/wire.hpp"

#include <gtest/gtest.h>

namespace tb::wire {
namespace {

TEST(WireHeader, RoundTripsEveryField) {
    Header h;
    h.content_type = ContentType::json;
    h.flags = 0;
    h.sequence = 0x0102030405060708ULL;
    h.source_time_us = -1234567890123;
    const auto bytes = encode_header(h);
    ASSERT_EQ(bytes.size(), kHeaderSize);
    EXPECT_EQ(bytes[0], 'T');
    EXPECT_EQ(bytes[1], 'B');
    EXPECT_EQ(bytes[2], 1);
    EXPECT_EQ(bytes[3], 2);
    EXPECT_EQ(static_cast<unsigned char>(bytes[8]), 0x08);  // little-endian sequence
    Header out;
    DropReason why{};
    ASSERT_TRUE(decode_header(std::string_view(bytes.data(), bytes.size()), out, why));
    EXPECT_EQ(out.sequence, h.sequence);
    EXPECT_EQ(out.source_time_us, h.source_time_us);
    EXPECT_EQ(out.content_type, ContentType::json);
}

TEST(WireHeader, RejectsEachMalformedShapeWithItsReason) {
    const auto good = encode_header(Header{});
    std::string g(good.data(), good.size());
    Header out;
    DropReason why{};
    EXPECT_FALSE(decode_header(g.substr(0, 23), out, why));
    EXPECT_EQ(why, DropReason::short_header);
    EXPECT_FALSE(decode_header(g + "x", out, why));
    EXPECT_EQ(why, DropReason::short_header);
    std::string bad = g;
    bad[0] = 'X';
    EXPECT_FALSE(decode_header(bad, out, why));
    EXPECT_EQ(why, DropReason::bad_magic);
    bad = g;
    bad[2] = 2;
    EXPECT_FALSE(decode_header(bad, out, why));
    EXPECT_EQ(why, DropReason::unknown_version);
    bad = g;
    bad[3] = 9;
    EXPECT_FALSE(decode_header(bad, out, why));
    EXPECT_EQ(why, DropReason::unknown_content_type);
    bad[3] = 0;
    EXPECT_FALSE(decode_header(bad, out, why));
    EXPECT_EQ(why, DropReason::unknown_content_type);
}

TEST(WireTopic, AcceptsPathsAndRejectsEmptyLongOrSpaced) {
    EXPECT_TRUE(valid_topic("sensor/groundwater/GW-0042"));
    EXPECT_FALSE(valid_topic(""));
    EXPECT_FALSE(valid_topic("sensor/ground water"));
    EXPECT_FALSE(valid_topic(std::string("a\0b", 3)));
    EXPECT_FALSE(valid_topic(std::string(256, 'a')));
    EXPECT_TRUE(valid_topic(std::string(255, 'a')));
}

TEST(WireJson, ValidatesPayloads) {
    EXPECT_TRUE(valid_json(R"([{"n":"level","v":-1.2}])"));
    EXPECT_FALSE(valid_json(R"([{"n":"level","v":-1.2})"));
    EXPECT_FALSE(valid_json(""));
    EXPECT_FALSE(valid_json("not json"));
}

TEST(WireDropReason, EveryReasonHasAStableName) {
    for (int i = 1; i < kDropReasonCount; ++i) {
        EXPECT_NE(to_string(static_cast<DropReason>(i)), "unknown") << i;
    }
}

}  // namespace
}  // namespace tb::wire
