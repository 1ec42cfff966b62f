// bench/stop_bench.cpp: the emergency-stop figure of issue #5 (docs/performance.md,
// docs/governance.md): from the moment `testbed trial suspend` is started to the moment the
// trial's plugin receives nothing more, while readings keep arriving at a steady rate.
//
// Measured like tests/governance/governed_host_test.cpp (SuspendStopsDelivery...), but with the
// release build, a higher rate and several cycles: the plugin (bench_sink, record_each = true)
// records a row per delivery stamped with the wall clock of its callback; after the run the last
// such row before the resume is the "last delivery". The check verifies that nothing was
// delivered between the host's acknowledgement (audit action enforce_suspend, applied_us) and the
// resume, and that delivery resumed after each resume.
// Thread safety: one driver thread plus one feeder thread, joined before returning.
#include "extras.hpp"

#include "raw.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <thread>

namespace tb::bench {

ExtraSizes extra_sizes(const std::string& mode) {
    if (mode == "tiny") return {1000, 1, 5'000, 1};
    if (mode == "quick") return {10'000, 2, 30'000, 3};
    return {10'000, 5, 300'000, 3};
}

int run_program(const fs::path& exe, const std::vector<std::string>& args, const fs::path& out,
                std::chrono::milliseconds limit) {
    std::vector<std::string> argv_s{exe.string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv.data());
        _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (std::chrono::steady_clock::now() > deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

namespace {

struct Cycle {
    int64_t cmd_us = 0, returned_us = 0, applied_us = 0, resume_us = 0;
};

// Poll `sql` (a single number) until it reaches `want`, bounded.
bool wait_value(const fs::path& db, const std::string& sql, double want,
                std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (query_double(db, sql).value_or(-1) >= want) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
}

StopResult fail(StopResult r, std::string why) {
    r.verified = false;
    r.detail = std::move(why);
    return r;
}

}  // namespace

StopResult run_stop(const Context& c, const std::string& endpoint, double rate, int cycles,
                    const std::string& trust) {
    StopResult out;
    const fs::path dir = c.scratch->path() / ("stop-" + trust + "-" + std::to_string(mono_ns()));
    fs::create_directories(dir);
    write_file(dir / "testbed.toml", "[testbed]\nid = \"bench-gov\"\nname = \"Emergency stop\"\n\n"
                                     "[host]\ningest = \"" + endpoint + "\"\nworkers = 2\n");
    const fs::path db = dir / "results.db", status = dir / "status.json";
    const fs::path cli = c.paths.bin / "testbed", log = dir / "cli.log";
    const auto cli_limit = std::chrono::seconds(60);
    auto cli_run = [&](std::vector<std::string> args) {
        args.insert(args.end(), {"--db", db.string()});
        return run_program(cli, args, log, cli_limit);
    };
    const auto now_s = static_cast<int64_t>(std::time(nullptr));
    const fs::path plugin = c.paths.bench_plugins / "bench_sink_all.so";
    if (cli_run({"trial", "propose", "--plugin", plugin.string(),
                 "--org", "Benchmark", "--testbed", "bench-gov", "--reads", "sensor/", "--from",
                 std::to_string(now_s - 3600), "--until", std::to_string(now_s + 3600),
                 "--purpose", "emergency-stop benchmark", "--trust", trust, "--config",
                 R"({"record_each": true})"}) != 0) {
        return fail(out, "testbed trial propose failed: " + read_file(log).substr(0, 1000));
    }
    const std::string proposed = read_file(log);
    const auto at = proposed.find("trial ");
    if (at == std::string::npos) return fail(out, "no trial id in: " + proposed.substr(0, 500));
    const std::string id = std::to_string(std::strtoll(proposed.c_str() + at + 6, nullptr, 10));
    if (cli_run({"trial", "approve", id, "--by", "Bench Staff", "--reason", "benchmark"}) != 0)
        return fail(out, "testbed trial approve failed: " + read_file(log).substr(0, 1000));

    HostProcess host(c.paths.bin / "testbed-host",
                     {"--testbed", dir.string(), "--db", db.string(), "--no-output",
                      "--status-file", status.string(), "--log-level", "warn", "--plugin-dir",
                      c.paths.plugins.string()},
                     dir);
    if (!host.wait_ready(std::chrono::seconds(60)))
        return fail(out, "testbed-host did not become ready: " + host.err().substr(0, 1000));

    // Feeder: `rate` readings/s until told to stop (bounded by count: at most 10 minutes' worth).
    std::atomic<bool> stop_feeding{false};
    std::atomic<bool> subscribed{false};
    std::thread feeder([&] {
        Sender s(endpoint);
        if (!s.wait_for_subscriber(std::chrono::seconds(10))) return;
        subscribed = true;
        pace(s, rate, static_cast<uint64_t>(rate * 600), stop_feeding);
    });
    auto finish = [&](StopResult r) {
        stop_feeding = true;
        feeder.join();
        if (host.stop() != 0 && r.verified) {
            r.verified = false;
            r.detail = "testbed-host did not stop cleanly: " + host.err().substr(0, 1000);
        }
        return r;
    };
    const std::string seen = "SELECT count(*) FROM v_metrics WHERE metric = 'seen'";
    if (!wait_value(db, seen, 100, std::chrono::seconds(30)))
        return finish(fail(out, "the trial's plugin received nothing (subscribed: " +
                                    std::to_string(subscribed.load()) +
                                    "): " + host.err().substr(0, 1000)));

    std::vector<Cycle> done;
    for (int k = 1; k <= cycles; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // steady delivery first
        Cycle cy;
        cy.cmd_us = wall_us();
        if (cli_run({"trial", "suspend", id, "--by", "Bench Staff", "--reason",
                     "emergency-stop benchmark"}) != 0)
            return finish(fail(out, "testbed trial suspend failed: " + read_file(log)));
        cy.returned_us = wall_us();
        const std::string acks =
            "SELECT count(*) FROM audit_log WHERE action = 'enforce_suspend' AND trial_id = " + id;
        if (!wait_value(db, acks, k, std::chrono::seconds(10)))
            return finish(fail(out, "the host never acknowledged suspend #" + std::to_string(k)));
        cy.applied_us = static_cast<int64_t>(
            query_double(db, "SELECT max(json_extract(detail_json, '$.applied_us')) FROM audit_log "
                             "WHERE action = 'enforce_suspend' AND trial_id = " + id)
                .value_or(0));
        // Readings keep arriving while suspended; none may reach the plugin.
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        cy.resume_us = wall_us();
        if (cli_run({"trial", "resume", id, "--by", "Bench Staff", "--reason", "all clear"}) != 0)
            return finish(fail(out, "testbed trial resume failed: " + read_file(log)));
        const std::string after =
            "SELECT count(*) FROM v_metrics WHERE metric = 'seen' AND t_us > " +
            std::to_string(cy.resume_us);
        if (!wait_value(db, after, 1, std::chrono::seconds(10)))
            return finish(fail(out, "delivery did not resume after cycle " + std::to_string(k)));
        done.push_back(cy);
    }
    out.verified = true;
    out = finish(out);

    std::vector<double> last_ms, cli_ms;
    uint64_t leaked = 0;
    for (const auto& cy : done) {
        cli_ms.push_back(static_cast<double>(cy.returned_us - cy.cmd_us) / 1000.0);
        const auto last = query_double(db, "SELECT max(t_us) FROM v_metrics WHERE metric = 'seen' "
                                           "AND t_us < " + std::to_string(cy.resume_us))
                              .value_or(0);
        leaked += static_cast<uint64_t>(
            query_double(db, "SELECT count(*) FROM v_metrics WHERE metric = 'seen' AND t_us > " +
                                 std::to_string(cy.applied_us) + " AND t_us < " +
                                 std::to_string(cy.resume_us))
                .value_or(1));
        last_ms.push_back((last - static_cast<double>(cy.cmd_us)) / 1000.0);
        out.cmd_to_applied_ms = std::max(
            out.cmd_to_applied_ms, static_cast<double>(cy.applied_us - cy.cmd_us) / 1000.0);
    }
    std::sort(last_ms.begin(), last_ms.end());
    std::sort(cli_ms.begin(), cli_ms.end());
    out.cycles = static_cast<int>(done.size());
    out.cmd_to_last_ms = last_ms.back();
    out.median_last_ms = last_ms[last_ms.size() / 2];
    out.verified = out.verified && leaked == 0 && out.cycles == cycles;
    char note[200];
    std::snprintf(note, sizeof note,
                  "%d/%d cycles, median %.1f ms, CLI ran %.0f ms (median), %llu deliveries after "
                  "the ack",
                  out.cycles, cycles, out.median_last_ms, cli_ms[cli_ms.size() / 2],
                  static_cast<unsigned long long>(leaked));
    if (out.detail.empty()) out.detail = note;
    return out;
}

}  // namespace tb::bench
