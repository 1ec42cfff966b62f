// Tests for wire::valid_json (host/src/wire/json_check.cpp): it must accept exactly what
// nlohmann::json::accept accepts, because it replaced that call in the feed receiver and a
// payload the host used to count and drop as invalid_json must still be dropped (and vice versa).
// Hand-written edge cases state the expected answer and compare with nlohmann; a bounded,
// seeded mutation run compares both on many near-valid payloads.
#include "wire/wire.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

namespace tb::wire {
namespace {

bool reference(const std::string& s) { return nlohmann::json::accept(s); }

struct Case {
    std::string text;
    bool valid;
};

TEST(JsonCheck, EdgeCasesMatchNlohmann) {
    const std::vector<Case> cases = {
        {R"([{"bn":"urn:dev:enschede:gw:GW-0001:","n":"level","u":"m","v":-1.234,)"
         R"("t":1764300000.001}])",
         true},
        {"", false},
        {" ", false},
        {"0", true},
        {"-0", true},
        {"01", false},
        {"-", false},
        {"+1", false},
        {".5", false},
        {"1.", false},
        {"1.e5", false},
        {"1e", false},
        {"1e+", false},
        {"1E-7", true},
        {"1.5e+300", true},
        {"1e308", true},
        {"1.7976931348623157e308", true},
        {"1.8e308", false},  // number overflow in nlohmann
        {"1e400", false},
        {"-1e400", false},
        {"1e-400", true},  // underflow is fine
        {"0.0000000001e315", true},
        {std::string(309, '9'), false},  // an integer beyond a double's range
        {"1" + std::string(300, '0'), true},
        {"18446744073709551616", true},  // beyond uint64: falls back to double
        {"true", true},
        {"tru", false},
        {"truex", false},
        {"nul", false},
        {"null ", true},
        {" \t\r\nfalse\n", true},
        {"\f1", false},  // form feed is not JSON whitespace
        {"[]", true},
        {"[ ]", true},
        {"[,]", false},
        {"[1,]", false},
        {"[1 2]", false},
        {"[1", false},
        {"]", false},
        {"{}", true},
        {R"({"a":1})", true},
        {R"({"a" : 1 , "b":[true,{"c":null}]})", true},
        {R"({"a":1,})", false},
        {R"({a:1})", false},
        {R"({"a"})", false},
        {R"({"a":})", false},
        {R"({"a":1 "b":2})", false},
        {"{}{}", false},
        {"1 2", false},
        {R"("abc")", true},
        {R"("abc)", false},
        {"\"a\tb\"", false},  // raw control character
        {"\"a\x7f" "b\"", true},
        {R"("\"\\\/\b\f\n\r\t")", true},
        {R"("\a")", false},
        {R"("\u00e9")", true},
        {R"("\u00E9")", true},
        {R"("\u00g9")", false},
        {R"("\u12")", false},
        {R"("\ud83d\ude00")", true},  // surrogate pair
        {R"("\ud83d")", false},       // lone high surrogate
        {R"("\ud83dx")", false},
        {R"("\ud83d\u0041")", false},
        {R"("\ude00")", false},       // lone low surrogate
        {"\"\xc3\xa9\"", true},       // é
        {"\"\xc3\"", false},
        {"\"\xc0\xaf\"", false},      // overlong
        {"\"\xe0\x80\xaf\"", false},  // overlong
        {"\"\xe2\x82\xac\"", true},   // €
        {"\"\xed\xa0\x80\"", false},  // UTF-8 encoded surrogate
        {"\"\xf0\x9f\x98\x80\"", true},
        {"\"\xf4\x90\x80\x80\"", false},  // above U+10FFFF
        {"\"\xf5\x80\x80\x80\"", false},
        {"\"\xff\"", false},
        {"\"\x80\"", false},
        {"\xef\xbb\xbf[1]", true},  // BOM
        {"\xef\xbb\xbf", false},
        {"\xef\xbb[1]", false},
        {" \xef\xbb\xbf[1]", false},  // BOM only at the very start
        // nlohmann reads NUL as the end of the input where a token may start; in a string or a
        // literal it is an error.
        {std::string("[1]\0junk", 8), true},
        {std::string("[1,\0 2]", 7), false},
        {std::string("\0[1]", 4), false},
        {std::string("12\0 3", 5), true},
        {std::string("tr\0ue", 5), false},
        {std::string("\"a\0b\"", 5), false},
        {"/* c */ 1", false},  // comments are off
    };
    for (const auto& c : cases) {
        EXPECT_EQ(reference(c.text), c.valid) << "the case's own expectation is wrong: " << c.text;
        EXPECT_EQ(valid_json(c.text), c.valid) << c.text;
    }
}

TEST(JsonCheck, DeepNestingNeedsNoRecursion) {
    const std::size_t depth = 100'000;
    const std::string ok = std::string(depth, '[') + std::string(depth, ']');
    EXPECT_TRUE(valid_json(ok));
    EXPECT_EQ(valid_json(ok), reference(ok));
    const std::string open = std::string(depth, '[') + std::string(depth - 1, ']');
    EXPECT_FALSE(valid_json(open));
    std::string objects;
    for (int i = 0; i < 1000; ++i) objects += "{\"k\":[";
    objects += "1";
    for (int i = 0; i < 1000; ++i) objects += "]}";
    EXPECT_TRUE(valid_json(objects));
    EXPECT_FALSE(valid_json(objects.substr(0, objects.size() - 1)));
}

// Seeded, bounded mutation of valid payloads: replace, insert or delete bytes drawn mostly from
// JSON's own alphabet, so that many mutants stay near the boundary between valid and invalid.
TEST(JsonCheck, MutatedPayloadsMatchNlohmann) {
    const std::vector<std::string> seeds = {
        R"([{"bn":"urn:dev:enschede:gw:GW-0042:","n":"level","u":"m","v":-0.512,)"
        R"("t":1764300000.042}])",
        R"({"a":[1,2.5,-3e2,true,false,null],"b":{"c":"d\u00e9\n","e":[]},"f":{}})",
        "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"\\ud83d\\ude00\",0.1E+10,-0]",
        "\xef\xbb\xbf {\"x\" : [ 1 , { } , [ ] ] }",
    };
    const std::string alphabet = std::string("{}[],:\"\\/ .-+eE0123456789tfnulrsabu\t\n\r\x01") +
                                 std::string(1, '\0') + "\x7f\x80\xbf\xc3\xed\xef\xf0\xf4\xff";
    std::mt19937 rng(20261128);
    uint64_t accepted = 0, refused = 0;
    for (int round = 0; round < 200'000; ++round) {
        std::string s = seeds[static_cast<std::size_t>(round) % seeds.size()];
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits && !s.empty(); ++e) {
            const std::size_t at = rng() % s.size();
            const char c = alphabet[rng() % alphabet.size()];
            switch (rng() % 4) {
                case 0: s[at] = c; break;
                case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c); break;
                case 2: s.erase(at, 1); break;
                default: s.resize(at); break;
            }
        }
        const bool want = reference(s);
        ASSERT_EQ(valid_json(s), want) << "mutant #" << round << ": " << s;
        (want ? accepted : refused) += 1;
    }
    // The mutation must exercise both answers, or the comparison says little.
    EXPECT_GT(accepted, 10'000u);
    EXPECT_GT(refused, 10'000u);
}

}  // namespace
}  // namespace tb::wire
