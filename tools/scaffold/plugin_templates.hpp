// scaffold/plugin_templates.hpp: the files `testbed plugin new` writes. Placeholders:
// @NAME@ (plugin id and target), @CLASS@ (PascalCase class), @ORG@ and @CONTACT@ (escaped for a
// C++ string literal where they appear in code), @ORG_TEXT@ (plain), @SDK_VERSION@.
// The generated project builds against the installed SDK and its test passes with no edits;
// tests/sdk/plugin_commands_test.cpp proves that on every build.
// Thread safety: constants only.
#pragma once

namespace tb::cli::scaffold {

inline constexpr const char* kCMakeLists = R"tb(# @NAME@: a plugin for the Enschede Innovation Testbed (made by `testbed plugin new`).
#
#   cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH=<testbed SDK install prefix>
#   cmake --build build && ctest --test-dir build --output-on-failure
cmake_minimum_required(VERSION 3.24)
project(@NAME@ VERSION 0.1.0 LANGUAGES CXX)

find_package(TestbedSDK 1 REQUIRED)
testbed_add_plugin(@NAME@ SOURCES @NAME@.cpp)

option(@NAME@_BUILD_TESTS "Build the unit test (needs GoogleTest)" ON)
if(@NAME@_BUILD_TESTS)
    find_package(GTest REQUIRED)
    enable_testing()
    add_executable(@NAME@_test test/@NAME@_test.cpp)
    target_link_libraries(@NAME@_test PRIVATE testbed::sdk GTest::gtest_main ${CMAKE_DL_LIBS})
    target_compile_definitions(@NAME@_test PRIVATE PLUGIN_FILE="$<TARGET_FILE:@NAME@>")
    add_dependencies(@NAME@_test @NAME@)
    add_test(NAME @NAME@_test COMMAND @NAME@_test)
endif()
)tb";

inline constexpr const char* kSource = R"tb(// @NAME@: <one line: what this plugin does for the city>.
//
// Input:  SenML packs (RFC 8428) on the topics under sensor/ (narrow this in manifest()).
// Output: metric "value" for every numeric record, with the sensor id as subject;
//         event "above_threshold" (WARNING) and a JSON message on alert/@NAME@/<sensor>
//         for every value above the config key "threshold".
// Bad input: a payload that is not SenML is rejected as TB_E_BAD_DATA (counted by the host,
//         never an incident).
#include <testbed/plugin.hpp>
#include <testbed/senml.hpp>

#include <string>

namespace {

class @CLASS@ final : public tb::Plugin {
   public:
    // Compiled into the plugin; `testbed plugin inspect @NAME@.so` prints it.
    static tb::Manifest manifest() {
        return tb::Manifest("@NAME@", "0.1.0")
            .organisation("@ORG@")
            .contact("@CONTACT@")
            .description("Describe what this plugin does in one paragraph.")
            .reads("sensor/")
            .publishes("alert/@NAME@/")
            .metric("value", "1", tb::Better::neither, "Each numeric value received")
            .config("threshold", tb::ConfigType::number, "100",
                    "Raise an event for values above this");
    }

    explicit @CLASS@(tb::Host& host)
        : tb::Plugin(host), threshold_(host.config_double("threshold", 100)) {}

    // Called for every message on a topic the manifest reads, one at a time.
    void on_message(const tb::Message& msg) override {
        const std::string sensor(msg.subject());
        for (const auto& record : tb::senml::parse(msg.payload)) {  // throws tb::BadData
            if (!record.value) continue;
            const double v = *record.value;
            host().record_metric("value", v, sensor);
            if (v > threshold_) {
                host().record_event(tb::Severity::warning, "above_threshold",
                                    sensor + " reports " + std::to_string(v), sensor);
                host().publish("alert/@NAME@/" + sensor,
                               "{\"sensor\":\"" + sensor + "\",\"value\":" + std::to_string(v) + "}");
            }
        }
    }

   private:
    double threshold_;
};

}  // namespace

TB_PLUGIN(@CLASS@)
)tb";

inline constexpr const char* kTest = R"tb(// Unit test of @NAME@ with the SDK test kit: no host process, no ZeroMQ.
#include <testbed/testkit.hpp>

#include <gtest/gtest.h>

namespace {

using tb::testkit::Harness;
using tb::testkit::senml_value;

TEST(@CLASS@, RecordsEveryValue) {
    Harness h(PLUGIN_FILE);
    ASSERT_TRUE(h.send("sensor/demo/S-1", senml_value("temperature", "Cel", 21.5)).ok());
    const auto values = h.metrics("value");
    ASSERT_EQ(values.size(), 1u);
    EXPECT_EQ(values[0].subject, "S-1");
    EXPECT_DOUBLE_EQ(values[0].value, 21.5);
    EXPECT_TRUE(h.events().empty());
}

TEST(@CLASS@, AlertsAboveTheThreshold) {
    tb::testkit::Options opt;
    opt.config = {{"threshold", "20"}};
    Harness h(PLUGIN_FILE, opt);
    ASSERT_TRUE(h.send("sensor/demo/S-1", senml_value("temperature", "Cel", 21.5)).ok());
    EXPECT_EQ(h.events("above_threshold").size(), 1u);
    ASSERT_EQ(h.published().size(), 1u);
    EXPECT_EQ(h.published()[0].topic, "alert/@NAME@/S-1");
}

TEST(@CLASS@, MalformedInputIsBadData) {
    Harness h(PLUGIN_FILE);
    EXPECT_EQ(h.send("sensor/demo/S-1", "not senml").code, TB_E_BAD_DATA);
    EXPECT_TRUE(h.metrics().empty());
}

}  // namespace
)tb";

inline constexpr const char* kReadme = R"tb(# @NAME@

A plugin for the Enschede Innovation Testbed by @ORG_TEXT@ (SDK @SDK_VERSION@).

## Spec

- **Input:** SenML packs on the topics under `sensor/` (narrow `reads(...)` in `@NAME@.cpp`).
- **Output:** metric `value` per numeric record (subject: the sensor id); event
  `above_threshold` and a JSON message on `alert/@NAME@/<sensor>` for values above `threshold`.
- **Config keys:** `threshold` (number, default 100).
- **Bad input:** a payload that is not SenML is rejected as `TB_E_BAD_DATA`.

## Build and test

```sh
cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH=/path/to/testbed-sdk
cmake --build build
ctest --test-dir build --output-on-failure
```

The test (`test/@NAME@_test.cpp`) uses the SDK test kit (`testbed/testkit.hpp`): it loads
`build/@NAME@.so`, feeds it SenML messages and checks what it recorded and published.

## Check and run

```sh
testbed plugin inspect build/@NAME@.so   # manifest, SDK/ABI version, SHA-256
testbed plugin check build/@NAME@.so     # synthetic + malformed input, callback timings
```

To run it in a testbed, add to its `testbed.toml`:

```toml
[[plugins]]
name = "@NAME@"
library = "/path/to/build/@NAME@.so"
[plugins.config]
threshold = 100
```
)tb";

inline constexpr const char* kGitignore = "build/\n";

}  // namespace tb::cli::scaffold
