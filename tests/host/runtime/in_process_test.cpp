// Drives the real groundwater_alert plugin through the real loader and the in-process runtime.
#include "runtime/in_process.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>

#include "runtime/inline_delivery.hpp"
#include "store/sqlite_store.hpp"
#include "support/test_support.hpp"

namespace tb::host {
namespace {

class InProcessTest : public ::testing::Test {
 protected:
    void SetUp() override {
        auto lib = PluginLibrary::load(test::plugin_dir() / "groundwater_alert.so");
        ASSERT_TRUE(lib) << lib.error().message;
        lib_ = *lib;
        auto store = SqliteStore::open(dir_ / "r.db");
        ASSERT_TRUE(store) << store.error().message;
        store_ = std::move(store.value());
        run_ = *store_->begin_run({"t", "0", 1, nlohmann::json::object()});
    }

    std::unique_ptr<PluginInstance> make(InboxOptions inbox,
                                         nlohmann::json config = nlohmann::json::object()) {
        PluginContextOptions co{"gw", lib_->manifest(), std::move(config), run_};
        auto ctx = std::make_unique<PluginContext>(std::move(co), store_.get(), nullptr);
        PluginRegistration reg;
        reg.run_id = run_;
        reg.instance = "gw";
        reg.plugin_id = "groundwater_alert";
        reg.version = reg.organisation = reg.file = reg.sha256 = reg.mode = "x";
        reg.manifest = nlohmann::json::object();
        for (const auto& m : lib_->manifest().metrics)
            reg.series.push_back({m.name, m.unit, "neither", ""});
        ctx->set_record(*store_->register_plugin(reg));
        return make_in_process_instance(lib_, std::move(ctx), exec_, inbox);
    }

    static FeedMessagePtr reading(int sensor, double level) {
        auto m = std::make_shared<FeedMessage>();
        char id[16];
        std::snprintf(id, sizeof id, "GW-%04d", sensor);
        m->topic = std::string("sensor/groundwater/") + id;
        m->payload = test::senml(std::string("urn:dev:enschede:gw:") + id + ":", "level", "m",
                                 level, 1764300000.0);
        return m;
    }

    static uint64_t get(const nlohmann::json& j, const char* k) { return j.at(k).get<uint64_t>(); }

    test::TempDir dir_;
    std::shared_ptr<PluginLibrary> lib_;
    std::unique_ptr<SqliteStore> store_;
    int64_t run_ = 0;
    Executor exec_{2};
};

TEST_F(InProcessTest, DeliversEveryMessageAndRecordsOneMetricEach) {
    auto inst = make({100000, OverflowPolicy::drop_newest}, {{"mean_every", 0}});
    ASSERT_TRUE(inst->start());
    for (int i = 0; i < 2000; ++i) inst->deliver(reading(i % 10, -1.5));
    inst->stop(std::chrono::seconds(30));
    const auto s = inst->stats_json();
    EXPECT_EQ(get(s, "offered"), 2000u);
    EXPECT_EQ(get(s, "delivered"), 2000u);
    EXPECT_EQ(get(s, "metrics"), 2000u);
    EXPECT_EQ(get(s, "dropped_inbox"), 0u);
    EXPECT_EQ(s.at("state"), "stopped");
    ASSERT_TRUE(store_->flush());
    EXPECT_EQ(test::query_int(dir_ / "r.db", "SELECT COUNT(*) FROM v_metrics WHERE metric='level'"),
              2000);
}

TEST_F(InProcessTest, AlertsOncePerCrossingWithHysteresis) {
    auto inst =
        make({1000, OverflowPolicy::drop_newest}, {{"alert_level_m", -0.5}, {"hysteresis_m", 0.1}});
    ASSERT_TRUE(inst->start());
    // -0.4 alerts; -0.45 stays in alert; -0.55 is inside the hysteresis; -0.7 resets; -0.3 alerts
    // again.
    for (double v : {-1.0, -0.4, -0.45, -0.55, -0.4, -0.7, -0.3}) inst->deliver(reading(1, v));
    inst->stop(std::chrono::seconds(30));
    EXPECT_EQ(get(inst->stats_json(), "events"), 2u);
}

TEST_F(InProcessTest, MalformedPayloadIsCountedAsBadDataAndTheNextMessageStillArrives) {
    auto inst = make({1000, OverflowPolicy::drop_newest});
    ASSERT_TRUE(inst->start());
    auto bad = std::make_shared<FeedMessage>();
    bad->topic = "sensor/groundwater/GW-0001";
    bad->payload = R"([{"n":"temperature","v":3}])";
    inst->deliver(bad);
    inst->deliver(reading(1, -1.0));
    inst->stop(std::chrono::seconds(30));
    const auto s = inst->stats_json();
    EXPECT_EQ(get(s, "bad_data"), 1u);
    EXPECT_EQ(get(s, "callback_errors"), 0u);
    EXPECT_EQ(get(s, "metrics"), 1u);
}

TEST_F(InProcessTest, FullInboxDropsAndEveryMessageIsAccountedFor) {
    auto inst = make({4, OverflowPolicy::drop_oldest});
    ASSERT_TRUE(inst->start());
    for (int i = 0; i < 5000; ++i) inst->deliver(reading(i % 7, -1.0));
    inst->stop(std::chrono::seconds(30));
    const auto s = inst->stats_json();
    EXPECT_EQ(get(s, "offered"), 5000u);
    EXPECT_EQ(get(s, "delivered") + get(s, "dropped_inbox") + get(s, "dropped_not_running"), 5000u);
}

TEST_F(InProcessTest, SuspendedInstanceReceivesNothingUntilResumed) {
    auto inst = make({1000, OverflowPolicy::drop_newest});
    ASSERT_TRUE(inst->start());
    inst->set_suspended(true);
    EXPECT_EQ(inst->state(), PluginState::suspended);
    for (int i = 0; i < 10; ++i) inst->deliver(reading(1, -1.0));
    EXPECT_EQ(get(inst->stats_json(), "dropped_not_running"), 10u);
    inst->set_suspended(false);
    inst->deliver(reading(1, -1.0));
    inst->stop(std::chrono::seconds(30));
    const auto s = inst->stats_json();
    EXPECT_EQ(get(s, "delivered"), 1u);
    EXPECT_EQ(get(s, "metrics"), 1u);
}

// What the feed receiver does on a worker: route inside an InlineSlot, then run the claimed drain
// on its own thread. The callback has run when run_drain(true) returns: no other thread took it.
TEST_F(InProcessTest, AClaimedDrainRunsOnTheReadingWorkerBeforeItReadsOn) {
    auto inst = make({100, OverflowPolicy::drop_newest}, {{"mean_every", 0}});
    ASSERT_TRUE(inst->start());
    std::promise<std::pair<bool, uint64_t>> result;
    boost::asio::post(exec_.io(), [&] {
        InlineRunnable* ready = nullptr;
        {
            InlineSlot slot;
            inst->deliver(reading(1, -1.0));
            inst->deliver(reading(2, -1.0));  // already due: joins the claimed drain
            ready = slot.take();
        }
        const bool claimed = ready != nullptr;
        if (ready != nullptr) ready->run_drain(true);
        result.set_value({claimed, get(inst->stats_json(), "delivered")});
    });
    const auto [claimed, delivered_after_run] = result.get_future().get();
    EXPECT_TRUE(claimed);
    EXPECT_EQ(delivered_after_run, 2u);
    inst->stop(std::chrono::seconds(30));
    EXPECT_EQ(get(inst->stats_json(), "delivered"), 2u);
}

// Outside a slot, and when the slot is already claimed or never taken, drains go to the pool as
// before: nothing is lost.
TEST_F(InProcessTest, UnclaimedDrainsStillRunOnThePool) {
    auto a = make({100, OverflowPolicy::drop_newest});
    auto b = make({100, OverflowPolicy::drop_newest});
    ASSERT_TRUE(a->start());
    ASSERT_TRUE(b->start());
    {
        InlineSlot slot;
        a->deliver(reading(1, -1.0));  // claims the slot
        b->deliver(reading(1, -1.0));  // slot taken: posted
    }                                  // never taken: a's drain is posted by the slot
    a->deliver(reading(2, -1.0));
    a->stop(std::chrono::seconds(30));
    b->stop(std::chrono::seconds(30));
    EXPECT_EQ(get(a->stats_json(), "delivered"), 2u);
    EXPECT_EQ(get(b->stats_json(), "delivered"), 1u);
}

TEST_F(InProcessTest, UndeclaredMetricAndPublishOutsideTheManifestAreRefused) {
    auto inst = make({10, OverflowPolicy::drop_newest});
    auto& ctx = inst->context();
    std::string why;
    EXPECT_EQ(ctx.record_metric("not_declared", "", 1.0, 0, why), TB_E_NOT_FOUND);
    EXPECT_NE(why.find("not_declared"), std::string::npos);
    EXPECT_EQ(ctx.publish("sensor/groundwater/GW-0001", "{}", TB_CONTENT_JSON, why), TB_E_DENIED);
    EXPECT_NE(why.find("outside the topics the manifest declares"), std::string::npos);
    EXPECT_EQ(ctx.record_event(9, "x", "", "", "", why), TB_E_INVALID_ARG);
    EXPECT_EQ(ctx.record_event(TB_SEV_INFO, "x", "", "", "{not json", why), TB_E_INVALID_ARG);
    std::string value;
    EXPECT_EQ(ctx.config_get("alert_level_m", value, why), TB_OK);
    EXPECT_EQ(value, "-0.5");  // the manifest default
    EXPECT_EQ(ctx.config_get("nope", value, why), TB_E_NOT_FOUND);
}

}  // namespace
}  // namespace tb::host
