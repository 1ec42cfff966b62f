// config/toml_guard: what it refuses, what it lets through, and that what it lets through never
// reaches toml++ 3.3.0's unreachable code. The last part is checked for real in the asan build
// (toml++ is compiled header-only with UBSan there, which aborts on __builtin_unreachable); in
// other builds the same inputs only run.
#include "config/toml_guard.hpp"

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/test_support.hpp"

namespace tb::host {
namespace {

namespace fs = std::filesystem;

// Code points on which toml++ 3.3.0's whitespace lookup reaches __builtin_unreachable: one from
// each range (U+00A1..U+0499, U+2C5E..U+2FFF, U+3001..U+3057, U+FB26..U+FEFE).
const char* const kTrap[] = {"\xC3\xA9" /* é U+00E9 */, "\xE2\xBF\xB0" /* U+2FF0 */,
                             "\xE3\x80\x81" /* U+3001 */, "\xEF\xB9\x90" /* U+FE50 */};

bool parses(std::string_view text) {
    try {
        (void)toml::parse(text, std::string_view{"test.toml"});
        return true;
    } catch (const toml::parse_error&) {
        return false;
    }
}

// A document with most of TOML's shapes, all plain ASCII.
const char* kShapes = R"(# comment
title = "basic string"
lit = 'literal string'
ml = """
first line \
   continued
"""
mll = '''
raw \ text
'''
num = 1_000
flt = -3.5e2
yes = true
when = 1979-05-27 07:32:00Z
day = 1979-05-27
arr = [ "a", 'b', 1, # comment in an array
  [2, 3], { k = "v" }, ]
tbl = { a = "x", b.c = 'y', "q" = 1 }
"quoted key" = "v"
dotted.key = "v"
'literal key'.part = 2

[section]
name = "value" # trailing comment
[[items]]
id = "one"
[ "quoted header" . sub ]
x = """ends with quotes"""""
)";

TEST(TomlGuard, LetsThroughNonAsciiInQuotesAndComments) {
    const std::string e = "\xC3\xA9";  // é
    const std::string text = "# h" + e + "llo, comment " + e +
                             "\n"
                             "name = \"Caf" +
                             e +
                             " Enschede\"\n"
                             "lit = 'co" +
                             e +
                             "rdinaten'\n"
                             "ml = \"\"\"\n" +
                             e + "\xE3\x80\x81 line\n  " + e +
                             "\"\"\"\n"
                             "mll = '''" +
                             e +
                             "'''\n"
                             "arr = [\"" +
                             e + "\", '" + e + "', # " + e +
                             "\n  \"\xF0\x9F\x9A\x81\"]\n"
                             "inl = { a = \"" +
                             e + "\", b = '" + e + "', \"k" + e +
                             "\" = 1 }\n"
                             "\"caf" +
                             e +
                             "\" = 1\n"
                             "[\"z" +
                             e + "ne\".'s" + e +
                             "b']\n"
                             "when = 1979-05-27 07:32:00Z # " +
                             e +
                             "\n"
                             "[t]\n"
                             "x = \"\"\"a \\\n   b" +
                             e + "\"\"\"\n";
    EXPECT_FALSE(find_toml_hazard(text)) << find_toml_hazard(text)->what;
    EXPECT_TRUE(parses(text));
    EXPECT_FALSE(find_toml_hazard(kShapes));
    EXPECT_TRUE(parses(kShapes));
}

TEST(TomlGuard, LetsThroughEveryShippedTomlFile) {
    int files = 0;
    for (const auto& d : fs::recursive_directory_iterator(test::source_dir() / "testbeds")) {
        const auto p = d.path().string();
        if (d.path().extension() != ".toml") continue;
        std::ifstream in(d.path());
        std::ostringstream s;
        s << in.rdbuf();
        const auto h = find_toml_hazard(s.str());
        EXPECT_FALSE(h) << p << ":" << (h ? h->line : 0) << ": " << (h ? h->what : "");
        ++files;
    }
    EXPECT_GE(files, 4);  // three testbeds and a TTN mapping
}

TEST(TomlGuard, RefusesNonAsciiWhereTomlppClassifiesIt) {
    struct Case {
        std::string text;
        std::size_t line;
        const char* why;
    };
    const std::string e = "\xC3\xA9";
    const Case cases[] = {
        {"[types" + e + "arking]\n", 1, "after a bare key in a header (fuzz input 1)"},
        {"a = 1\nk" + e + "y = 1\n", 2, "in a bare key"},
        {"\"key\"" + e + " = 1\n", 1, "right after a quoted key"},
        {"a." + e + " = 1\n", 1, "as a dotted key part"},
        {"x = " + e + "\n", 1, "as a bare value"},
        {"x = 12" + e + "\n", 1, "at the end of a bare value"},
        {"x = true" + e + "\n", 1, "after a boolean"},
        {"x = \"a\"" + e + "\n", 1, "right after a value string"},
        {"x = \"a\" " + e + "\n", 1, "after a value string and a blank"},
        {"x = [1, " + e + "]\n", 1, "as an array element"},
        {"=34:56;Htz{\"" + e + "\"}\n", 1, "in a bare value, after a quote (fuzz input 3)"},
        {"x = 34{\"" + e + "\"}\n", 1, "in a bare value that has a quote"},
        {"field = 9\"f" + e + "h\n", 1, "after a quote inside a bare value (fuzz input 2)"},
        {"x = \"\"\"a\\" + e + "\"\"\"\n", 1, "right after a backslash in a \"\"\" string"},
        {"x = \"\"\"a\\  " + e + "\"\"\"\n", 1, "after a backslash and blanks"},
        {"x = \"\"\"a\\\n\n   " + e + "\"\"\"\n", 3, "first after a line-ending backslash"},
        {"x = 1 2\ny = \"" + e + "\"\n", 2, "anywhere after a syntax error"},
    };
    for (const auto& c : cases) {
        const auto h = find_toml_hazard(c.text);
        ASSERT_TRUE(h) << c.why << ": " << c.text;
        EXPECT_EQ(h->line, c.line) << c.why;
        EXPECT_FALSE(h->what.empty());
    }
    const auto h = find_toml_hazard("x = 1 2\ny = \"" + e + "\"\n");
    EXPECT_NE(h->what.find("syntax error on line 1"), std::string::npos) << h->what;
    EXPECT_NE(find_toml_hazard("k" + e + " = 1")->what.find("quoted value"), std::string::npos);
    EXPECT_FALSE(find_toml_hazard("\"caf" + e + "\" = 1\n"));  // a quoted key may hold any text
}

// Every single insertion of a trap code point into kShapes, at every byte position: what the guard
// lets through must parse (or fail to parse) without reaching toml++'s unreachable code. Under
// UBSan (asan build) a hole in the guard aborts this test.
TEST(TomlGuard, WhatItLetsThroughNeverReachesTheTomlppBug) {
    const std::string base = kShapes;
    int accepted = 0, refused = 0;
    for (const char* trap : kTrap) {
        for (std::size_t pos = 0; pos <= base.size(); ++pos) {
            const std::string text = base.substr(0, pos) + trap + base.substr(pos);
            if (find_toml_hazard(text)) {
                ++refused;
                continue;
            }
            ++accepted;
            (void)parses(text);
        }
    }
    RecordProperty("accepted", accepted);
    RecordProperty("refused", refused);
    // Both sides are exercised: insertions into strings and comments pass, the rest are refused.
    EXPECT_GT(accepted, 400);
    EXPECT_GT(refused, 1000);
}

#if defined(__SANITIZE_ADDRESS__)
// The oracle of the test above works: unguarded, toml++ 3.3.0 does reach its unreachable code
// (UBSan aborts). If a newer toml++ fixes it, this fails and the guard can go.
TEST(TomlGuardDeathTest, UnguardedTomlppReachesItsUnreachableCode) {
    EXPECT_DEATH((void)parses("[types\xC3\xA9"
                              "arking]\n"),
                 "unreachable");
}
#endif

}  // namespace
}  // namespace tb::host
