// A trial suspended while its isolated plugin's runner is down (crashed, waiting out its restart
// back-off) must come back suspended after the restart, not running (docs/isolation.md, "Restart
// and back-off"). Real testbed-host, real `testbed trial` CLI, real tb_test_hostile.so.
#include <nlohmann/json.hpp>

#include "governance/gov_fixture.hpp"

namespace tb::test::gov {
namespace {

using namespace std::chrono_literals;

TEST(IsolationSuspend, ATrialSuspendedWhileItsRunnerIsDownComesBackSuspended) {
    TempDir dir;
    // The [[plugins]] entry of the same library gives the trial its restart settings (a long
    // back-off, so the suspension surely lands while the runner is down) and is itself a
    // well-behaved in-process neighbour that counts every message.
    const std::string toml = testbed_toml(dir) + R"(
[[plugins]]
name = "neighbour"
library = "tb_test_hostile"
isolation = "in-process"
restart_max = 3
restart_backoff_ms = 6000
restart_backoff_max_ms = 12000
[plugins.config]
behaviour = "none"
)";
    const fs::path tb = write_testbed(dir / "tb", toml);
    const fs::path db = dir / "results.db";
    const int64_t id = propose(
        db, test_plugin_dir() / "tb_test_hostile.so",
        {"--reads", "sensor/footfall/", "--config", R"({"behaviour": "segv", "after": 10})"});
    ASSERT_GT(id, 0);
    decide(db, "approve", id);
    auto args = host_args(tb, db);
    args.insert(args.end(),
                {"--dev", "--plugin-dir", test_plugin_dir().string()});  // --dev: the neighbour too
    Process host(bin_dir() / "testbed-host", args, dir.path());
    ASSERT_TRUE(host.wait_for_output("testbed-host: ready", 30s)) << host.err();
    TestPublisher pub(dir.ipc("ingest"));
    ASSERT_TRUE(pub.wait_for_subscriber());
    uint64_t sent = 0;
    auto send = [&](int n) {
        for (int i = 0; i < n; ++i) {
            ++sent;
            ASSERT_TRUE(pub.send("sensor/footfall/FF-0001",
                                 senml("urn:dev:x:FF-0001:", "count", "count", 1, 0), 1, sent));
        }
    };
    const std::string instance = "tb_test_hostile#" + std::to_string(id);
    const std::string where_trial = " WHERE instance = '" + instance + "'";
    const std::string plugin_row = "(SELECT id FROM plugins" + where_trial + ")";

    // 1. The trial's plugin crashes on its 10th message; its runner waits out the back-off.
    ASSERT_TRUE(wait_until(
        [&] {
            send(2);
            return count(db, "SELECT count(*) FROM incidents" + where_trial) >= 1;
        },
        30s))
        << host.err();
    // 2. Suspend it now, while it is down.
    auto r = cli({"trial", "suspend", std::to_string(id), "--by", "Alice Staff", "--reason",
                  "crashing", "--db", db.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string ack =
        "SELECT detail_json FROM audit_log WHERE action = 'enforce_suspend' AND trial_id = " +
        std::to_string(id);
    ASSERT_TRUE(wait_until([&] { return !query_rows(db, ack).empty(); }, 10s)) << host.err();
    const int64_t applied_us =
        nlohmann::json::parse(query_rows(db, ack)[0][0])["applied_us"].get<int64_t>();
    const auto incident =
        query_rows(db, "SELECT t_us, backoff_ms, action FROM incidents" + where_trial);
    ASSERT_EQ(incident.size(), 1u);
    ASSERT_EQ(incident[0][2], "restart");
    ASSERT_LT(applied_us, std::stoll(incident[0][0]) + std::stoll(incident[0][1]) * 1000)
        << "the suspension must land during the back-off for this test to mean anything";
    // 3. The runner comes back...
    const std::string restarted =
        "SELECT t_us FROM events WHERE kind = 'plugin_restarted' AND plugin_row = " + plugin_row;
    ASSERT_TRUE(wait_until([&] { return !query_rows(db, restarted).empty(); }, 30s)) << host.err();
    const std::string after_restart = query_rows(db, restarted)[0][0];
    // ...but suspended: messages reach the neighbour and not the trial's plugin.
    send(30);
    ASSERT_TRUE(wait_until(
        [&] {
            return count(db, "SELECT count(*) FROM v_metrics WHERE instance = 'neighbour'") ==
                   static_cast<int64_t>(sent);
        },
        30s))
        << "neighbour saw "
        << count(db, "SELECT count(*) FROM v_metrics WHERE instance = 'neighbour'") << " of "
        << sent;
    EXPECT_EQ(
        count(db, "SELECT count(*) FROM v_metrics" + where_trial + " AND t_us > " + after_restart),
        0)
        << "the plugin ran after its restart although its trial is suspended";
    EXPECT_EQ(count(db, "SELECT count(*) FROM incidents" + where_trial), 1)
        << "no more crashes: nothing delivered";
    // 4. Resume: delivery starts again (the plugin records the next 9 messages, then would crash).
    auto rr = cli({"trial", "resume", std::to_string(id), "--by", "Alice Staff", "--reason",
                   "fixed", "--db", db.string()});
    ASSERT_EQ(rr.exit_code, 0) << rr.err;
    const std::string resumed =
        "SELECT count(*) FROM audit_log WHERE action = 'enforce_resume' AND trial_id = " +
        std::to_string(id);
    ASSERT_TRUE(wait_until([&] { return count(db, resumed) >= 1; }, 10s)) << host.err();
    send(5);
    ASSERT_TRUE(wait_until(
        [&] {
            return count(db, "SELECT count(*) FROM v_metrics" + where_trial + " AND t_us > " +
                                 after_restart) == 5;
        },
        30s))
        << host.err();
    ASSERT_EQ(host.stop(30s), 0) << host.err();
    const auto stats =
        nlohmann::json::parse(query_rows(db, "SELECT stats_json FROM plugins" + where_trial)[0][0]);
    EXPECT_EQ(stats.value("restarts", -1), 1);
    EXPECT_GE(stats.value("dropped_not_running", uint64_t{0}), 30u);
}

// Messages already on their way to the runner when a trial is suspended are not delivered: the
// runner skips them (the progress page's skip_through), so the suspension waits for the callback
// running now, not for the whole batch. Ten messages to a plugin that takes 300 ms each: without
// the skip the stop would take about 3 s and deliver all ten.
TEST(IsolationSuspend, ASuspensionSkipsWhatIsAlreadyOnItsWayToTheRunner) {
    TempDir dir;
    const fs::path tb = write_testbed(dir / "tb", testbed_toml(dir));
    const fs::path db = dir / "results.db";
    const int64_t id = propose(
        db, test_plugin_dir() / "tb_test_hostile.so",
        {"--reads", "sensor/footfall/", "--config", R"({"behaviour": "slow", "sleep_ms": 300})"});
    ASSERT_GT(id, 0);
    decide(db, "approve", id);
    auto args = host_args(tb, db);
    args.insert(args.end(), {"--plugin-dir", test_plugin_dir().string()});
    Process host(bin_dir() / "testbed-host", args, dir.path());
    ASSERT_TRUE(host.wait_for_output("testbed-host: ready", 30s)) << host.err();
    TestPublisher pub(dir.ipc("ingest"));
    ASSERT_TRUE(pub.wait_for_subscriber());
    for (uint64_t i = 1; i <= 10; ++i) {
        ASSERT_TRUE(pub.send("sensor/footfall/FF-0001",
                             senml("urn:dev:x:FF-0001:", "count", "count", 1, 0), 1, i));
    }
    const std::string where_trial =
        " WHERE instance = 'tb_test_hostile#" + std::to_string(id) + "'";
    // The first callback has finished: the other nine are queued in the runner or on their way.
    ASSERT_TRUE(wait_until(
        [&] { return count(db, "SELECT count(*) FROM v_metrics" + where_trial) >= 1; }, 30s))
        << host.err();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = cli({"trial", "suspend", std::to_string(id), "--by", "Alice Staff", "--reason", "stop",
                  "--db", db.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string ack =
        "SELECT count(*) FROM audit_log WHERE action = 'enforce_suspend' AND trial_id = " +
        std::to_string(id);
    ASSERT_TRUE(wait_until([&] { return count(db, ack) >= 1; }, 10s)) << host.err();
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 2s) << "the host waited for the whole batch";
    ASSERT_EQ(host.stop(30s), 0) << host.err();
    const auto stats =
        nlohmann::json::parse(query_rows(db, "SELECT stats_json FROM plugins" + where_trial)[0][0]);
    const auto delivered = stats.value("delivered", uint64_t{0});
    EXPECT_LE(delivered, 4u)
        << stats.dump();  // the first, the one running, perhaps one more each side
    EXPECT_EQ(delivered + stats.value("dropped_not_running", uint64_t{0}), 10u) << stats.dump();
    EXPECT_EQ(count(db, "SELECT count(*) FROM v_metrics" + where_trial),
              static_cast<int64_t>(delivered));
}

}  // namespace
}  // namespace tb::test::gov
