// plugin_commands_test: `testbed plugin new | inspect | check` with the real CLI binary, real
// plugin files and a freshly generated project built against the installed SDK (issue #3).
#include "common/sha256.hpp"
#include "support/test_support.hpp"

#include <testbed/plugin.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace {

namespace fs = std::filesystem;
using namespace tb::test;
using namespace std::chrono_literals;

fs::path cli() {
    return bin_dir() / "testbed";
}
fs::path test_plugin(const std::string& name) {
    return test_plugin_dir() / (name + ".so");
}
bool contains(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

TEST(PluginNew, RefusesAnInvalidNameWithoutWriting) {
    TempDir dir;
    for (const std::string& bad :
         std::vector<std::string>{"Parking", "9lives", "my-plugin", "", std::string(65, 'a')}) {
        const auto r =
            run(cli(), {"plugin", "new", bad, "--org", "Team", "--dir", (dir / "p").string()});
        EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
        EXPECT_TRUE(contains(r.err, "not a valid plugin name")) << r.err;
        EXPECT_FALSE(fs::exists(dir / "p"));
    }
    EXPECT_TRUE(fs::is_empty(dir.path())) << "nothing may be written for a refused name";
}

TEST(PluginNew, RefusesAnExistingDirectoryWithoutTouchingIt) {
    TempDir dir;
    fs::create_directories(dir / "taken");
    write_file(dir / "taken" / "CMakeLists.txt", "# mine\n");
    const auto r = run(cli(), {"plugin", "new", "parking_guide", "--org", "Team", "--dir",
                               (dir / "taken").string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "already exists")) << r.err;
    EXPECT_EQ(read_file(dir / "taken" / "CMakeLists.txt"), "# mine\n");
    EXPECT_EQ(std::distance(fs::directory_iterator(dir / "taken"), fs::directory_iterator()), 1);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(PluginNew, RequiresAnOrganisation) {
    TempDir dir;
    const auto r = run(cli(), {"plugin", "new", "parking_guide", "--dir", (dir / "p").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.out + r.err, "--org")) << r.out << r.err;
    EXPECT_FALSE(fs::exists(dir / "p"));
}

// The generated project builds against the installed SDK with no edits and its test passes.
TEST(PluginNew, GeneratedProjectBuildsAndItsTestPasses) {
    TempDir dir;
    const fs::path prefix = dir / "sdk";
    const auto inst = run(TB_CMAKE_COMMAND, {"--install", TB_PROJECT_BINARY_DIR, "--prefix",
                                             prefix.string(), "--component", "sdk"});
    ASSERT_EQ(inst.exit_code, 0) << inst.out << inst.err;

    const fs::path project = dir / "parking_guide";
    const auto gen = run(cli(), {"plugin", "new", "parking_guide", "--org", "Startup \"Park\" B.V.",
                                 "--contact", "dev@park.example", "--dir", project.string()});
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    for (const char* f :
         {"CMakeLists.txt", "parking_guide.cpp", "test/parking_guide_test.cpp", "README.md"}) {
        EXPECT_TRUE(fs::exists(project / f)) << f;
    }
    EXPECT_TRUE(
        contains(read_file(project / "CMakeLists.txt"), "find_package(TestbedSDK 1 REQUIRED)"));
    EXPECT_TRUE(contains(read_file(project / "parking_guide.cpp"),
                         ".organisation(\"Startup \\\"Park\\\" B.V.\")"));

    const fs::path build = project / "build";
    const auto conf =
        run(TB_CMAKE_COMMAND,
            {"-S", project.string(), "-B", build.string(), "-G", "Ninja",
             "-DCMAKE_MAKE_PROGRAM=" TB_MAKE_PROGRAM, "-DCMAKE_CXX_COMPILER=" TB_CXX_COMPILER,
             "-DCMAKE_PREFIX_PATH=" + prefix.string()},
            120s);
    ASSERT_EQ(conf.exit_code, 0) << conf.out << conf.err;
    const auto b = run(TB_CMAKE_COMMAND, {"--build", build.string()}, 300s);
    ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
    const auto t = run(build / "parking_guide_test", {}, 60s);
    EXPECT_EQ(t.exit_code, 0) << t.out << t.err;
    EXPECT_TRUE(contains(t.out, "[  PASSED  ] 3 tests")) << t.out;

    // And the host's loader accepts it, with the organisation as written.
    const auto ins =
        run(cli(), {"plugin", "inspect", (build / "parking_guide.so").string(), "--json"});
    ASSERT_EQ(ins.exit_code, 0) << ins.err;
    const auto j = nlohmann::json::parse(ins.out);
    EXPECT_EQ(j["id"], "parking_guide");
    EXPECT_EQ(j["organisation"], "Startup \"Park\" B.V.");
    EXPECT_EQ(j["contact"], "dev@park.example");
}

TEST(PluginInspect, PrintsManifestVersionsHashAndTopics) {
    const fs::path so = plugin_dir() / "groundwater_alert.so";
    const auto r = run(cli(), {"plugin", "inspect", so.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto sha = tb::host::sha256_file(so);
    ASSERT_TRUE(sha);
    EXPECT_TRUE(contains(r.out, "sha256:        " + *sha)) << r.out;
    EXPECT_TRUE(contains(r.out, "groundwater_alert 0.3.0")) << r.out;
    EXPECT_TRUE(contains(r.out, "Gemeente Enschede, team Water")) << r.out;
    EXPECT_TRUE(contains(r.out, std::string("sdk:           ") + TB_SDK_VERSION)) << r.out;
    EXPECT_TRUE(contains(r.out, "reads:         sensor/groundwater/")) << r.out;
    EXPECT_TRUE(contains(r.out, "publishes:     alert/groundwater/")) << r.out;
    EXPECT_TRUE(contains(r.out, "alert_level_m (number, default -0.5)")) << r.out;
    EXPECT_TRUE(contains(r.out, "exports:       tb_plugin_entry ")) << r.out;
    EXPECT_FALSE(contains(r.out, "GroundwaterAlert"))
        << "hidden visibility: the class is not exported";
    EXPECT_FALSE(contains(r.out, "note:")) << r.out;

    const auto j = run(cli(), {"plugin", "inspect", so.string(), "--json"});
    ASSERT_EQ(j.exit_code, 0) << j.err;
    const auto doc = nlohmann::json::parse(j.out);
    EXPECT_EQ(doc["sha256"], *sha);
    EXPECT_EQ(doc["abi"], std::to_string(TB_ABI_MAJOR) + "." + std::to_string(TB_ABI_MINOR));
    EXPECT_EQ(doc["reads"][0], "sensor/groundwater/");
    EXPECT_EQ(doc["exported_symbols"], nlohmann::json::array({"tb_plugin_entry"}));
}

TEST(PluginInspect, FrozenAbi10PluginIsShownAsSuch) {
    const auto r = run(cli(), {"plugin", "inspect", test_plugin("abi10_probe").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "sdk:           1.0.0 (plugin ABI 1.0")) << r.out;
}

TEST(PluginInspect, ExplainsFilesThatAreNotPlugins) {
    TempDir dir;
    write_file(dir / "readme.so", "just text\n");
    auto r = run(cli(), {"plugin", "inspect", (dir / "readme.so").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(
        r.err, (dir / "readme.so").string() + ": is not a plugin library: found a text file"))
        << r.err;

    write_file(dir / "blob.so", std::string("\x01\x02\x03\x04\xff\xfe", 6));
    r = run(cli(), {"plugin", "inspect", (dir / "blob.so").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "not an ELF file")) << r.err;

    fs::copy_file(plugin_dir() / "groundwater_alert.so", dir / "cut.so");
    fs::resize_file(dir / "cut.so", 3000);
    r = run(cli(), {"plugin", "inspect", (dir / "cut.so").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "truncated ELF shared object (3000 bytes")) << r.err;

    r = run(cli(), {"plugin", "inspect", test_plugin("bad_no_entry").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "does not export 'tb_plugin_entry'")) << r.err;

    r = run(cli(), {"plugin", "inspect", (dir / "missing.so").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "does not exist")) << r.err;
}

TEST(PluginCheck, GroundwaterAlertSurvivesAndIsTimed) {
    const fs::path so = plugin_dir() / "groundwater_alert.so";
    const auto r =
        run(cli(), {"plugin", "check", so.string(), "--messages", "300", "--json"}, 120s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j["survived"].get<bool>());
    EXPECT_EQ(j["messages"], 300);
    EXPECT_EQ(j["valid_codes"]["0"], 300) << j.dump(2);
    for (const auto& [code, n] : j["malformed_codes"].items()) {
        EXPECT_TRUE(code == "0" || code == "7")
            << "malformed input gave code " << code << " " << n << " times";
    }
    EXPECT_GT(j["metrics"].get<int>(), 0);
    EXPECT_GT(j["on_message_us"]["p99"].get<double>(), 0.0);
    EXPECT_GE(j["on_message_us"]["p99"].get<double>(), j["on_message_us"]["p50"].get<double>());
    EXPECT_TRUE(j["refused_host_calls"].empty()) << j["refused_host_calls"].dump();

    const auto text = run(cli(), {"plugin", "check", so.string(), "--messages", "50"}, 120s);
    EXPECT_EQ(text.exit_code, 0) << text.err;
    EXPECT_TRUE(contains(text.out, "survived 50 synthetic")) << text.out;
    EXPECT_TRUE(contains(text.out, "p99")) << text.out;
}

TEST(PluginCheck, ReportsTheInputThatCrashedAPlugin) {
    const auto r = run(
        cli(), {"plugin", "check", test_plugin("bad_crash_on_empty").string(), "--messages", "20"},
        120s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "CRASHED during malformed empty payload")) << r.out;
    EXPECT_TRUE(contains(r.out, "signal 6")) << r.out;
}

TEST(PluginCheck, ReportsAPluginThatHangs) {
    const auto r = run(cli(),
                       {"plugin", "check", test_plugin("bad_hang_on_empty").string(), "--messages",
                        "5", "--timeout", "1", "--json"},
                       120s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_FALSE(j["survived"].get<bool>());
    EXPECT_EQ(j["crashed_during"], "malformed empty payload");
    EXPECT_NE(j["exit"].get<std::string>().find("signal 14"), std::string::npos) << j.dump();
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsanBuild = true;
#else
constexpr bool kAsanBuild = false;
#endif

TEST(PluginCheck, FindsALeakingPluginUnderAddressSanitizer) {
    const auto r = run(cli(),
                       {"plugin", "check", test_plugin("bad_leak_per_message").string(),
                        "--messages", "20"},
                       120s);
    if (!kAsanBuild) {
        // Without LeakSanitizer the plugin runs fine, and check says leaks were not looked for.
        EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
        EXPECT_TRUE(contains(r.out, "leaks: not checked")) << r.out;
        GTEST_SKIP() << "leak detection needs the asan preset (LeakSanitizer); ran the rest";
    }
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "leaks: FOUND by LeakSanitizer")) << r.out;
    // LSan's report shows where the leaked block came from: the plugin's callback or its file.
    EXPECT_TRUE(contains(r.err, "bad_on_message") || contains(r.err, "bad_leak_per_message"))
        << r.err;
}

TEST(PluginCheck, AWellBehavedPluginHasNoLeaksUnderAddressSanitizer) {
    if (!kAsanBuild) GTEST_SKIP() << "leak detection needs the asan preset (LeakSanitizer)";
    const auto so = plugin_dir() / "groundwater_alert.so";
    const auto r = run(cli(), {"plugin", "check", so.string(), "--messages", "50"}, 120s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "leaks: none found by LeakSanitizer")) << r.out;
}

TEST(PluginCheck, RefusesWhatTheHostRefuses) {
    const auto r = run(cli(), {"plugin", "check", test_plugin("bad_null_callbacks").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "required callback(s) are null")) << r.err;
}

}  // namespace
