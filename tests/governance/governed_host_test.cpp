// The host enforces trials (issue 5): only approved trials inside their window run, only the
// approved file, only the granted feeds and topics; suspend/resume while running; window end;
// per-trial pseudonyms; retention purge. Real testbed-host, real testbed CLI, real .so files.
#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "gov_fixture.hpp"

namespace tb::test::gov {
namespace {

using namespace std::chrono_literals;

struct HostRun {
    TempDir dir;
    fs::path tb = write_testbed(dir / "tb", testbed_toml(dir));
    fs::path db = dir / "results.db";
    std::unique_ptr<Process> host;

    void start() {
        host = std::make_unique<Process>(bin_dir() / "testbed-host", host_args(tb, db), dir.path());
        ASSERT_TRUE(host->wait_for_output("testbed-host: ready", 30s))
            << host->err() << host->out();
    }
    void stop() { ASSERT_EQ(host->stop(), 0) << host->err(); }
    std::string ingest() const { return dir.ipc("ingest"); }
};

void send_n(const std::string& endpoint, const std::string& topic, int n, uint64_t first_seq = 1) {
    TestPublisher pub(endpoint);
    ASSERT_TRUE(pub.wait_for_subscriber());
    for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(pub.send(
            topic,
            senml("urn:dev:x:" + topic.substr(topic.rfind('/') + 1) + ":", "level", "m", 1.0, 0), 1,
            first_seq + static_cast<uint64_t>(i)));
    }
}

int64_t trial_metrics(const fs::path& db, int64_t trial) {
    return count(db, "SELECT COUNT(*) FROM v_metrics WHERE trial_id = " + std::to_string(trial));
}

TEST(GovernedHost, UnapprovedPluginNeverRunsApprovedOneDoes) {
    HostRun h;
    const int64_t id = propose(h.db, probe());
    ASSERT_GT(id, 0);
    h.start();
    send_n(h.ingest(), "sensor/footfall/FF-0001", 50);
    std::this_thread::sleep_for(300ms);
    h.stop();
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM plugins"), 0);
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM metrics"), 0);

    decide(h.db, "approve", id);
    h.start();
    send_n(h.ingest(), "sensor/footfall/FF-0001", 50);
    ASSERT_TRUE(wait_until([&] { return trial_metrics(h.db, id) == 50; }, 20s))
        << trial_metrics(h.db, id);
    h.stop();
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM trials WHERE id = " + std::to_string(id) +
                              " AND state = 'active'"),
              1);
    EXPECT_EQ(
        count(h.db, "SELECT COUNT(*) FROM audit_log WHERE actor = 'host' AND action = 'activate'"),
        1);
}

TEST(GovernedHost, OneByteChangeToApprovedFileIsRefused) {
    HostRun h;
    const fs::path copy = h.dir / "probe_copy.so";
    fs::copy_file(probe(), copy);
    const int64_t id = propose(h.db, copy);
    ASSERT_GT(id, 0);
    decide(h.db, "approve", id);
    {
        std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-1, std::ios::end);
        char c = 0;
        f.seekg(-1, std::ios::end);
        f.read(&c, 1);
        c = static_cast<char>(c ^ 0x01);
        f.seekp(-1, std::ios::end);
        f.write(&c, 1);
    }
    h.start();
    send_n(h.ingest(), "sensor/footfall/FF-0001", 20);
    ASSERT_TRUE(wait_until(
        [&] {
            return count(h.db,
                         "SELECT COUNT(*) FROM audit_log WHERE action = 'refuse_load' AND outcome "
                         "= 'refused'") == 1;
        },
        20s));
    h.stop();
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM plugins"), 0);
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM metrics"), 0);
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM events WHERE kind = 'refuse_load'"), 1);
}

TEST(GovernedHost, FeedsAndPublicationsOutsideTheGrantAreRefused) {
    HostRun h;
    const int64_t id =
        propose(h.db, probe(),
                {"--reads", "sensor/footfall/", "--publishes", "alert/ok/", "--config",
                 R"({"publish_ok": "alert/ok/", "publish_other": "alert/other/"})"});
    ASSERT_GT(id, 0);
    decide(h.db, "approve", id);
    h.start();
    send_n(h.ingest(), "sensor/groundwater/GW-0001", 30);
    send_n(h.ingest(), "sensor/footfall/FF-0002", 40);
    ASSERT_TRUE(wait_until([&] { return trial_metrics(h.db, id) == 40; }, 20s))
        << trial_metrics(h.db, id);
    h.stop();
    EXPECT_EQ(
        count(h.db,
              "SELECT COUNT(*) FROM v_metrics WHERE subject LIKE 'GW-%' OR subject LIKE 'anon-%'"),
        0);
    const auto rows =
        query_rows(h.db, "SELECT stats_json FROM plugins WHERE trial_id = " + std::to_string(id));
    ASSERT_EQ(rows.size(), 1u);
    const auto stats = nlohmann::json::parse(rows[0][0]);
    EXPECT_EQ(stats["published"].get<int>(), 40);
    EXPECT_EQ(stats["publish_denied"].get<int>(), 40);
    EXPECT_GE(count(h.db, "SELECT COUNT(*) FROM events WHERE kind = 'publish_denied'"), 1);
}

TEST(GovernedHost, SuspendStopsDeliveryWhileRunningAndResumeRestartsIt) {
    HostRun h;
    const int64_t id = propose(h.db, probe(), {"--reads", "sensor/footfall/"});
    ASSERT_GT(id, 0);
    decide(h.db, "approve", id);
    h.start();
    std::atomic<bool> quit{false};
    std::atomic<uint64_t> sent{0};
    std::thread feeder([&] {
        TestPublisher pub(h.ingest());
        if (!pub.wait_for_subscriber()) return;
        for (uint64_t seq = 1; !quit.load() && seq < 2'000'000; ++seq) {
            pub.send("sensor/footfall/FF-0001", senml("urn:dev:x:FF-0001:", "count", "count", 1, 0),
                     1, seq);
            sent.fetch_add(1);
            std::this_thread::sleep_for(1ms);
        }
    });
    ASSERT_TRUE(wait_until([&] { return trial_metrics(h.db, id) > 50; }, 20s));

    auto r = cli({"trial", "suspend", std::to_string(id), "--by", "Alice Staff", "--reason",
                  "emergency", "--db", h.db.string()});
    const int64_t returned_us = wall_us();
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string ack =
        "SELECT detail_json FROM audit_log WHERE action = 'enforce_suspend' AND trial_id = " +
        std::to_string(id);
    ASSERT_TRUE(wait_until([&] { return !query_rows(h.db, ack).empty(); }, 10s)) << h.host->err();
    const auto detail = nlohmann::json::parse(query_rows(h.db, ack)[0][0]);
    const int64_t applied_us = detail["applied_us"].get<int64_t>();
    const uint64_t sent_at_ack = sent.load();
    // Keep feeding while suspended: none of it may reach the plugin.
    ASSERT_TRUE(wait_until([&] { return sent.load() > sent_at_ack + 200; }, 20s));
    const int64_t resume_us = wall_us();
    auto rr = cli({"trial", "resume", std::to_string(id), "--by", "Alice Staff", "--reason",
                   "all clear", "--db", h.db.string()});
    ASSERT_EQ(rr.exit_code, 0) << rr.err;
    ASSERT_TRUE(wait_until(
        [&] {
            return count(h.db,
                         "SELECT COUNT(*) FROM v_metrics WHERE trial_id = " + std::to_string(id) +
                             " AND t_us > " + std::to_string(resume_us)) > 20;
        },
        20s))
        << "delivery did not resume";
    quit.store(true);
    feeder.join();
    h.stop();

    const int64_t during =
        count(h.db, "SELECT COUNT(*) FROM v_metrics WHERE trial_id = " + std::to_string(id) +
                        " AND t_us > " + std::to_string(applied_us) + " AND t_us < " +
                        std::to_string(resume_us));
    EXPECT_EQ(during, 0) << "messages were delivered after the host acknowledged the suspension";
    const auto last =
        query_int(h.db, "SELECT MAX(t_us) FROM v_metrics WHERE trial_id = " + std::to_string(id) +
                            " AND t_us < " + std::to_string(resume_us));
    const auto stats = nlohmann::json::parse(query_rows(
        h.db, "SELECT stats_json FROM plugins WHERE trial_id = " + std::to_string(id))[0][0]);
    EXPECT_GT(stats["dropped_not_running"].get<int64_t>(), 100);
    std::cout << "[ MEASURED ] suspend: decision recorded -> host applied: "
              << detail["latency_ms"].get<double>() << " ms; CLI returned -> applied: "
              << static_cast<double>(applied_us - returned_us) / 1000.0
              << " ms; CLI returned -> last delivery: "
              << static_cast<double>(last.value_or(0) - returned_us) / 1000.0
              << " ms (negative: before the CLI "
              << "returned)" << std::endl;
}

TEST(GovernedHost, WindowEndStopsThePluginAndCompletesTheTrial) {
    HostRun h;
    // The window must outlast proposing and approving through the CLI, which takes seconds in a
    // sanitizer build on a loaded machine (a 3 s window once closed before the approval).
    const int64_t id = propose(h.db, probe(), {}, 12);
    ASSERT_GT(id, 0);
    decide(h.db, "approve", id);
    h.start();
    const std::string completed =
        "SELECT COUNT(*) FROM audit_log WHERE actor = 'host' AND action = 'complete' AND "
        "trial_id = " +
        std::to_string(id);
    ASSERT_TRUE(wait_until([&] { return count(h.db, completed) == 1; }, 60s)) << h.host->err();
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM trials WHERE state = 'completed'"), 1);
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM audit_log WHERE action = 'enforce_stop'"), 1);
    send_n(h.ingest(), "sensor/footfall/FF-0001", 20);
    std::this_thread::sleep_for(300ms);
    h.stop();
    EXPECT_EQ(trial_metrics(h.db, id), 0);
}

TEST(GovernedHost, PseudonymsDifferAcrossTrialsAndAreStableWithinOne) {
    HostRun h;
    const std::string cfg = R"({"echo_payload": true})";
    const int64_t a = propose(h.db, probe("a"), {"--config", cfg});
    const int64_t b = propose(h.db, probe("b"), {"--config", cfg});
    ASSERT_GT(a, 0);
    ASSERT_GT(b, 0);
    decide(h.db, "approve", a);
    decide(h.db, "approve", b);
    h.start();
    send_n(h.ingest(), "sensor/groundwater/GW-0001", 5, 1);
    send_n(h.ingest(), "sensor/groundwater/GW-0002", 5, 1);
    ASSERT_TRUE(wait_until(
        [&] { return trial_metrics(h.db, a) == 10 && trial_metrics(h.db, b) == 10; }, 20s));
    h.stop();
    auto subjects = [&](int64_t t) {
        std::set<std::string> out;
        for (const auto& r :
             query_rows(h.db, "SELECT DISTINCT subject FROM v_metrics WHERE trial_id = " +
                                  std::to_string(t))) {
            out.insert(r[0]);
        }
        return out;
    };
    const auto sa = subjects(a), sb = subjects(b);
    EXPECT_EQ(sa.size(), 2u);  // stable: 5 readings each of 2 homes give 2 pseudonyms
    EXPECT_EQ(sb.size(), 2u);
    for (const auto& s : sa) {
        EXPECT_EQ(s.rfind("anon-", 0), 0u) << s;
        EXPECT_EQ(sb.count(s), 0u) << "trial " << a << " and " << b << " share pseudonym " << s;
    }
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM v_events WHERE kind = 'payload'"), 20);
    EXPECT_EQ(
        count(
            h.db,
            "SELECT COUNT(*) FROM v_events WHERE kind = 'payload' AND (message LIKE '%GW-000%' OR "
            "subject LIKE '%GW-%')"),
        0);
    EXPECT_EQ(
        count(h.db,
              "SELECT COUNT(*) FROM v_events WHERE kind = 'payload' AND message LIKE '%anon-%'"),
        20);
    // The keys are not in the results database.
    const auto keys = read_file(h.db.string() + ".keys");
    EXPECT_NE(keys.find("\"trials\""), std::string::npos);
    EXPECT_EQ(fs::status(h.db.string() + ".keys").permissions() & fs::perms::group_all,
              fs::perms::none);
}

TEST(GovernedHost, PurgeDeletesExpiredRawDataAndAuditsIt) {
    HostRun h;
    const int64_t id = propose(h.db, probe(), {"--retention-days", "0"});
    const int64_t keep = propose(h.db, probe("b"));
    decide(h.db, "approve", id);
    decide(h.db, "approve", keep);
    h.start();
    send_n(h.ingest(), "sensor/footfall/FF-0001", 30);
    ASSERT_TRUE(wait_until(
        [&] { return trial_metrics(h.db, id) == 30 && trial_metrics(h.db, keep) == 30; }, 20s));
    h.stop();
    auto r = cli({"trial", "purge", "--db", h.db.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(trial_metrics(h.db, id), 0);
    EXPECT_EQ(trial_metrics(h.db, keep), 30);
    EXPECT_EQ(count(h.db, "SELECT COUNT(*) FROM audit_log WHERE action = 'purge' AND trial_id = " +
                              std::to_string(id)),
              1);
    EXPECT_EQ(run(bin_dir() / "testbed", {"audit", "verify", "--db", h.db.string()}).exit_code, 0);
}

}  // namespace
}  // namespace tb::test::gov
