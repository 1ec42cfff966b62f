// loader_test: every way tb::host::PluginLibrary::load refuses a plugin file, with real .so files
// built for the purpose (tests/sdk/plugins/bad_plugin.c, one defect each) and files made on the
// spot (missing, text, truncated ELF). Each refusal must name the file, the plugin id once the
// descriptor could be read, and both ABI versions (issue #2's bad-input list, issue #3).
// The last test runs the real testbed-host on a testbed whose [[plugins]] library is bad.
#include "loader/plugin_library.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using tb::host::PluginLibrary;
using namespace tb::test;

const std::string kHostAbi = std::to_string(TB_ABI_MAJOR) + "." + std::to_string(TB_ABI_MINOR);

fs::path test_plugin(const std::string& name) {
    return test_plugin_dir() / (name + ".so");
}

// Load `file` and return the refusal message (fails the test if it loads).
std::string refusal(const fs::path& file) {
    auto r = PluginLibrary::load(file);
    EXPECT_FALSE(r) << file << " loaded but should have been refused";
    return r ? std::string() : r.error().message;
}

std::string reason(const fs::path& file) {
    auto r = PluginLibrary::load(file);
    return r ? std::string("loaded") : r.error().reason;
}

TEST(Loader, GoodPluginLoadsAsControl) {
    auto r = PluginLibrary::load(test_plugin("c11_probe"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ((*r)->manifest().id, "c11_probe");
    EXPECT_EQ((*r)->manifest().abi_major, static_cast<uint32_t>(TB_ABI_MAJOR));
    EXPECT_EQ((*r)->sha256().size(), 64u);
}

TEST(Loader, NonExistentPathIsNamed) {
    TempDir dir;
    const fs::path file = dir / "nowhere" / "missing_plugin.so";
    const std::string msg = refusal(file);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
    EXPECT_NE(msg.find("host ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_EQ(reason(file), "not_found");
}

TEST(Loader, TextFileIsNotALibrary) {
    TempDir dir;
    const fs::path file = dir / "notes.so";
    write_file(file, "this is a README, not a plugin\n");
    const std::string msg = refusal(file);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("a text file"), std::string::npos) << msg;
    EXPECT_NE(msg.find("host ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_EQ(reason(file), "not_a_library");
}

TEST(Loader, TruncatedElfIsExplained) {
    TempDir dir;
    const fs::path good = test_plugin("c11_probe");
    const fs::path file = dir / "truncated.so";
    fs::copy_file(good, file);
    const auto full = fs::file_size(good);
    fs::resize_file(file, full / 2);  // keeps the ELF header, loses the section headers at the end
    const std::string msg = refusal(file);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("truncated ELF"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(full / 2) + " bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("host ABI " + kHostAbi), std::string::npos) << msg;

    fs::resize_file(file, 40);  // shorter than an ELF header
    const std::string tiny = refusal(file);
    EXPECT_NE(tiny.find("truncated ELF"), std::string::npos) << tiny;
}

TEST(Loader, MissingEntrySymbol) {
    const fs::path file = test_plugin("bad_no_entry");
    const std::string msg = refusal(file);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not export 'tb_plugin_entry'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("host ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_EQ(reason(file), "no_entry");
}

TEST(Loader, NewerAbiMajor) {
    const fs::path file = test_plugin("bad_newer_major");
    const std::string msg = refusal(file);
    const std::string plugin_abi =
        std::to_string(TB_ABI_MAJOR + 1) + "." + std::to_string(TB_ABI_MINOR);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin 'bad_newer_major'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin ABI " + plugin_abi), std::string::npos) << msg;
    EXPECT_NE(msg.find("host ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_NE(msg.find("newer ABI major"), std::string::npos) << msg;
    EXPECT_EQ(reason(file), "abi_major");
}

TEST(Loader, DescriptorSmallerThanAbi10) {
    const fs::path file = test_plugin("bad_small_desc");
    const std::string msg = refusal(file);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin 'bad_small_desc'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_NE(msg.find("host ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_NE(
        msg.find("struct_size " + std::to_string(offsetof(tb_plugin_desc, create) + sizeof(void*))),
        std::string::npos)
        << msg;
    EXPECT_NE(msg.find("ABI 1.0 minimum " + std::to_string(PluginLibrary::min_desc_size())),
              std::string::npos)
        << msg;
    EXPECT_EQ(reason(file), "struct_size");
}

TEST(Loader, NullRequiredCallbacks) {
    const fs::path file = test_plugin("bad_null_callbacks");
    const std::string msg = refusal(file);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin 'bad_null_callbacks'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_NE(msg.find("host ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_NE(msg.find("required callback(s) are null: create on_message"), std::string::npos)
        << msg;
    EXPECT_EQ(reason(file), "callbacks");
}

TEST(Loader, ManifestMissingFields) {
    const fs::path file = test_plugin("bad_manifest_fields");
    const std::string msg = refusal(file);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin 'bad_manifest_fields'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("plugin ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_NE(msg.find("host ABI " + kHostAbi), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing required field(s): version organisation contact"),
              std::string::npos)
        << msg;
    EXPECT_EQ(reason(file), "manifest");
}

// The real host refuses to start, exits non-zero and prints the loader's message with the
// testbed file and line of the [[plugins]] entry.
TEST(Loader, HostExitsWithTheRefusal) {
    TempDir dir;
    const fs::path bad = test_plugin("bad_newer_major");
    const fs::path testbed = write_testbed(dir / "tb", R"(
[testbed]
id = "loader-refusal"
name = "Loader refusal"

[host]
ingest = ")" + dir.ipc("in") + R"("
output = ")" + dir.ipc("out") + R"("

[[plugins]]
name = "broken"
library = ")" + bad.string() + R"("
)");
    const auto r = run(
        bin_dir() / "testbed-host",
        {"--dev", "--testbed", testbed.string(), "--db", (dir / "results.db").string(), "--duration", "5"},
        std::chrono::seconds(60));
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    const std::string all = r.out + r.err;
    EXPECT_NE(all.find("testbed.toml:"), std::string::npos) << all;
    EXPECT_NE(all.find("plugin 'broken' cannot be loaded"), std::string::npos) << all;
    EXPECT_NE(all.find(bad.string()), std::string::npos) << all;
    EXPECT_NE(all.find("plugin 'bad_newer_major'"), std::string::npos) << all;
    EXPECT_NE(all.find("host ABI " + kHostAbi), std::string::npos) << all;
    EXPECT_NE(all.find("newer ABI major"), std::string::npos) << all;
    EXPECT_FALSE(fs::exists(dir / "results.db"))
        << "a bad plugin must be refused before the database is touched";
}

}  // namespace
