// tb-bench: the benchmark suite of issue #9 (docs/performance.md). tools/bench builds the release
// preset and runs `tb-bench suite`; the ctest smoke runs `tb-bench suite --tiny`.
//
// Every figure is printed next to a raw limit measured in the same run on the same transport, as
// a ratio, because on a shared machine absolute figures drift from run to run.
// Thread safety: single-threaded driver; the measurements start and join their own threads.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "extras.hpp"
#include "isolation_bench.hpp"
#include "raw.hpp"
#include "workloads.hpp"

namespace tb::bench {
namespace {

struct Sizes {
    uint64_t raw_zmq, w1, raw_rows, w2, w4_rows, w5_warm, route;
    double w3_rate;
    std::chrono::milliseconds w3_time, raw_lat_time;
    int w5_plugins;
};

Sizes sizes(const std::string& mode) {
    using ms = std::chrono::milliseconds;
    if (mode == "tiny")
        return {20'000, 2'000, 20'000, 2'000, 20'000, 1'000, 2'000, 1'000, ms(1000), ms(1000), 100};
    if (mode == "quick") {
        return {300'000, 200'000, 300'000,  50'000,   200'000, 10'000,
                50'000,  10'000,  ms(3000), ms(3000), 100};
    }
    return {2'000'000, 1'000'000, 1'000'000, 200'000,   1'000'000, 50'000,
            200'000,   10'000,    ms(30000), ms(10000), 100};
}

std::string fmt(double v, const std::string& unit) {
    char b[64];
    if (unit == "/s") {
        if (v >= 1e6)
            std::snprintf(b, sizeof b, "%.2f M/s", v / 1e6);
        else
            std::snprintf(b, sizeof b, "%.1f k/s", v / 1e3);
    } else {
        std::snprintf(b, sizeof b, v >= 100 ? "%.0f %s" : "%.1f %s", v, unit.c_str());
    }
    return b;
}

void print_table(const std::vector<Row>& rows, std::ostream& o) {
    std::size_t w0 = 8, w1 = 6;
    for (const auto& r : rows) {
        w0 = std::max(w0, r.workload.size());
        w1 = std::max(w1, r.figure.size());
    }
    auto pad = [](std::string s, std::size_t w) {
        return s.size() < w ? s + std::string(w - s.size(), ' ') : s;
    };
    auto lpad = [](std::string s, std::size_t w) {
        return s.size() < w ? std::string(w - s.size(), ' ') + s : s;
    };
    o << pad("workload", w0) << " | " << pad("figure", w1) << " | " << lpad("ours", 12) << " | "
      << lpad("raw limit", 18) << " | " << lpad("ratio", 7) << " | check\n";
    o << std::string(w0 + w1 + 70, '-') << "\n";
    for (const auto& r : rows) {
        char ratio[32];
        if (r.raw > 0 && r.ours > 0)
            std::snprintf(ratio, sizeof ratio, "%.3f", r.ours / r.raw);
        else
            std::snprintf(ratio, sizeof ratio, "-");
        o << pad(r.workload, w0) << " | " << pad(r.figure, w1) << " | "
          << lpad(r.ours > 0 ? fmt(r.ours, r.unit) : "-", 12) << " | "
          << lpad(r.raw > 0 ? fmt(r.raw, r.unit) + (r.raw_is_goal ? " (goal)" : "") : "-", 18)
          << " | " << lpad(ratio, 7) << " | " << (r.verified ? "ok" : "FAILED")
          << (r.note.empty() ? "" : " (" + r.note + ")") << "\n";
    }
}

nlohmann::json to_json(const std::vector<Row>& rows, const std::string& mode) {
    nlohmann::json j;
    j["mode"] = mode;
    j["t_us"] = wall_us();
    j["rows"] = nlohmann::json::array();
    for (const auto& r : rows) {
        j["rows"].push_back({{"workload", r.workload},
                             {"figure", r.figure},
                             {"unit", r.unit},
                             {"ours", r.ours},
                             {"raw", r.raw},
                             {"raw_is_goal", r.raw_is_goal},
                             {"ratio", r.raw > 0 ? r.ours / r.raw : 0.0},
                             {"verified", r.verified},
                             {"note", r.note}});
    }
    return j;
}

int suite(const std::string& mode, const std::string& json_file, const std::set<std::string>& only,
          const std::vector<std::string>& transports, bool verbose) {
    const Sizes z = sizes(mode);
    ScratchDir scratch;
    Context c{Paths::discover(), &scratch, verbose};
    std::vector<Row> rows;
    auto want = [&](const std::string& w) { return only.empty() || only.count(w) > 0; };
    auto progress = [&](const std::string& what) {
        std::cerr << "tb-bench: " << what << std::endl;
    };
    auto endpoint = [&](const std::string& t, const std::string& name) {
        return t == "tcp" ? free_tcp_endpoint() : scratch.ipc(name);
    };
    auto add = [&](Row r) {
        if (verbose)
            std::cerr << "  " << r.workload << " " << r.figure << ": " << r.ours << " vs " << r.raw
                      << " " << r.note << "\n";
        rows.push_back(std::move(r));
    };

    std::map<std::string, double> raw_zmq;
    for (const auto& t : transports) {
        progress("raw ZeroMQ throughput over " + t + " (" + std::to_string(z.raw_zmq) +
                 " messages)");
        const auto rz =
            raw_zmq_throughput(endpoint(t, "raw-" + t), z.raw_zmq, std::chrono::seconds(120));
        raw_zmq[t] = rz.msgs_per_s;
        add({"raw", "ZeroMQ PUB->SUB " + t + ", 3 frames", "/s", rz.msgs_per_s, 0, false,
             rz.received == z.raw_zmq,
             std::to_string(rz.received) + "/" + std::to_string(z.raw_zmq) + " received"});
    }
    double raw_rows = 0;
    if (want("W1") || want("W4")) {
        progress("raw SQLite batched inserts (" + std::to_string(z.raw_rows) + " rows)");
        const auto ri = raw_sqlite_inserts(scratch.path() / "raw.db", z.raw_rows, 10'000);
        raw_rows = ri.rows_per_s;
        add({"raw", "SQLite inserts, batches of 10,000", "/s", ri.rows_per_s, 0, false,
             ri.error.empty() && ri.rows == z.raw_rows,
             ri.error.empty() ? std::to_string(ri.rows) + " rows" : ri.error});
    }
    if (want("W1")) {
        Row last_w1;
        for (const auto& t : transports) {
            progress("W1 groundwater end to end over " + t + " (" + std::to_string(z.w1) +
                     " readings)");
            const auto r = run_w1(c, endpoint(t, "w1-" + t), z.w1);
            add({"W1 groundwater", "readings/s, " + t + ", vs raw ZeroMQ", "/s", r.per_s,
                 raw_zmq[t], false, r.verified, r.detail});
            last_w1 = rows.back();
            // W1 writes a metric row per reading plus an event per alert: compare that with SQLite.
            add({"W1 groundwater", "rows/s committed, " + t + ", vs raw SQLite", "/s", r.rows_per_s,
                 raw_rows, false, r.verified, ""});
        }
        if (last_w1.ours > 0) {
            add({"W1 groundwater", "readings/s, " + transports.back() + ", vs aim 800k/s", "/s",
                 last_w1.ours, 800'000, true, last_w1.verified, ""});
        }
    }
    if (want("W2")) {
        for (const int p : {1, 10, 50}) {
            if (mode == "tiny" && p == 50) continue;
            progress("W2 dispatch to " + std::to_string(p) + " plugin(s) (" + std::to_string(z.w2) +
                     " readings)");
            const auto r = run_w2(c, endpoint("ipc", "w2-" + std::to_string(p)), z.w2, p);
            add({"W2 dispatch", "deliveries/s, " + std::to_string(p) + " plugin(s), ipc", "/s",
                 r.per_s, raw_zmq["ipc"], false, r.verified, r.detail});
        }
    }
    std::map<std::string, RawLatency> raw_latency;  // per transport, when W3 measured it
    if (want("W3")) {
        // The raw limit and the host alternate in rounds (3 in the full run, 10 s each), so that
        // this shared machine drifting between the two is not taken for the host's cost; every
        // figure is the median over the rounds, and p99 minus raw the median of the rounds'
        // differences.
        const int rounds = mode == "full" ? 3 : 1;
        const auto slice = z.w3_time / rounds;
        for (const auto& t : transports) {
            std::vector<RawLatency> raws;
            std::vector<LatencyResult> ours;
            for (int k = 0; k < rounds; ++k) {
                const std::string tag = t + "-" + std::to_string(k);
                progress("raw ZeroMQ one-way latency over " + t + ", round " +
                         std::to_string(k + 1));
                raws.push_back(raw_zmq_latency(endpoint(t, "rawlat-" + tag), z.w3_rate, slice));
                progress("W3 latency over " + t + ", round " + std::to_string(k + 1));
                ours.push_back(run_w3(c, endpoint(t, "w3-" + tag), z.w3_rate, slice));
            }
            auto median = [](std::vector<double> v) {
                std::sort(v.begin(), v.end());
                return v.empty() ? 0.0 : v[v.size() / 2];
            };
            auto pick = [&](auto field) {
                std::vector<double> r, o;
                for (const auto& x : raws) r.push_back(field(x));
                for (const auto& x : ours) o.push_back(field(x));
                return std::pair{median(o), median(r)};
            };
            RawLatency rl;
            LatencyResult r;
            std::tie(r.p50_us, rl.p50_us) = pick([](const auto& x) { return x.p50_us; });
            std::tie(r.p99_us, rl.p99_us) = pick([](const auto& x) { return x.p99_us; });
            std::tie(r.p999_us, rl.p999_us) = pick([](const auto& x) { return x.p999_us; });
            raw_latency[t] = rl;
            r.verified = true;
            std::vector<double> diffs;
            std::string each;
            for (int k = 0; k < rounds; ++k) {
                r.verified = r.verified && ours[k].verified;
                diffs.push_back(ours[k].p99_us - raws[k].p99_us);
                each += (k ? ", " : "") + std::to_string(static_cast<int>(diffs.back()));
                if (!ours[k].verified)
                    r.detail = "round " + std::to_string(k + 1) + ": " + ours[k].detail;
            }
            if (r.detail.empty())
                r.detail = ours.front().detail + (rounds > 1 ? " in each round" : "");
            const std::string at =
                " at " + std::to_string(static_cast<int>(z.w3_rate)) + "/s, " + t;
            add({"W3 latency", "p50" + at, "us", r.p50_us, rl.p50_us, false, r.verified, r.detail});
            add({"W3 latency", "p99" + at, "us", r.p99_us, rl.p99_us, false, r.verified,
                 "p99 minus raw: " + std::to_string(static_cast<int>(median(diffs))) + " us" +
                     (rounds > 1 ? " (median of rounds: " + each + ")" : "")});
            std::vector<double> host50, host99;
            for (const auto& x : ours)
                host50.push_back(x.in_host_p50_us), host99.push_back(x.in_host_p99_us);
            add({"W3 latency", "p99.9" + at, "us", r.p999_us, rl.p999_us, false, r.verified,
                 "decoded->callback in the host: p50 " +
                     std::to_string(static_cast<int>(median(host50))) + " us, p99 " +
                     std::to_string(static_cast<int>(median(host99))) + " us"});
        }
    }
    if (want("STOP")) {
        // Emergency stop (issue #5): isolated is a trial's default, in-process the trusted path.
        const auto x = extra_sizes(mode);
        for (const std::string trust : {"isolated", "in-process"}) {
            progress("emergency stop, " + trust + " trial plugin, " +
                     std::to_string(x.stop_cycles) + " suspend/resume cycle(s)");
            const auto r =
                run_stop(c, endpoint("ipc", "stop-" + trust), x.stop_rate, x.stop_cycles, trust);
            const std::string at = " at " + std::to_string(static_cast<int>(x.stop_rate)) + "/s, " +
                                   trust + ", worst of " + std::to_string(x.stop_cycles);
            add({"emergency stop", "suspend -> last delivery" + at, "ms", r.cmd_to_last_ms, 100,
                 true, r.verified, r.detail});
            add({"emergency stop", "suspend -> host applied" + at, "ms", r.cmd_to_applied_ms, 100,
                 true, r.verified, ""});
        }
    }
    if (want("API")) {
        const auto x = extra_sizes(mode);
        progress("API load impact (" + std::to_string(x.api_messages) + " messages x " +
                 std::to_string(x.api_rounds) + " round(s), idle vs loaded)");
        const auto r = run_api_load(c, x.api_messages, x.api_rounds);
        add({"API load", "feed msgs/s, 20 pollers + 2 streams vs API idle", "/s", r.loaded_per_s,
             r.idle_per_s, false, r.verified, r.detail});
    }
    if (want("W4")) {
        progress("W4 store through the plugin API (" + std::to_string(z.w4_rows) + " rows)");
        const auto r = run_w4(c, endpoint("ipc", "w4"), z.w4_rows, 10);
        add({"W4 store", "metric rows/s via plugin API", "/s", r.per_s, raw_rows, false, r.verified,
             r.detail});
    }
    if (want("W5")) {
        for (const int p : {1, 10, z.w5_plugins}) {
            progress("W5 host with " + std::to_string(p) + " plugin(s)");
            const auto r = run_w5(c, endpoint("ipc", "w5-" + std::to_string(p)), p, z.w5_warm);
            if (p == z.w5_plugins) {
                add({"W5 scale", "start time, " + std::to_string(p) + " plugins", "ms", r.start_ms,
                     1000, true, r.verified, r.detail});
            }
            add({"W5 scale", "RSS, " + std::to_string(p) + " plugin(s)", "MB", r.rss_mb, 50, true,
                 r.verified, ""});
        }
        progress("W5 routing with 10,000 distinct topics");
        const auto few = run_w2(c, endpoint("ipc", "w5-route-1k"), z.route, 1, 1000);
        const auto many = run_w2(c, endpoint("ipc", "w5-route-10k"), z.route, 1, 10'000);
        add({"W5 scale", "msgs/s, 10,000 topics vs 1,000 topics", "/s", many.per_s, few.per_s,
             false, few.verified && many.verified, many.detail});
    }

    // ---- W6 isolation (bench/isolation_bench.cpp, docs/isolation.md "Performance") ----
    if (want("W6")) {
        W6Options w6;
        w6.runner = c.paths.bin / "testbed-runner";
        w6.plugin = c.paths.bench_plugins / "bench_sink_all.so";
        w6.messages = mode == "tiny" ? 2'000 : mode == "quick" ? 50'000 : 200'000;
        w6.paced_time = std::chrono::milliseconds(mode == "tiny"    ? 500
                                                  : mode == "quick" ? 2000
                                                                    : 5000);
        progress("W6 isolation: in-process vs testbed-runner (" + std::to_string(w6.messages) +
                 " messages, then " + std::to_string(static_cast<int>(w6.rate)) + "/s)");
        const auto r = run_w6(w6);
        const std::string rate = std::to_string(static_cast<int>(w6.rate / 1000)) + "k/s";
        add({"W6 isolation", "msgs/s isolated vs in-process (200 B)", "/s", r.isolated.msgs_per_s,
             r.in_process.msgs_per_s, false, r.verified, r.detail + "; target ratio >= 0.30"});
        add({"W6 isolation", "msgs/s with 1 metric/msg, isolated vs in-process", "/s",
             r.isolated.metric_msgs_per_s, r.in_process.metric_msgs_per_s, false, r.verified, ""});
        add({"W6 isolation", "p99 latency at " + rate + " isolated vs in-process", "us",
             r.isolated.p99_us, r.in_process.p99_us, false, r.verified,
             "added p99: " +
                 std::to_string(static_cast<int>(r.isolated.p99_us - r.in_process.p99_us)) +
                 " us, target < 200 us"});
        // The runner link is one ZeroMQ ipc hop that the in-process path does not take: the
        // transport's own one-way latency at the same rate is the floor of what isolation adds.
        if (!raw_latency.count("ipc") && w6.rate == z.w3_rate) {
            progress("raw ZeroMQ one-way latency over ipc (for W6)");
            raw_latency["ipc"] =
                raw_zmq_latency(endpoint("ipc", "rawlat-w6"), w6.rate, z.raw_lat_time);
        }
        if (raw_latency.count("ipc")) {
            const double added = r.isolated.p99_us - r.in_process.p99_us;
            add({"W6 isolation", "added p99 at " + rate + " vs raw ZeroMQ one-way p99, ipc", "us",
                 added, raw_latency["ipc"].p99_us, false, r.verified,
                 "the runner link is one ZeroMQ ipc hop"});
        }
    }
    // ---- end W6 ----

    print_table(rows, std::cout);
    if (!json_file.empty()) {
        std::ofstream out(json_file);
        out << to_json(rows, mode).dump(2) << "\n";
    }
    for (const auto& r : rows) {
        if (!r.verified) return 1;
    }
    return 0;
}

}  // namespace
}  // namespace tb::bench

int main(int argc, char** argv) {
    CLI::App app{"tb-bench: the testbed benchmark suite (docs/performance.md)"};
    app.require_subcommand(1);
    auto* s =
        app.add_subcommand("suite", "Run the raw limits and workloads W1-W6 and print one table");
    bool quick = false, tiny = false, verbose = false;
    std::string json_file, only_s, transports_s = "ipc,tcp";
    s->add_flag("--quick", quick, "Small counts (under a minute; CI)");
    s->add_flag("--tiny", tiny,
                "Smallest counts: checks that everything runs and counts add up (ctest)");
    s->add_option("--json", json_file, "Also write the results as JSON to this file");
    s->add_option("--only", only_s,
                  "Comma-separated workloads to run, e.g. W1,W3,STOP,API (raw limits always run)");
    s->add_option("--transports", transports_s, "Comma-separated: ipc, tcp")->capture_default_str();
    s->add_flag("--verbose", verbose, "Print each figure as it is measured");
    auto* a = app.add_subcommand(
        "alerts", "Print the expected alert count for N readings of the W1 generator");
    uint64_t n = 200'000;
    a->add_option("n", n, "Number of readings")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (a->parsed()) {
        std::cout << tb::bench::expected_alerts(n) << "\n";
        return 0;
    }
    auto split = [](const std::string& text) {
        std::vector<std::string> out;
        std::stringstream in(text);
        std::string item;
        while (std::getline(in, item, ',')) {
            if (!item.empty()) out.push_back(item);
        }
        return out;
    };
    const auto transports = split(transports_s);
    for (const auto& t : transports) {
        if (t != "ipc" && t != "tcp") {
            std::cerr << "tb-bench: --transports: '" << t << "' is not ipc or tcp\n";
            return 2;
        }
    }
    if (transports.empty() || transports.front() != "ipc") {
        std::cerr << "tb-bench: --transports must start with ipc (W2-W5 run over ipc)\n";
        return 2;
    }
    std::set<std::string> only;
    for (const auto& w : split(only_s)) {
        if (w == "STOP" || w == "API") {  // emergency stop (issue #5), API load (issue #8)
            only.insert(w);
            continue;
        }
        if (w.size() != 2 || w[0] != 'W' || w[1] < '1' || w[1] > '6') {
            std::cerr << "tb-bench: --only: '" << w
                      << "' is not one of W1, W2, W3, W4, W5, W6, STOP, API\n";
            return 2;
        }
        only.insert(w);
    }
    return tb::bench::suite(tiny    ? "tiny"
                            : quick ? "quick"
                                    : "full",
                            json_file, only, transports, verbose);
}
