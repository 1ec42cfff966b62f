// The [[plugins]] keys of isolation (docs/isolation.md): defaults, values, and clear errors.
#include <gtest/gtest.h>

#include "config/testbed_config.hpp"

namespace tb::host {
namespace {

Result<TestbedConfig> parse(const std::string& plugin_keys) {
    return parse_testbed("[testbed]\nid = \"t\"\n[[plugins]]\nname = \"p\"\n" + plugin_keys,
                         "/tmp/t/testbed.toml");
}

TEST(IsolationConfig, UntrustedPluginsRunInAProcessWithDefaultLimits) {
    auto c = parse("");
    ASSERT_TRUE(c) << c.error().message;
    const auto& p = c->plugins.at(0);
    EXPECT_EQ(p.isolation, Isolation::process);
    EXPECT_EQ(p.restart_max, 5);
    EXPECT_EQ(p.restart_backoff_ms, 200);
    EXPECT_EQ(p.restart_backoff_max_ms, 30000);
    EXPECT_EQ(p.restart_reset_s, 300);
    EXPECT_EQ(p.callback_deadline_ms, 2000);
    EXPECT_EQ(p.memory_limit_mb, 1024u);
    EXPECT_EQ(p.cpu_limit_s, 0u);
    EXPECT_EQ(p.nice, 10);
    EXPECT_EQ(p.publish_budget_per_s, 0.0);
    EXPECT_EQ(p.record_budget_per_s, 0.0);
    auto t = parse("trusted = true\n");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->plugins.at(0).isolation, Isolation::in_process);
}

TEST(IsolationConfig, KeysAreRead) {
    auto c = parse(
        "restart_max = 2\nrestart_backoff_ms = 50\nrestart_backoff_max_ms = 400\n"
        "callback_deadline_ms = 300\nmemory_limit_mb = 256\ncpu_limit_s = 3\n"
        "publish_budget_per_s = 12.5\nrecord_budget_per_s = 40\nrestart_reset_s = 0\nnice = 0\n");
    ASSERT_TRUE(c) << c.error().message;
    const auto& p = c->plugins.at(0);
    EXPECT_EQ(p.restart_max, 2);
    EXPECT_EQ(p.restart_backoff_ms, 50);
    EXPECT_EQ(p.restart_backoff_max_ms, 400);
    EXPECT_EQ(p.restart_reset_s, 0);
    EXPECT_EQ(p.callback_deadline_ms, 300);
    EXPECT_EQ(p.memory_limit_mb, 256u);
    EXPECT_EQ(p.cpu_limit_s, 3u);
    EXPECT_EQ(p.nice, 0);
    EXPECT_DOUBLE_EQ(p.publish_budget_per_s, 12.5);
    EXPECT_DOUBLE_EQ(p.record_budget_per_s, 40.0);
}

TEST(IsolationConfig, BadValuesNameTheKeyAndTheLine) {
    const std::pair<std::string, std::string> cases[] = {
        {"restart_max = -1\n", "'restart_max' must not be negative"},
        {"callback_deadline_ms = 5\n", "callback_deadline_ms must be at least 10"},
        {"memory_limit_mb = 10\n", "memory_limit_mb must be 0 (no limit) or at least 64"},
        {"restart_backoff_ms = 500\nrestart_backoff_max_ms = 100\n",
         "restart_backoff_max_ms must not be smaller"},
        {"publish_budget_per_s = -2\n", "'publish_budget_per_s' must be a number >= 0"},
        {"record_budget_per_s = \"lots\"\n", "'record_budget_per_s' must be a number >= 0"},
        {"cpu_limit_s = \"1\"\n", "'cpu_limit_s' must be an integer"},
        {"restart_reset_s = -5\n", "restart_reset_s"},
        {"restart_reset_s = 1.5\n", "'restart_reset_s' must be an integer"},
        {"nice = -5\n", "'nice' must not be negative"},
        {"nice = 20\n", "nice must be 0"},
    };
    for (const auto& [keys, want] : cases) {
        auto c = parse(keys);
        ASSERT_FALSE(c) << keys;
        EXPECT_NE(c.error().message.find(want), std::string::npos) << c.error().message;
        EXPECT_NE(c.error().message.find("/tmp/t/testbed.toml:"), std::string::npos)
            << c.error().message;
    }
}

}  // namespace
}  // namespace tb::host
