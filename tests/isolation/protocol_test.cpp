// The runner protocol's packed frames (isolation/protocol.hpp, docs/isolation.md "Runner
// protocol"): a 'msg' frame of message records and a 'done' frame. Both are read from bytes a
// faulty or hostile peer wrote, so every cut and every impossible length must be refused.
#include "isolation/protocol.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>

namespace iso = tb::host::isolation;

namespace {

const std::string kHeader(iso::kHeaderBytes, '\x07');

std::string frame_of(std::initializer_list<iso::MsgRecord> records) {
    std::string f;
    for (const auto& r : records) iso::append_msg_record(f, r);
    return f;
}

}  // namespace

TEST(RunnerProtocol, MessageRecordsComeBackAsWritten) {
    const std::string payload(200, 'p');
    const std::string f =
        frame_of({{1, 1764300000000000, kHeader, "sensor/groundwater/GW-0001", payload},
                  {2, -5, kHeader, "", ""},
                  {UINT64_MAX, 7, kHeader, "t", std::string("\0\1", 2)}});
    std::size_t pos = 0;
    iso::MsgRecord r;
    ASSERT_TRUE(iso::read_msg_record(f, pos, r));
    EXPECT_EQ(r.seq, 1u);
    EXPECT_EQ(r.receive_time_us, 1764300000000000);
    EXPECT_EQ(r.header, kHeader);
    EXPECT_EQ(r.topic, "sensor/groundwater/GW-0001");
    EXPECT_EQ(r.payload, payload);
    ASSERT_TRUE(iso::read_msg_record(f, pos, r));
    EXPECT_EQ(r.seq, 2u);
    EXPECT_EQ(r.receive_time_us, -5);
    EXPECT_TRUE(r.topic.empty());
    EXPECT_TRUE(r.payload.empty());
    ASSERT_TRUE(iso::read_msg_record(f, pos, r));
    EXPECT_EQ(r.seq, UINT64_MAX);
    EXPECT_EQ(r.payload, std::string("\0\1", 2));
    EXPECT_EQ(pos, f.size());
    EXPECT_FALSE(iso::read_msg_record(f, pos, r)) << "nothing is left";
}

TEST(RunnerProtocol, ACutMessageRecordIsRefusedAtEveryLength) {
    const std::string f = frame_of({{9, 1, kHeader, "sensor/x", "payload bytes"}});
    for (std::size_t cut = 0; cut < f.size(); ++cut) {
        std::size_t pos = 0;
        iso::MsgRecord r;
        EXPECT_FALSE(iso::read_msg_record(std::string_view(f).substr(0, cut), pos, r))
            << "cut at " << cut;
        EXPECT_EQ(pos, 0u);
    }
}

TEST(RunnerProtocol, LengthsPastTheFrameAreRefused) {
    std::string f = frame_of({{9, 1, kHeader, "abc", "de"}});
    const auto set_u32 = [&](std::size_t at, uint32_t v) {
        std::memcpy(f.data() + at, &v, sizeof v);
    };
    for (const auto& [topic_len, payload_len] :
         std::initializer_list<std::pair<uint32_t, uint32_t>>{
             {4, 2}, {3, 3}, {UINT32_MAX, 2}, {3, UINT32_MAX}, {UINT32_MAX, UINT32_MAX}}) {
        set_u32(16, topic_len);
        set_u32(20, payload_len);
        std::size_t pos = 0;
        iso::MsgRecord r;
        EXPECT_FALSE(iso::read_msg_record(f, pos, r)) << topic_len << "/" << payload_len;
    }
    std::size_t pos = f.size() + 1;  // a position past the end is not a record either
    iso::MsgRecord r;
    EXPECT_FALSE(iso::read_msg_record(f, pos, r));
}

TEST(RunnerProtocol, DoneRecordsComeBackAsWritten) {
    std::string f;
    iso::append_done(f, {42, -3, 123456789, 987, "plugin said no"});
    iso::append_done(f, {43, 0, 5, 6, {}});
    std::size_t pos = 0;
    iso::DoneRecord d;
    ASSERT_TRUE(iso::read_done(f, pos, d));
    EXPECT_EQ(d.seq, 42u);
    EXPECT_EQ(d.status, -3);
    EXPECT_EQ(d.started_ns, 123456789);
    EXPECT_EQ(d.took_ns, 987);
    EXPECT_EQ(d.error, "plugin said no");
    ASSERT_TRUE(iso::read_done(f, pos, d));
    EXPECT_EQ(d.seq, 43u);
    EXPECT_TRUE(d.error.empty());
    EXPECT_EQ(pos, f.size());
    EXPECT_FALSE(iso::read_done(f, pos, d));
}

TEST(RunnerProtocol, ACutOrOverlongDoneIsRefused) {
    std::string f;
    iso::append_done(f, {7, 1, 2, 3, "why"});
    for (std::size_t cut = 0; cut < f.size(); ++cut) {
        std::size_t pos = 0;
        iso::DoneRecord d;
        EXPECT_FALSE(iso::read_done(std::string_view(f).substr(0, cut), pos, d))
            << "cut at " << cut;
    }
    const uint32_t too_long = 4;  // the error text claims one byte more than there is
    std::memcpy(f.data() + 28, &too_long, sizeof too_long);
    std::size_t pos = 0;
    iso::DoneRecord d;
    EXPECT_FALSE(iso::read_done(f, pos, d));
}
