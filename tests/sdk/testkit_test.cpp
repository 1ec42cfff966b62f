// testkit_test: the SDK test kit itself (testbed/testkit.hpp), with a plugin class linked into
// the test (Harness::of<T>): fake clock and on_tick, config values and defaults, captured
// logs/metrics/events/publications, refusals like the real host's, and the ABI 1.0 host table.
#include <testbed/senml.hpp>
#include <testbed/testkit.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace std::chrono_literals;
using tb::testkit::Harness;
using tb::testkit::Options;

class Ticker final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest("ticker", "1.0.0")
            .organisation("Testbed test suite")
            .contact("tests@testbed.enschede.example")
            .reads("sensor/")
            .publishes("out/")
            .metric("ticks", "1", tb::Better::neither, "Tick count")
            .config("label", tb::ConfigType::string, "default-label", "A label")
            .tick_interval(std::chrono::milliseconds(1000));
    }
    explicit Ticker(tb::Host& host) : tb::Plugin(host), label_(host.config_string("label")) {}

    void on_message(const tb::Message& msg) override {
        host().info("got " + std::string(msg.topic) + " as " + label_);
        if (msg.payload == "undeclared-metric") host().record_metric("nope", 1);
        if (msg.payload == "undeclared-topic") host().publish("elsewhere/x", "{}");
        if (msg.payload == "event") host().record_event(tb::Severity::major, "seen", "a message");
        if (msg.payload == "clock") {
            host().record_metric("ticks", static_cast<double>(host().monotonic_ns()));
        }
    }
    void on_tick(int64_t now_us) override {
        ++ticks_;
        host().record_metric("ticks", static_cast<double>(ticks_), {}, now_us);
        host().publish("out/tick", std::to_string(now_us));
    }

   private:
    std::string label_;
    int ticks_ = 0;
};

TEST(Testkit, AdvanceDrivesOnTickAtTheTickTimes) {
    auto h = Harness::of<Ticker>();
    const int64_t t0 = h.now_us();
    EXPECT_TRUE(h.advance(999ms).ok());
    EXPECT_TRUE(h.metrics("ticks").empty());
    EXPECT_TRUE(h.advance(1ms).ok());
    ASSERT_EQ(h.metrics("ticks").size(), 1u);
    EXPECT_EQ(h.metrics("ticks")[0].time_us, t0 + 1'000'000);
    EXPECT_TRUE(h.advance(std::chrono::seconds(10)).ok());
    const auto ticks = h.metrics("ticks");
    ASSERT_EQ(ticks.size(), 11u);
    EXPECT_EQ(ticks.back().value, 11);
    EXPECT_EQ(ticks.back().time_us, t0 + 11'000'000);
    EXPECT_EQ(h.now_us(), t0 + 11'000'000);
    EXPECT_EQ(h.published().size(), 11u);
}

TEST(Testkit, ConfigDefaultsAndOverrides) {
    auto defaults = Harness::of<Ticker>();
    defaults.send("sensor/a", "x");
    ASSERT_EQ(defaults.logs().size(), 1u);
    EXPECT_EQ(defaults.logs()[0].text, "got sensor/a as default-label");
    EXPECT_EQ(defaults.logs()[0].level, tb::LogLevel::info);

    Options opt;
    opt.config = {{"label", "from \"test\""}};
    auto configured = Harness::of<Ticker>(opt);
    configured.send("sensor/a", "x");
    EXPECT_EQ(configured.logs()[0].text, "got sensor/a as from \"test\"");
}

TEST(Testkit, RefusesWhatTheRealHostRefuses) {
    auto h = Harness::of<Ticker>();
    EXPECT_TRUE(h.send("sensor/a", "undeclared-metric").ok());  // the plugin ignores the status
    EXPECT_TRUE(h.send("sensor/a", "undeclared-topic").ok());
    const auto refusals = h.refusals();
    ASSERT_EQ(refusals.size(), 2u);
    EXPECT_EQ(refusals[0].call, "record_metric");
    EXPECT_EQ(refusals[0].code, TB_E_NOT_FOUND);
    EXPECT_EQ(refusals[1].call, "publish");
    EXPECT_EQ(refusals[1].code, TB_E_DENIED);
    EXPECT_TRUE(h.metrics().empty());
    EXPECT_TRUE(h.published().empty());
    ASSERT_TRUE(h.send("sensor/a", "event").ok());
    ASSERT_EQ(h.events("seen").size(), 1u);
    EXPECT_EQ(h.events()[0].severity, tb::Severity::major);
    h.clear();
    EXPECT_TRUE(h.events().empty() && h.refusals().empty() && h.logs().empty());
}

TEST(Testkit, Abi10HostTableHasNoMonotonicClock) {
    Options old_host;
    old_host.host_abi_minor = 0;
    auto h = Harness::of<Ticker>(old_host);
    EXPECT_EQ(h.host().api()->struct_size, TB_HOST_API_SIZE_1_0);
    const auto r = h.send("sensor/a", "clock");
    EXPECT_EQ(r.code, TB_E_UNSUPPORTED);
    EXPECT_EQ(r.message, "monotonic_ns needs host ABI >= 1.1 (host has 1.0)");

    auto current = Harness::of<Ticker>();
    ASSERT_TRUE(current.send("sensor/a", "clock").ok());
    current.advance(2s);  // the fake monotonic clock moves with the fake wall clock
    ASSERT_TRUE(current.send("sensor/a", "clock").ok());
    const auto m = current.metrics("ticks");
    ASSERT_EQ(m.size(), 4u);  // clock, tick, tick, clock
    EXPECT_EQ(m[3].value - m[0].value, 2e9);
}

TEST(Testkit, SenmlHelpersWriteWhatTheSdkReaderReads) {
    const auto pack = tb::senml::parse(tb::testkit::senml_pack(
        {{"urn:dev:GW-1:level", "m", -0.42, 1767225600.25}, {"temp", "Cel", 1e-3, 0}}));
    ASSERT_EQ(pack.size(), 2u);
    EXPECT_EQ(pack[0].name, "urn:dev:GW-1:level");
    EXPECT_EQ(pack[0].unit, "m");
    EXPECT_DOUBLE_EQ(*pack[0].value, -0.42);
    EXPECT_DOUBLE_EQ(pack[0].time, 1767225600.25);
    EXPECT_DOUBLE_EQ(*pack[1].value, 1e-3);
}

}  // namespace
