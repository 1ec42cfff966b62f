// sdk_install_test: the SDK as plugin authors get it (issue #3). Installs the "sdk" component of
// this build tree into a temporary prefix, then
//  - configures and builds tests/sdk/consumer (find_package(TestbedSDK 1 REQUIRED) +
//    testbed_add_plugin) with Ninja and runs the result in the real testbed-host;
//  - checks that asking for SDK 2 fails at configure time;
//  - compiles a plugin with nothing but `pkg-config --cflags testbed-sdk` and the compiler.
#include "loader/plugin_library.hpp"
#include "support/test_support.hpp"

#include <testbed/testkit.hpp>

#include <gtest/gtest.h>
#include <boost/dll/library_info.hpp>

#include <algorithm>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace tb::test;
using namespace std::chrono_literals;

class SdkInstall : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        const auto r = run(TB_CMAKE_COMMAND, {"--install", TB_PROJECT_BINARY_DIR, "--prefix",
                                              prefix().string(), "--component", "sdk"});
        install_ok_ = r.exit_code == 0;
        install_log_ = r.out + r.err;
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(install_ok_) << install_log_; }
    static fs::path prefix() { return dir_->path() / "prefix"; }

    static TempDir* dir_;
    static bool install_ok_;
    static std::string install_log_;
};
TempDir* SdkInstall::dir_ = nullptr;
bool SdkInstall::install_ok_ = false;
std::string SdkInstall::install_log_;

RunResult configure_consumer(const fs::path& build, const fs::path& prefix,
                             const std::string& want) {
    return run(TB_CMAKE_COMMAND,
               {"-S", (source_dir() / "tests/sdk/consumer").string(), "-B", build.string(), "-G",
                "Ninja", "-DCMAKE_MAKE_PROGRAM=" TB_MAKE_PROGRAM,
                "-DCMAKE_CXX_COMPILER=" TB_CXX_COMPILER, "-DCMAKE_BUILD_TYPE=Release",
                "-DCMAKE_PREFIX_PATH=" + prefix.string(), "-DTB_WANT_SDK=" + want},
               120s);
}

TEST_F(SdkInstall, InstallsHeadersPackageAndPkgConfig) {
    for (const char* f :
         {"include/testbed/plugin.h", "include/testbed/plugin.hpp", "include/testbed/senml.hpp",
          "include/testbed/testkit.hpp", "lib/cmake/TestbedSDK/TestbedSDKConfig.cmake",
          "lib/cmake/TestbedSDK/TestbedSDKConfigVersion.cmake",
          "lib/cmake/TestbedSDK/TestbedSDKTargets.cmake",
          "lib/cmake/TestbedSDK/TestbedPlugin.cmake", "share/pkgconfig/testbed-sdk.pc"}) {
        EXPECT_TRUE(fs::exists(prefix() / f)) << f;
    }
    EXPECT_FALSE(fs::exists(prefix() / "bin" / "testbed-host"))
        << "the sdk component holds only the SDK";
}

TEST_F(SdkInstall, OutOfTreeConsumerBuildsAndRunsInTheHost) {
    const fs::path build = dir_->path() / "consumer-build";
    const auto conf = configure_consumer(build, prefix(), "1");
    ASSERT_EQ(conf.exit_code, 0) << conf.out << conf.err;
    const auto b = run(TB_CMAKE_COMMAND, {"--build", build.string()}, 180s);
    ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
    const fs::path so = build / "consumer_probe.so";  // no "lib" prefix
    ASSERT_TRUE(fs::exists(so)) << b.out;

    // Hidden visibility: the entry is exported, the plugin class's symbols are not.
    boost::dll::library_info info(so.string());
    const auto symbols = info.symbols();
    EXPECT_NE(std::find(symbols.begin(), symbols.end(), "tb_plugin_entry"), symbols.end());
    for (const auto& s : symbols)
        EXPECT_EQ(s.find("ConsumerProbe"), std::string::npos) << s << " is exported";

    TempDir tmp;
    const std::string in = tmp.ipc("in");
    const fs::path testbed = write_testbed(tmp / "tb", R"(
[testbed]
id = "consumer"
name = "Out-of-tree consumer"

[host]
ingest = ")" + in + R"("
output = ")" + tmp.ipc("out") + R"("

[[plugins]]
name = "consumer"
library = ")" + so.string() + R"("
)");
    const fs::path db = tmp / "results.db";
    Process host(bin_dir() / "testbed-host", {"--dev", "--testbed", testbed.string(), "--db", db.string()},
                 tmp.path());
    ASSERT_TRUE(host.wait_for_output("ready", 30s)) << host.out() << host.err();
    TestPublisher pub(in);
    ASSERT_TRUE(pub.wait_for_subscriber(10s));
    ASSERT_TRUE(pub.send("sensor/test/C-1", tb::testkit::senml_value("x", "1", 7.5)));
    const auto sql =
        "SELECT COUNT(*) FROM v_metrics WHERE plugin_id = 'consumer_probe' AND value = 7.5";
    EXPECT_TRUE(wait_until([&] { return query_int(db, sql).value_or(0) == 1; }, 30s))
        << host.out() << host.err();
    EXPECT_EQ(host.stop(), 0) << host.err();
}

TEST_F(SdkInstall, AskingForAnotherMajorFails) {
    const auto conf = configure_consumer(dir_->path() / "consumer-v2", prefix(), "2");
    EXPECT_NE(conf.exit_code, 0);
    EXPECT_NE((conf.out + conf.err).find("TestbedSDK"), std::string::npos) << conf.out << conf.err;
    EXPECT_NE((conf.out + conf.err).find("1.1.0"), std::string::npos) << conf.out << conf.err;
}

TEST_F(SdkInstall, PkgConfigAloneBuildsAPlugin) {
    const std::map<std::string, std::string> env{
        {"PKG_CONFIG_PATH", (prefix() / "share/pkgconfig").string()}};
    const auto cflags = run(TB_PKG_CONFIG, {"--cflags", "testbed-sdk"}, 30s, env);
    ASSERT_EQ(cflags.exit_code, 0) << cflags.err;
    EXPECT_NE(cflags.out.find("-fvisibility=hidden"), std::string::npos) << cflags.out;
    const auto version = run(TB_PKG_CONFIG, {"--modversion", "testbed-sdk"}, 30s, env);
    EXPECT_EQ(version.out, std::string(TB_SDK_VERSION) + "\n");

    std::vector<std::string> args{"-std=c++17", "-O1", "-fPIC", "-shared"};
    std::istringstream words(cflags.out);
    for (std::string w; words >> w;) args.push_back(w);
    const fs::path so = dir_->path() / "pkgconfig_probe.so";
    args.insert(args.end(), {(source_dir() / "tests/sdk/consumer/consumer_probe.cpp").string(),
                             "-o", so.string()});
    const auto cc = run(TB_CXX_COMPILER, args, 180s);
    ASSERT_EQ(cc.exit_code, 0) << cc.out << cc.err;

    auto lib = tb::host::PluginLibrary::load(so);
    ASSERT_TRUE(lib) << lib.error().message;
    tb::testkit::Harness h(so.string());
    EXPECT_TRUE(h.send("sensor/test/P-1", tb::testkit::senml_value("x", "1", 3)).ok());
    ASSERT_EQ(h.metrics("value").size(), 1u);
    EXPECT_EQ(h.metrics("value")[0].subject, "P-1");
}

}  // namespace
