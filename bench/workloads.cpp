// bench/workloads.cpp: W1-W5 against the real testbed-host (docs/performance.md).
//
// Every workload writes a testbed folder, starts testbed-host (release build) with
// --status-file, sends readings with the same Sender the raw limits use, and times from the first
// send to the moment the last result is known to be done: the commit time the host writes to its
// status file (W1, W4) or the wall-clock time the counting plugin recorded when its expected count
// arrived (W2, W3, W5). Counts are then verified in the results database after a clean stop.
// Sending is paced by a window of unfinished rows so that memory stays bounded; the window is
// far larger than one store batch, so the pipeline never runs dry.
// Thread safety: one thread; every host process is stopped before the function returns.
#include "workloads.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <sstream>
#include <thread>

#include "raw.hpp"

namespace tb::bench {
namespace {

constexpr uint64_t kWindowRows = 100'000;

const char* kSinkLibs[] = {"bench_sink_all", "bench_sink_gw", "bench_sink_gw0"};

struct PluginEntry {
    std::string name, library, config;
    std::size_t inbox = 10000;
};

std::string testbed_toml(const std::string& endpoint, const std::vector<PluginEntry>& plugins) {
    std::ostringstream o;
    o << "[testbed]\nid = \"bench\"\nname = \"Benchmark\"\n\n[host]\ningest = \"" << endpoint
      << "\"\nworkers = 2\n";
    for (const auto& p : plugins) {
        o << "\n[[plugins]]\nname = \"" << p.name << "\"\nlibrary = \"" << p.library
          << "\"\ntrusted = true\n"
          << "inbox_capacity = " << p.inbox << "\n[plugins.config]\n"
          << p.config;
    }
    return o.str();
}

std::vector<PluginEntry> sinks(const Context& c, int n, const std::string& config,
                               std::size_t inbox) {
    std::vector<PluginEntry> out;
    for (int i = 0; i < n; ++i) {
        const std::string lib = kSinkLibs[i % 3];
        out.push_back({"sink" + std::to_string(i), (c.paths.bench_plugins / (lib + ".so")).string(),
                       config, inbox});
    }
    return out;
}

struct Run {
    fs::path dir, db, status;
    std::unique_ptr<HostProcess> host;
    std::string error;
};

Run start_host(const Context& c, const std::string& tag, const std::string& endpoint,
               const std::vector<PluginEntry>& plugins) {
    Run r;
    r.dir = c.scratch->path() / tag;
    fs::create_directories(r.dir);
    write_file(r.dir / "testbed.toml", testbed_toml(endpoint, plugins));
    r.db = r.dir / "results.db";
    r.status = r.dir / "status.json";
    r.host = std::make_unique<HostProcess>(
        c.paths.bin / "testbed-host",
        std::vector<std::string>{"--dev", "--testbed", r.dir.string(), "--db", r.db.string(),
                                 "--no-output", "--status-file", r.status.string(), "--log-level",
                                 "warn", "--plugin-dir", c.paths.plugins.string()},
        r.dir);
    if (!r.host->wait_ready(std::chrono::seconds(60))) {
        r.error = "testbed-host did not become ready: " + r.host->err().substr(0, 2000);
    }
    return r;
}

uint64_t committed(const Run& r) {
    const auto s = read_status(r.status);
    return s ? s->committed_rows : 0;
}

// Wait until the host has committed `rows` rows; returns the commit time (wall µs) or 0.
int64_t wait_committed(const Run& r, uint64_t rows, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (const auto s = read_status(r.status); s && s->committed_rows >= rows) return s->t_us;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return 0;
}

// Send n readings, keeping at most kWindowRows rows unfinished (rows_per_reading rows each).
// Returns the wall time of the first send.
int64_t send_windowed(Sender& s, const Run& r, uint64_t n, double rows_per_reading,
                      uint64_t extra_row_per_alert, int sensors = 1000) {
    ReadingGenerator g(sensors);
    Reading rd;
    uint64_t expected_rows = 0;
    const int64_t t0 = wall_us();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    for (uint64_t i = 0; i < n; ++i) {
        g.next(rd);
        expected_rows +=
            static_cast<uint64_t>(rows_per_reading) + (rd.alert() ? extra_row_per_alert : 0);
        s.send(rd, rd.t_us);
        if ((i & 1023) == 1023) {
            while (expected_rows > committed(r) + kWindowRows &&
                   std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::microseconds(500));
            }
        }
    }
    return t0;
}

std::string stop_and_check(Run& r) {
    const int rc = r.host->stop();
    if (rc != 0)
        return "testbed-host exited with " + std::to_string(rc) + ": " +
               r.host->err().substr(0, 2000);
    return {};
}

}  // namespace

std::string free_tcp_endpoint() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    ::close(fd);
    return "tcp://127.0.0.1:" + std::to_string(port);
}

ThroughputResult run_w1(const Context& c, const std::string& endpoint, uint64_t n) {
    ThroughputResult out;
    const uint64_t alerts = expected_alerts(n);
    PluginEntry gw{"groundwater_alert", (c.paths.plugins / "groundwater_alert.so").string(),
                   "alert_level_m = -0.5\nevery_reading = true\nmean_every = 0\n",
                   kWindowRows + 20'000};
    auto r = start_host(c, "w1-" + std::to_string(mono_ns()), endpoint, {gw});
    if (!r.error.empty()) return {0, false, r.error};
    Sender s(endpoint);
    if (!s.wait_for_subscriber(std::chrono::seconds(10)))
        return {0, false, "the host never subscribed"};
    const int64_t t0 = send_windowed(s, r, n, 1, 1);
    const int64_t t_end = wait_committed(r, n + alerts, std::chrono::seconds(300));
    if (auto e = stop_and_check(r); !e.empty()) return {0, false, e};
    if (t_end == 0)
        return {0, false,
                "timed out waiting for " + std::to_string(n + alerts) + " committed rows"};
    const auto rows =
        query_double(r.db, "SELECT count(*) FROM v_metrics WHERE metric = 'level'").value_or(-1);
    const auto ev =
        query_double(r.db, "SELECT count(*) FROM events WHERE kind = 'groundwater_high'")
            .value_or(-1);
    out.per_s = static_cast<double>(n) / (static_cast<double>(t_end - t0) / 1e6);
    out.rows_per_s = static_cast<double>(n + alerts) / (static_cast<double>(t_end - t0) / 1e6);
    std::ostringstream d;
    d << "rows " << static_cast<uint64_t>(rows) << "/" << n << ", alerts "
      << static_cast<uint64_t>(ev) << "/" << alerts;
    out.verified = rows == static_cast<double>(n) && ev == static_cast<double>(alerts) &&
                   (n != 200'000 || alerts == 33'139);
    out.detail = d.str();
    return out;
}

ThroughputResult run_w2(const Context& c, const std::string& endpoint, uint64_t n, int plugins,
                        int sensors) {
    ThroughputResult out;
    const std::string cfg = "expect = " + std::to_string(n) + "\n";
    auto r =
        start_host(c, "w2-" + std::to_string(mono_ns()), endpoint, sinks(c, plugins, cfg, n + 1));
    if (!r.error.empty()) return {0, false, r.error};
    Sender s(endpoint);
    if (!s.wait_for_subscriber(std::chrono::seconds(10)))
        return {0, false, "the host never subscribed"};
    ReadingGenerator g(sensors);
    Reading rd;
    const int64_t t0 = wall_us();
    for (uint64_t i = 0; i < n; ++i) {
        g.next(rd);
        s.send(rd, rd.t_us);
    }
    // Each plugin records two rows (count, done_us) when its n-th message arrives.
    const bool done =
        wait_committed(r, 2 * static_cast<uint64_t>(plugins), std::chrono::seconds(300)) != 0;
    if (auto e = stop_and_check(r); !e.empty()) return {0, false, e};
    const auto finished =
        query_double(r.db, "SELECT count(*) FROM v_metrics WHERE metric = 'done_us'").value_or(-1);
    const auto last =
        query_double(r.db, "SELECT max(value) FROM v_metrics WHERE metric = 'done_us'").value_or(0);
    out.verified = done && finished == plugins;
    out.detail = std::to_string(static_cast<int>(finished)) + "/" + std::to_string(plugins) +
                 " plugins received all " + std::to_string(n);
    if (out.verified)
        out.per_s = static_cast<double>(n) * plugins / ((last - static_cast<double>(t0)) / 1e6);
    return out;
}

LatencyResult run_w3(const Context& c, const std::string& endpoint, double rate,
                     std::chrono::milliseconds duration) {
    LatencyResult out;
    const auto n = static_cast<uint64_t>(rate * static_cast<double>(duration.count()) / 1000.0);
    const std::string cfg = "expect = " + std::to_string(n) + "\nlatency = true\n";
    auto r = start_host(c, "w3-" + std::to_string(mono_ns()), endpoint, sinks(c, 1, cfg, n + 1));
    if (!r.error.empty()) return {0, 0, 0, false, r.error};
    Sender s(endpoint);
    if (!s.wait_for_subscriber(std::chrono::seconds(10)))
        return {0, 0, 0, false, "the host never subscribed"};
    std::atomic<bool> never{false};
    pace(s, rate, n, never);
    const bool done = wait_committed(r, 5, std::chrono::seconds(60)) != 0;
    if (auto e = stop_and_check(r); !e.empty()) return {0, 0, 0, false, e};
    auto q = [&](const char* m) {
        return query_double(r.db,
                            std::string("SELECT value FROM v_metrics WHERE metric = '") + m + "'")
            .value_or(-1);
    };
    const auto count = q("count");
    out.p50_us = q("lat_p50_us");
    out.p99_us = q("lat_p99_us");
    out.p999_us = q("lat_p999_us");
    auto in_host = [&](const char* field) {
        return query_double(r.db, std::string("SELECT json_extract(summary_json, '$.plugins[0].") +
                                      field + "') FROM runs ORDER BY id DESC LIMIT 1")
            .value_or(-1);
    };
    out.in_host_p50_us = in_host("latency_p50_us");
    out.in_host_p99_us = in_host("latency_p99_us");
    out.verified = done && count == static_cast<double>(n);
    out.detail =
        std::to_string(static_cast<uint64_t>(count)) + "/" + std::to_string(n) + " received";
    return out;
}

ThroughputResult run_w4(const Context& c, const std::string& endpoint, uint64_t rows,
                        int rows_per_message) {
    ThroughputResult out;
    const uint64_t n = rows / static_cast<uint64_t>(rows_per_message);
    const std::string cfg = "expect = " + std::to_string(n) +
                            "\nrows_per_message = " + std::to_string(rows_per_message) + "\n";
    auto r = start_host(c, "w4-" + std::to_string(mono_ns()), endpoint,
                        sinks(c, 1, cfg, kWindowRows + 20'000));
    if (!r.error.empty()) return {0, false, r.error};
    Sender s(endpoint);
    if (!s.wait_for_subscriber(std::chrono::seconds(10)))
        return {0, false, "the host never subscribed"};
    const int64_t t0 = send_windowed(s, r, n, rows_per_message, 0);
    const uint64_t total = n * static_cast<uint64_t>(rows_per_message) + 2;
    const int64_t t_end = wait_committed(r, total, std::chrono::seconds(300));
    if (auto e = stop_and_check(r); !e.empty()) return {0, false, e};
    if (t_end == 0)
        return {0, false, "timed out waiting for " + std::to_string(total) + " committed rows"};
    const auto got =
        query_double(r.db, "SELECT count(*) FROM v_metrics WHERE metric = 'row'").value_or(-1);
    const auto want = static_cast<double>(n * static_cast<uint64_t>(rows_per_message));
    out.verified = got == want;
    out.per_s = want / (static_cast<double>(t_end - t0) / 1e6);
    out.detail = "rows " + std::to_string(static_cast<uint64_t>(got)) + "/" +
                 std::to_string(static_cast<uint64_t>(want));
    return out;
}

ScaleResult run_w5(const Context& c, const std::string& endpoint, int plugins, uint64_t warm) {
    ScaleResult out;
    const std::string cfg = "expect = " + std::to_string(warm) + "\n";
    auto r = start_host(c, "w5-" + std::to_string(mono_ns()), endpoint,
                        sinks(c, plugins, cfg, warm + 1));
    if (!r.error.empty()) return {0, 0, false, r.error};
    out.start_ms = static_cast<double>(mono_ns() - r.host->spawned_mono_ns()) / 1e6;
    Sender s(endpoint);
    if (!s.wait_for_subscriber(std::chrono::seconds(10)))
        return {0, 0, false, "the host never subscribed"};
    ReadingGenerator g;
    Reading rd;
    for (uint64_t i = 0; i < warm; ++i) {
        g.next(rd);
        s.send(rd, rd.t_us);
    }
    const bool done =
        wait_committed(r, 2 * static_cast<uint64_t>(plugins), std::chrono::seconds(120)) != 0;
    out.rss_mb = static_cast<double>(r.host->rss_kb()) / 1024.0;
    if (auto e = stop_and_check(r); !e.empty()) return {0, 0, false, e};
    const auto finished =
        query_double(r.db, "SELECT count(*) FROM v_metrics WHERE metric = 'done_us'").value_or(-1);
    out.verified = done && finished == plugins;
    out.detail = std::to_string(static_cast<int>(finished)) + "/" + std::to_string(plugins) +
                 " plugins received all " + std::to_string(warm);
    return out;
}

}  // namespace tb::bench
