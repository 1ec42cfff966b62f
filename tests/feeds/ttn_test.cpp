// TTN uplink parsing and the mapping file (tools/common/ttn.*): pure functions, every reject
// reason.
#include "common/ttn.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace tb::test {
namespace {

const char* kMapping = R"(
[types.air]
topic_prefix = "sensor/air/"
[[types.air.fields]]
field = "no2"
name = "no2"
unit = "ug/m3"
[[types.air.fields]]
field = "env.temp_dc"
name = "temperature"
unit = "Cel"
scale = 0.1
required = false

[devices]
"aq-1" = { sensor = "AQ-0001", type = "air" }
)";

tools::TtnMapping mapping() {
    auto m = tools::parse_ttn_mapping(kMapping, "map.toml");
    EXPECT_TRUE(m) << (m ? "" : m.error().message);
    return m ? m.value() : tools::TtnMapping{};
}

std::string up(const std::string& decoded, const std::string& device = "aq-1",
               const std::string& time = R"("received_at":"2024-05-01T12:34:56.123456789Z",)") {
    return R"({"end_device_ids":{"device_id":")" + device + R"("},)" + time +
           R"("uplink_message":{)" + (decoded.empty() ? "" : R"("decoded_payload":)" + decoded) +
           "}}";
}

TEST(Ttn, MapsFieldsUnitsScaleAndTime) {
    const auto r =
        tools::parse_ttn_uplink(up(R"({"no2":41.5,"env":{"temp_dc":215}})"), mapping(), 7);
    ASSERT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(r.message.topic, "sensor/air/AQ-0001");
    EXPECT_EQ(r.message.time_us, 1714566896123456);
    const auto pack = nlohmann::json::parse(r.message.payload);
    ASSERT_EQ(pack.size(), 2u);
    EXPECT_EQ(pack[0]["bn"], "urn:dev:ttn:aq-1:");
    EXPECT_EQ(pack[0]["u"], "ug/m3");
    EXPECT_DOUBLE_EQ(pack[0]["v"].get<double>(), 41.5);
    EXPECT_EQ(pack[1]["u"], "Cel");
    EXPECT_DOUBLE_EQ(pack[1]["v"].get<double>(), 21.5);
}

TEST(Ttn, OptionalFieldMayBeMissingAndTimeFallsBack) {
    const auto r = tools::parse_ttn_uplink(up(R"({"no2":3})", "aq-1", ""), mapping(), 1'000'000);
    ASSERT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(r.message.time_us, 1'000'000);
    EXPECT_EQ(nlohmann::json::parse(r.message.payload).size(), 1u);
}

TEST(Ttn, EveryRejectReason) {
    const auto m = mapping();
    auto reason = [&](const std::string& json) {
        const auto r = tools::parse_ttn_uplink(json, m, 0);
        EXPECT_FALSE(r.ok) << json;
        EXPECT_FALSE(r.detail.empty());
        return r.reason;
    };
    EXPECT_EQ(reason("{not json"), tools::TtnReject::not_json);
    EXPECT_EQ(reason("[1,2]"), tools::TtnReject::not_uplink);
    EXPECT_EQ(reason(R"({"uplink_message":{"decoded_payload":{}}})"), tools::TtnReject::not_uplink);
    EXPECT_EQ(reason(up("")), tools::TtnReject::no_decoded_payload);
    EXPECT_EQ(reason(up(R"("a string")")), tools::TtnReject::no_decoded_payload);
    EXPECT_EQ(reason(up(R"({"no2":1})", "stranger")), tools::TtnReject::unknown_device);
    EXPECT_EQ(reason(up(R"({"pm10":1})")), tools::TtnReject::missing_field);
    EXPECT_EQ(reason(up(R"({"no2":null})")), tools::TtnReject::missing_field);
    EXPECT_EQ(reason(up(R"({"no2":"41"})")), tools::TtnReject::wrong_type);
    EXPECT_EQ(reason(up(R"({"no2":[1]})")), tools::TtnReject::wrong_type);
    EXPECT_EQ(reason(up(R"({"no2":1e400})")), tools::TtnReject::not_json);  // out of double range
    EXPECT_EQ(reason(up(R"({"no2":1})", "aq-1", R"("received_at":"yesterday",)")),
              tools::TtnReject::bad_time);
}

TEST(Ttn, Rfc3339) {
    int64_t us = 0;
    ASSERT_TRUE(tools::parse_rfc3339_us("1970-01-01T00:00:01Z", us));
    EXPECT_EQ(us, 1'000'000);
    ASSERT_TRUE(tools::parse_rfc3339_us("2024-05-01T14:34:56.5+02:00", us));
    EXPECT_EQ(us, 1714566896500000);
    for (const char* bad :
         {"", "2024-13-01T00:00:00Z", "2024-05-01T00:00:00", "2024-05-01T00:00:00.Z",
          "2024-05-01T00:00:00Zx", "2024-05-01T00:00:00+0200"}) {
        EXPECT_FALSE(tools::parse_rfc3339_us(bad, us)) << bad;
    }
}

TEST(Ttn, MappingErrorsNameFileLineAndKey) {
    auto check = [](const std::string& text, const std::string& want) {
        const auto m = tools::parse_ttn_mapping(text, "m.toml");
        ASSERT_FALSE(m);
        EXPECT_NE(m.error().message.find(want), std::string::npos) << m.error().message;
    };
    check("[types.a]\ntopic_prefix = \"x\"\n", "m.toml:1: types.a: topic_prefix");
    check("[types.a]\ntopic_prefix = \"x/\"\n[[types.a.fields]]\nfield = \"f\"\ncolour = 1\n",
          "m.toml:5");
    check(
        "[types.a]\ntopic_prefix = \"x/\"\n[[types.a.fields]]\nfield = \"f\"\n[devices]\nd = { "
        "sensor = \"S\", type = \"b\" }\n",
        "type 'b' (known types: a)");
    check("[typo]\n", "unknown key 'typo'");
    // The bridge would publish on a topic the host drops (found by the ttn_uplink fuzz target).
    check(
        "[types.a]\ntopic_prefix = \"x/\"\n[[types.a.fields]]\nfield = \"f\"\n[devices]\nd = { "
        "sensor = \"S 1\", type = \"a\" }\n",
        "m.toml:6: device 'd': topic 'x/S 1' (topic_prefix + sensor) is not a valid feed topic");
    check("[types.a\n", "m.toml:1");
    // Refused before toml++ 3.3.0 can reach its TOML_UNREACHABLE (found by the ttn_uplink fuzz
    // target).
    check(
        "# d\xc3\xa9j\xc3\xa0 vu is fine in a comment\n[types\xcf\x8f"
        "a]\n",
        "m.toml:2: non-ASCII character outside quotes or a comment");
}

TEST(Ttn, RandomBytesNeverCrash) {
    const auto m = mapping();
    std::mt19937_64 rng(4);
    const std::string seed = up(R"({"no2":41.5,"env":{"temp_dc":215}})");
    for (int i = 0; i < 5000; ++i) {
        std::string s = seed;
        for (int k = 0; k < 3; ++k) s[rng() % s.size()] = static_cast<char>(rng());
        const auto r = tools::parse_ttn_uplink(s, m, 0);
        if (r.ok)
            EXPECT_TRUE(nlohmann::json::accept(r.message.payload));
        else
            EXPECT_NE(static_cast<int>(r.reason), 0);
    }
}

}  // namespace
}  // namespace tb::test
