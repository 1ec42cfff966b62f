// tests/fuzz/fuzz_regression_test.cpp: replays every committed fuzz input through its target in
// the normal build (and under the asan/tsan presets): the seed corpus (corpus/<target>/) and each
// input that once crashed a target (regressions/<target>/, one file per bug, named after it).
// A target that breaks an invariant aborts, so a regression shows as a crashed test.
#include "fuzz_target.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace tb::fuzz {

std::map<std::string, Entry>& targets() {
    static std::map<std::string, Entry> registry;
    return registry;
}

namespace {

namespace fs = std::filesystem;
const fs::path kFuzzDir = TB_FUZZ_DIR;

std::vector<fs::path> inputs(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().filename() != "README.md") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> target_names() {
    std::vector<std::string> names;
    for (const auto& [name, fn] : targets()) names.push_back(name);
    return names;
}

class FuzzReplay : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzReplay, SeedCorpusAndRegressionsPass) {
    const auto& name = GetParam();
    const Entry fn = targets().at(name);
    const auto seeds = inputs(kFuzzDir / "corpus" / name);
    // A target without seeds would silently fuzz from nothing; the corpus is part of the target.
    ASSERT_FALSE(seeds.empty()) << "no seed inputs in " << (kFuzzDir / "corpus" / name);
    auto all = seeds;
    for (const auto& p : inputs(kFuzzDir / "regressions" / name)) all.push_back(p);
    for (const auto& p : all) {
        SCOPED_TRACE(p.string());
        const std::string bytes = slurp(p);
        EXPECT_EQ(fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
    }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(target_names()),
                         [](const auto& p) { return p.param; });

// Every folder of inputs belongs to a target that exists (a renamed target keeps its inputs).
TEST(FuzzInputs, EveryInputFolderHasATarget) {
    for (const char* kind : {"corpus", "regressions"}) {
        std::error_code ec;
        if (!fs::is_directory(kFuzzDir / kind, ec)) continue;
        for (const auto& e : fs::directory_iterator(kFuzzDir / kind)) {
            if (!e.is_directory()) continue;
            EXPECT_TRUE(targets().count(e.path().filename().string()))
                << e.path() << " has no fuzz target of that name in tests/fuzz/CMakeLists.txt";
        }
    }
}

}  // namespace
}  // namespace tb::fuzz
