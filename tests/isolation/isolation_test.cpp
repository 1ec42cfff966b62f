// Isolation: hostile plugins in testbed-runner processes next to a well-behaved plugin, driven
// through the real testbed-host, real ZeroMQ ipc sockets and the real SQLite file. Each test shows
// that the host keeps running, the well-behaved plugin receives every message, the incident is
// recorded with the right reason and the restarts follow the back-off schedule (docs/isolation.md).
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "isolation/protocol.hpp"
#include "support/test_support.hpp"

namespace tb::test {
namespace {

using namespace std::chrono_literals;

// Children of `parent` whose command name is `comm`, from /proc.
std::vector<int> children_named(int parent, const std::string& comm) {
    std::vector<int> out;
    for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string name = e.path().filename().string();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        const std::string stat = read_file(e.path() / "stat");
        const auto open = stat.find('('), close = stat.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 2));
        char state = 0;
        int ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent && state != 'Z' && stat.substr(open + 1, close - open - 1) == comm) {
            out.push_back(std::stoi(name));
        }
    }
    return out;
}

// Alive = /proc entry exists and is not a zombie.
bool alive(int pid) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return false;
    const auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

struct PluginToml {
    std::string name = "bad";
    std::string library = "tb_test_hostile";
    std::string isolation = "process";
    std::string extra;   // more [[plugins]] keys
    std::string config;  // [plugins.config] body
};

std::string plugin_block(const PluginToml& p) {
    std::string s = "[[plugins]]\nname = \"" + p.name + "\"\nlibrary = \"" + p.library +
                    "\"\nisolation = \"" + p.isolation + "\"\n" + p.extra + "\n";
    if (!p.config.empty()) s += "[plugins.config]\n" + p.config + "\n";
    return s;
}

class Rig {
 public:
    explicit Rig(const std::vector<PluginToml>& plugins,
                 std::map<std::string, std::string> env = {},
                 const std::string& counter_isolation = "in-process") {
        ingest_ = dir_.ipc("ingest");
        db_ = dir_ / "results.db";
        std::string toml =
            "[testbed]\nid = \"isolation\"\nname = \"isolation test\"\n\n[host]\nworkers = 2\n\n";
        toml += plugin_block({"counter", "tb_test_counter", counter_isolation, "", ""});
        for (const auto& p : plugins) toml += plugin_block(p);
        const fs::path tb = write_testbed(dir_ / "tb", toml);
        host_ = std::make_unique<Process>(
            bin_dir() / "testbed-host",
            std::vector<std::string>{"--dev", "--testbed", tb.string(), "--db", db_.string(),
                                     "--ingest", ingest_, "--no-output", "--plugin-dir",
                                     test_plugin_dir().string()},
            dir_.path(), std::move(env));
        ready_ = host_->wait_for_output("testbed-host: ready", 30s);
        if (!ready_) return;
        pub_ = std::make_unique<TestPublisher>(ingest_);
        ready_ = pub_->wait_for_subscriber(10s);
    }

    bool ready() const { return ready_; }
    Process& host() { return *host_; }
    const fs::path& db() const { return db_; }
    uint64_t sent() const { return sent_; }

    // Send `n` SenML messages, in small bursts so no queue on the way overflows.
    void send(int n) {
        for (int i = 0; i < n; ++i) {
            const std::string id = "GW-" + std::to_string(1000 + static_cast<int>(sent_ % 7));
            pub_->send("sensor/groundwater/" + id, senml(id + ":", "level", "m", -1.0, 1.7e9));
            ++sent_;
            if (sent_ % 25 == 0) std::this_thread::sleep_for(2ms);
        }
    }

    // Keep traffic flowing until `pred` holds (bounded by `timeout`).
    bool send_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (pred()) return true;
            send(20);
            std::this_thread::sleep_for(20ms);
        }
        return pred();
    }

    int64_t counter_seen() const {
        return query_int(db_, "SELECT count(*) FROM v_metrics WHERE instance = 'counter'")
            .value_or(-1);
    }
    bool counter_has_everything() const {
        return wait_until([&] { return counter_seen() == static_cast<int64_t>(sent_); }, 30s);
    }
    int64_t incident_count(const std::string& instance = "bad") const {
        return query_int(db_, "SELECT count(*) FROM incidents WHERE instance = '" + instance + "'")
            .value_or(-1);
    }
    // reason, signal, exit_status, action, backoff_ms, t_us, restarts_before, log_tail_json, detail
    std::vector<std::vector<std::string>> incidents(const std::string& instance = "bad") const {
        return query_rows(
            db_,
            "SELECT reason, signal, exit_status, action, backoff_ms, t_us, restarts_before, "
            "log_tail_json, detail FROM incidents WHERE instance = '" +
                instance + "' ORDER BY id");
    }
    // Stop the host in order (SIGTERM) and return the saved statistics of `instance`.
    nlohmann::json stop_and_stats(const std::string& instance = "bad") {
        exit_code_ = host_->stop(30s);
        const auto rows =
            query_rows(db_, "SELECT stats_json FROM plugins WHERE instance = '" + instance + "'");
        if (rows.empty() || rows[0][0].empty()) return {};
        return nlohmann::json::parse(rows[0][0]);
    }
    int exit_code() const { return exit_code_; }

 private:
    TempDir dir_;
    std::string ingest_;
    fs::path db_;
    std::unique_ptr<Process> host_;
    std::unique_ptr<TestPublisher> pub_;
    uint64_t sent_ = 0;
    bool ready_ = false;
    int exit_code_ = -1;
};

// Common checks after a hostile plugin gave up: host alive, neighbour complete, orderly stop.
void expect_contained(Rig& r) {
    EXPECT_TRUE(r.host().running()) << r.host().err();
    r.send(50);  // traffic after the failure still reaches the neighbour
    EXPECT_TRUE(r.counter_has_everything())
        << "counter saw " << r.counter_seen() << " of " << r.sent();
}

TEST(Isolation, SegfaultIsRecordedAndRestartedWithBackoffUntilTheBudgetIsSpent) {
    Rig r({{"bad", "tb_test_hostile", "process",
            "restart_max = 2\nrestart_backoff_ms = 100\nrestart_backoff_max_ms = 5000",
            "behaviour = \"segv\"\nafter = 100"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 3; }, 60s)) << r.host().err();
    expect_contained(r);

    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 3u);
    for (const auto& row : rows) {
        EXPECT_EQ(row[0], "segfault");
        EXPECT_EQ(row[1], std::to_string(SIGSEGV));
        EXPECT_EQ(row[2], "");
        EXPECT_NE(row[7].find("misbehaving: segv at message 100"), std::string::npos) << row[7];
    }
    EXPECT_EQ(rows[0][3], "restart");
    EXPECT_EQ(rows[1][3], "restart");
    EXPECT_EQ(rows[2][3], "gave_up");
    EXPECT_EQ(rows[0][6], "0");
    EXPECT_EQ(rows[1][6], "1");
    EXPECT_EQ(rows[2][6], "2");
    // Back-off doubles (jitter is +-20 %, so the order holds); incidents follow each other.
    EXPECT_LT(std::stoll(rows[0][4]), std::stoll(rows[1][4]));
    EXPECT_LT(std::stoll(rows[0][5]), std::stoll(rows[1][5]));
    EXPECT_LT(std::stoll(rows[1][5]), std::stoll(rows[2][5]));
    EXPECT_EQ(
        query_int(r.db(),
                  "SELECT count(*) FROM events WHERE kind = 'plugin_failed' AND severity = 3"),
        1);
    EXPECT_EQ(query_rows(r.db(), "SELECT mode FROM plugins WHERE instance = 'bad'")[0][0],
              "process");
    EXPECT_EQ(query_rows(r.db(), "SELECT mode FROM plugins WHERE instance = 'counter'")[0][0],
              "in-process");

    const auto stats = r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0) << r.host().err();
    EXPECT_EQ(stats.value("state", ""), "failed");
    EXPECT_EQ(stats.value("mode", ""), "process");
    EXPECT_EQ(stats.value("restarts", -1), 2);
    EXPECT_EQ(stats.value("incidents", -1), 3);
    EXPECT_GT(stats.value("dropped_not_running", 0), 0);
    EXPECT_NE(stats.value("last_error", std::string()).find("segfault"), std::string::npos)
        << stats.dump();
    // Exactly 99 per runner life: the 100th crashes it. Messages go in bursts of 20, so the
    // crash comes in the middle of a batch whose replies were not sent yet; the runner's
    // progress page is what tells the host that the ones before it were handled.
    EXPECT_EQ(stats.value("delivered", 0), 297);
}

TEST(Isolation, AbortIsRecordedAndAnIsolatedNeighbourLosesNothing) {
    Rig r({{"bad", "tb_test_hostile", "process", "restart_max = 1\nrestart_backoff_ms = 50",
            "behaviour = \"abort\"\nafter = 20"}},
          {}, "process");
    ASSERT_TRUE(r.ready()) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 2; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], "abort");
    EXPECT_EQ(rows[0][1], std::to_string(SIGABRT));
    EXPECT_EQ(rows[1][3], "gave_up");
    EXPECT_EQ(r.incident_count("counter"), 0);
    const auto counter = r.stop_and_stats("counter");
    EXPECT_EQ(counter.value("mode", ""), "process");
    EXPECT_EQ(counter.value("state", ""), "stopped");
    EXPECT_EQ(counter.value("delivered", uint64_t{0}), r.sent());
    EXPECT_EQ(counter.value("dropped_not_running", 1), 0);
}

TEST(Isolation, InfiniteLoopIsKilledByTheWatchdog) {
    Rig r({{"bad", "tb_test_hostile", "process",
            "restart_max = 1\nrestart_backoff_ms = 50\ncallback_deadline_ms = 300",
            "behaviour = \"loop\"\nafter = 5"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 2; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], "hang");
    EXPECT_EQ(rows[0][1], std::to_string(SIGKILL));
    EXPECT_NE(rows[0][8].find("watchdog"), std::string::npos) << rows[0][8];
    EXPECT_EQ(r.stop_and_stats().value("state", ""), "failed");
    EXPECT_EQ(r.exit_code(), 0);
}

// The watchdog times each callback, not a batch: six 250 ms callbacks that reach the runner in one
// batch (1.5 s before its replies go back) are within a 400 ms deadline. The runner's progress page
// says when each callback began; without it this would look like a hang.
TEST(Isolation, SlowCallbacksInOneBatchAreNotAHang) {
    Rig r({{"slow", "tb_test_hostile", "process", "callback_deadline_ms = 400",
            "behaviour = \"slow\"\nsleep_ms = 250"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    r.send(6);  // one burst: they queue while the first callback sleeps
    const auto rows = [&] {
        return query_int(r.db(), "SELECT count(*) FROM v_metrics WHERE instance = 'slow'")
            .value_or(0);
    };
    ASSERT_TRUE(wait_until([&] { return rows() >= 6 || r.incident_count() > 0; }, 30s))
        << r.host().err();
    EXPECT_EQ(r.incident_count(), 0) << r.host().err();
    EXPECT_EQ(rows(), 6);
    const auto stats = r.stop_and_stats("slow");
    EXPECT_EQ(stats.value("delivered", 0), 6);
    EXPECT_EQ(stats.value("state", ""), "stopped") << stats.dump();
    EXPECT_EQ(r.exit_code(), 0);
}

// The worker that reads the feed runs a quick in-process plugin's callback itself (no thread
// hand-off, W3 in docs/performance.md). A callback that then takes seconds must not hold the
// input: the host's health check makes another worker the reader, and every other plugin (here
// an isolated counter) keeps receiving while the slow callback still sleeps.
TEST(Isolation, ASlowInProcessCallbackDoesNotHoldTheInput) {
    Rig r({{"slow", "tb_test_hostile", "in-process", "", "behaviour = \"slow\"\nsleep_ms = 4000"}},
          {}, "process");
    ASSERT_TRUE(r.ready()) << r.host().err();
    const auto slow_seen = [&] {
        return query_int(r.db(), "SELECT count(*) FROM v_metrics WHERE instance = 'slow'")
            .value_or(-1);
    };
    r.send(1);  // the only in-process plugin: its drain runs on the reading worker
    std::this_thread::sleep_for(100ms);
    r.send(100);
    ASSERT_TRUE(r.counter_has_everything())
        << "counter saw " << r.counter_seen() << " of " << r.sent() << "\n"
        << r.host().err();
    EXPECT_EQ(slow_seen(), 0) << "the counter had to wait for the slow callback";
    EXPECT_TRUE(wait_until(
        [&] { return r.host().err().find("held the feed input") != std::string::npos; }, 10s))
        << r.host().err();
    EXPECT_EQ(r.host().stop(30s), 0);
    // Once its callback returned, the slow plugin is named in the log.
    EXPECT_NE(r.host().err().find("[plugin.slow] on_message took 4"), std::string::npos)
        << r.host().err();
    const auto rows = query_rows(r.db(), "SELECT summary_json FROM runs");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_GE(nlohmann::json::parse(rows[0][0]).value("input_rescues", 0), 1) << rows[0][0];
}

TEST(Isolation, CpuLimitEndsARunawayRunner) {
    Rig r({{"bad", "tb_test_hostile", "process",
            "restart_max = 0\ncallback_deadline_ms = 120000\ncpu_limit_s = 1",
            "behaviour = \"loop\"\nafter = 1"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 1; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], "cpu_limit");
    EXPECT_EQ(rows[0][1], std::to_string(SIGXCPU));
    EXPECT_EQ(rows[0][3], "gave_up");
    r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
}

// ASan and TSan builds: their runner cannot live under RLIMIT_AS (terabytes of shadow memory).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// The host says once, at the first isolated plugin with a memory limit, when it cannot use cgroups.
bool host_uses_cgroups(Process& host) {
    return host.err().find("runner cgroups are not used") == std::string::npos;
}

// The host's testbed-<pid> cgroup directories (v1 memory hierarchy or v2), wherever they are.
std::vector<fs::path> host_cgroup_dirs(int host_pid) {
    std::vector<fs::path> out;
    std::ifstream in("/proc/self/cgroup");  // the host is our child: same cgroup
    std::string line;
    while (std::getline(in, line)) {
        const auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const std::string ctrls = line.substr(a + 1, b - a - 1);
        const fs::path rel = fs::path(line.substr(b + 1)).relative_path();
        const std::string leaf = "testbed-" + std::to_string(host_pid);
        if (ctrls.empty()) out.push_back(fs::path("/sys/fs/cgroup") / rel / leaf);
        if (("," + ctrls + ",").find(",memory,") != std::string::npos) {
            out.push_back(fs::path("/sys/fs/cgroup/memory") / rel / leaf);
        }
    }
    return out;
}

// With cgroups (root on a cgroup v1/v2 machine) the limit is on resident memory and the kernel's
// OOM killer ends the runner; without them RLIMIT_AS makes the allocation fail. Both are
// `memory_limit`. Under ASan there is no RLIMIT_AS, so only the cgroup path can be tested.
TEST(Isolation, UnboundedAllocationHitsTheMemoryLimit) {
    Rig r({{"bad", "tb_test_hostile", "process",
            "restart_max = 1\nrestart_backoff_ms = 50\nmemory_limit_mb = 256",
            "behaviour = \"alloc\"\nafter = 1"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    const bool cgroups = host_uses_cgroups(r.host());
    if (kAsan && !cgroups) {
        GTEST_SKIP()
            << "built with AddressSanitizer or ThreadSanitizer, whose runner cannot live under "
               "RLIMIT_AS, and this host "
               "cannot create cgroups (not root / not delegated): no memory limit to test";
    }
    if (cgroups) {
        bool found = false;
        for (const auto& d : host_cgroup_dirs(r.host().pid())) found = found || fs::exists(d);
        EXPECT_TRUE(found) << "the host uses cgroups but created no testbed-" << r.host().pid()
                           << " cgroup";
    }
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 2; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], "memory_limit");
    EXPECT_NE(rows[0][8].find("memory limit"), std::string::npos) << rows[0][8];
    if (cgroups) {
        EXPECT_EQ(rows[0][1], std::to_string(SIGKILL)) << rows[0][8];
        EXPECT_NE(rows[0][8].find("cgroup"), std::string::npos) << rows[0][8];
    } else {
        EXPECT_EQ(rows[0][2], "123") << rows[0][8];
    }
    const int host_pid = r.host().pid();
    r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
    for (const auto& d : host_cgroup_dirs(host_pid))
        EXPECT_FALSE(fs::exists(d)) << d << " was left behind";
}

TEST(Isolation, WithoutCgroupsTheAddressSpaceLimitHolds) {
    if (kAsan) {
        GTEST_SKIP()
            << "built with AddressSanitizer or ThreadSanitizer: the runner does not set RLIMIT_AS "
               "(they reserve terabytes "
               "of address space), so without cgroups there is no memory limit to test";
    }
    Rig r({{"bad", "tb_test_hostile", "process",
            "restart_max = 1\nrestart_backoff_ms = 50\nmemory_limit_mb = 256",
            "behaviour = \"alloc\"\nafter = 1"}},
          {{"TB_NO_CGROUPS", "1"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    EXPECT_FALSE(host_uses_cgroups(r.host()))
        << "TB_NO_CGROUPS=1 must make the host say why it uses rlimits only";
    EXPECT_NE(r.host().err().find("TB_NO_CGROUPS"), std::string::npos) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 2; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], "memory_limit");
    EXPECT_EQ(rows[0][2], "123") << rows[0][8];
    EXPECT_NE(rows[0][8].find("memory limit"), std::string::npos) << rows[0][8];
    r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
}

// A runner that stays up for restart_reset_s gets its restart budget back: with restart_max = 1 a
// second crash after a long healthy period is restarted again instead of leaving it `failed`.
TEST(Isolation, RestartBudgetIsRefilledAfterAHealthyPeriod) {
    // after = 1000: the traffic sent while the host records a crash (send_until stops only when it
    // sees the incident row) can never make the next runner crash as well.
    Rig r({{"bad", "tb_test_hostile", "process",
            "restart_max = 1\nrestart_backoff_ms = 50\nrestart_reset_s = 1",
            "behaviour = \"segv\"\nafter = 1000"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    const std::string refills =
        "SELECT count(*) FROM events WHERE kind = 'plugin_restart_budget_refilled'";
    for (int crash = 1; crash <= 3; ++crash) {
        ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= crash; }, 60s))
            << r.host().err();
        // No traffic now, so the restarted runner stays up; after restart_reset_s the budget is
        // back.
        ASSERT_TRUE(
            wait_until([&] { return query_int(r.db(), refills).value_or(0) >= crash; }, 30s))
            << "restart budget not refilled after crash " << crash << "\n"
            << r.host().err();
    }
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 3u);
    for (const auto& row : rows) {
        EXPECT_EQ(row[0], "segfault");
        EXPECT_EQ(row[3], "restart") << "a refilled budget restarts again";
        EXPECT_EQ(row[6], "0") << "restarts_before counts the budget spent since the refill";
    }
    const auto stats = r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(stats.value("state", ""), "stopped");
    EXPECT_EQ(stats.value("restarts", -1), 3);
    EXPECT_EQ(stats.value("restart_budget_spent", -1), 0);
    EXPECT_EQ(stats.value("restart_reset_s", -1), 1);
}

TEST(Isolation, WithoutARefillTheBudgetIsSpentForGood) {
    Rig r({{"bad", "tb_test_hostile", "process",
            "restart_max = 1\nrestart_backoff_ms = 50\nrestart_reset_s = 0",
            "behaviour = \"segv\"\nafter = 30"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 2; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][3], "restart");
    EXPECT_EQ(rows[1][3], "gave_up");
    EXPECT_EQ(
        query_int(r.db(),
                  "SELECT count(*) FROM events WHERE kind = 'plugin_restart_budget_refilled'"),
        0);
    EXPECT_EQ(r.stop_and_stats().value("state", ""), "failed");
}

TEST(Isolation, ExitWithACodeIsRecorded) {
    Rig r({{"bad", "tb_test_hostile", "process", "restart_max = 1\nrestart_backoff_ms = 50",
            "behaviour = \"exit\"\nafter = 10"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 2; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], "exit");
    EXPECT_EQ(rows[0][1], "");
    EXPECT_EQ(rows[0][2], "3");
    r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
}

TEST(Isolation, ExceptionThroughTheCppLayerIsAnErrorCodeNotAnIncident) {
    Rig r({{"bad", "tb_test_hostile", "process", "", "behaviour = \"throw\"\nafter = 1"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    r.send(200);
    ASSERT_TRUE(r.counter_has_everything()) << r.counter_seen();
    const auto stats = r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.incident_count(), 0);
    EXPECT_EQ(stats.value("state", ""), "stopped");
    EXPECT_EQ(stats.value("callback_errors", uint64_t{0}), r.sent());
    EXPECT_EQ(stats.value("restarts", -1), 0);
}

TEST(Isolation, ExceptionThroughARawCCallbackIsAnIncident) {
    Rig r({{"bad", "tb_test_hostile_raw", "process", "restart_max = 1\nrestart_backoff_ms = 50",
            ""}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 2; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], "uncaught_exception");
    EXPECT_NE(rows[0][8].find("raw plugin threw"), std::string::npos) << rows[0][8];
    r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
}

TEST(Isolation, PublishAndRecordFloodsAreThrottledAndCounted) {
    Rig r({{"bad", "tb_test_hostile", "process",
            "publish_budget_per_s = 100\nrecord_budget_per_s = 100",
            "behaviour = \"flood\"\nafter = 1"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    r.send(20);
    ASSERT_TRUE(r.counter_has_everything()) << r.counter_seen();
    // The flooder is throttled, not stuck: its accepted samples reach the database.
    ASSERT_TRUE(wait_until(
        [&] {
            return query_int(r.db(), "SELECT count(*) FROM v_metrics WHERE instance = 'bad'")
                       .value_or(0) > 0;
        },
        30s));
    const auto stats = r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.incident_count(), 0);
    EXPECT_EQ(stats.value("state", ""), "stopped");
    const auto delivered = stats.value("delivered", uint64_t{0});
    EXPECT_GT(delivered, 0u);
    EXPECT_EQ(delivered + stats.value("dropped_not_running", uint64_t{0}), r.sent());
    const auto published = stats.value("published", uint64_t{0});
    const auto dropped = stats.value("publish_dropped", uint64_t{0});
    EXPECT_GE(published + dropped, delivered * 500);
    EXPECT_GT(dropped, published);
    EXPECT_GT(stats.value("record_throttled", uint64_t{0}), 0u);
    const auto recorded =
        query_int(r.db(), "SELECT count(*) FROM v_metrics WHERE instance = 'bad'").value_or(0);
    EXPECT_EQ(static_cast<uint64_t>(recorded), stats.value("metrics", uint64_t{0}));
}

class ProtocolAbuse : public ::testing::TestWithParam<std::string> {};

TEST_P(ProtocolAbuse, AMisbehavingRunnerIsAFaultyPluginNotAHostError) {
    Rig r({{"bad", "tb_test_counter", "process", "restart_max = 1\nrestart_backoff_ms = 50", ""}},
          {{"TB_RUNNER", TB_FAKE_RUNNER}, {"TB_FAKE_MODE", GetParam()}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    ASSERT_TRUE(r.send_until([&] { return r.incident_count() >= 2; }, 60s)) << r.host().err();
    expect_contained(r);
    const auto rows = r.incidents();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], "protocol");
    EXPECT_EQ(rows[0][1], std::to_string(SIGKILL));
    EXPECT_EQ(rows[1][3], "gave_up");
    r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ProtocolAbuse,
                         ::testing::Values("unknown", "malformed", "unsolicited"));

// A runner from another build (another protocol version) is refused with a message that says so.
TEST(Isolation, ARunnerSpeakingAnotherProtocolVersionIsRefusedClearly) {
    Rig r({{"bad", "tb_test_counter", "process", "", ""}},
          {{"TB_RUNNER", TB_FAKE_RUNNER}, {"TB_FAKE_MODE", "version"}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    const std::string q = "SELECT message FROM events WHERE kind = 'plugin_start_failed'";
    ASSERT_TRUE(wait_until([&] { return !query_rows(r.db(), q).empty(); }, 10s)) << r.host().err();
    const std::string msg = query_rows(r.db(), q)[0][0];
    const auto older = std::to_string(tb::host::isolation::kProtocolVersion - 1);
    const auto ours = std::to_string(tb::host::isolation::kProtocolVersion);
    EXPECT_NE(msg.find("protocol version " + older + ", but this host speaks version " + ours),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("another build"), std::string::npos) << msg;
    expect_contained(r);
    r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0) << r.host().err();
}

// The nice value of a process (field 19 of /proc/<pid>/stat).
int nice_of(int pid) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19; ++i) rest >> field;
    return std::stoi(field);
}

// A runner runs below the host's priority (nice = 10 steps by default), so a busy plugin cannot
// starve the host or an operator's emergency stop; nice = 0 keeps the host's priority.
TEST(Isolation, RunnersRunBelowTheHostsPriority) {
    Rig r({{"low", "tb_test_hostile", "process", "", ""},
           {"same", "tb_test_hostile", "process", "nice = 0", ""}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    const int host_nice = nice_of(r.host().pid());
    std::multiset<int> seen;
    for (int pid : children_named(r.host().pid(), "testbed-runner")) seen.insert(nice_of(pid));
    EXPECT_EQ(seen, (std::multiset<int>{host_nice, std::min(19, host_nice + 10)}));
    r.stop_and_stats("low");
    EXPECT_EQ(r.exit_code(), 0);
}

TEST(Isolation, RunnersEndWithAnOrderlyHostStop) {
    Rig r({{"bad", "tb_test_hostile", "process", "", ""},
           {"bad2", "tb_test_hostile", "process", "", ""}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    const auto runners = children_named(r.host().pid(), "testbed-runner");
    ASSERT_EQ(runners.size(), 2u);
    r.send(100);
    ASSERT_TRUE(r.counter_has_everything());
    const auto stats = r.stop_and_stats();
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(stats.value("delivered", uint64_t{0}), r.sent());
    EXPECT_EQ(stats.value("state", ""), "stopped");
    for (int pid : runners) EXPECT_FALSE(alive(pid)) << "runner " << pid << " outlived the host";
    // No ipc socket file of this host is left behind.
    const std::string prefix = "tb-" + std::to_string(r.host().pid()) + "-";
    for (const auto& e : fs::directory_iterator(fs::temp_directory_path())) {
        EXPECT_NE(e.path().filename().string().rfind(prefix, 0), 0u)
            << e.path() << " was left behind";
    }
}

TEST(Isolation, RunnersExitWhenTheHostIsKilled) {
    Rig r({{"bad", "tb_test_hostile", "process", "", ""},
           {"looper", "tb_test_hostile", "process", "callback_deadline_ms = 600000",
            "behaviour = \"loop\""}});
    ASSERT_TRUE(r.ready()) << r.host().err();
    const auto runners = children_named(r.host().pid(), "testbed-runner");
    ASSERT_EQ(runners.size(), 2u);
    r.send(5);  // the looper is now stuck in a callback: only PR_SET_PDEATHSIG can end it
    std::this_thread::sleep_for(200ms);
    r.host().signal(SIGKILL);
    ASSERT_TRUE(r.host().wait(10s).has_value());
    for (int pid : runners) {
        EXPECT_TRUE(wait_until([&] { return !alive(pid); }, 10s))
            << "runner " << pid << " is an orphan";
    }
    // A killed host cannot remove its socket files (the next host start does); tidy up here.
    const std::string prefix = "tb-" + std::to_string(r.host().pid()) + "-";
    for (const auto& e : fs::directory_iterator(fs::temp_directory_path())) {
        if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove(e.path());
    }
    // Its runner cgroups too (empty now that the runners are gone; rmdir is how cgroups go).
    for (const auto& d : host_cgroup_dirs(r.host().pid())) {
        std::error_code ec;
        for (const auto& leaf : fs::directory_iterator(d, ec)) {
            if (leaf.is_directory(ec)) ::rmdir(leaf.path().c_str());
        }
        ::rmdir(d.c_str());
    }
}

}  // namespace
}  // namespace tb::test
