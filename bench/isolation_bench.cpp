// isolation_bench: messages/s delivered to one plugin in-process versus in a testbed-runner
// process, and the latency isolation adds at a steady 10k messages/s (docs/isolation.md, section
// "Performance"). The same code is workload W6 of `tb-bench suite`; built alone (target
// isolation_bench) it prints the figures as a small table:
//
//   isolation_bench [--plugin build/release/bench-plugins/bench_sink_all.so]
//                   [--runner build/release/bin/testbed-runner] [--messages 200000] [--rate 10000]
//
// The plugin is bench_sink_all with no config (the callback returns at once: pure delivery cost)
// and with rows_per_message = 1 (one record_metric per message). Messages are 200-byte payloads
// handed to PluginInstance::deliver() directly, so the figures are the runtime's alone (no
// ingest socket, no store). Latency is from deliver() to the end of the callback as the host sees
// it (in-process: the callback start on the strand; isolated: the 'done' reply, which includes
// the callback and the way back), p50/p99 from the instance's histogram.
// Thread safety: single-threaded driver.
#include "isolation_bench.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "common/clock.hpp"
#include "isolation/process_instance.hpp"
#include "loader/plugin_library.hpp"
#include "runtime/executor.hpp"
#include "runtime/in_process.hpp"

namespace tb::bench {
namespace {

using namespace tb::host;
namespace fs = std::filesystem;

std::unique_ptr<PluginInstance> make(bool isolated, const std::shared_ptr<PluginLibrary>& lib,
                                     const W6Options& o, bool metric, Executor& ex,
                                     std::size_t capacity) {
    PluginContextOptions co;
    co.instance = std::string("w6_") + (isolated ? "isolated" : "in_process");
    co.manifest = lib->manifest();
    co.config = metric ? nlohmann::json{{"rows_per_message", 1}} : nlohmann::json::object();
    // No store: a recorded sample is checked and counted, then refused as "queue full" (the
    // same work in both modes; the store's cost is W4's subject).
    auto ctx = std::make_unique<PluginContext>(std::move(co), nullptr, nullptr);
    PluginRecord rec;
    for (const auto& m : lib->manifest().metrics) rec.series_ids[m.name] = 1;
    ctx->set_record(rec);
    const InboxOptions inbox{capacity, OverflowPolicy::drop_newest};
    if (!isolated) return make_in_process_instance(lib, std::move(ctx), ex, inbox);
    ProcessOptions po;
    po.runner = o.runner;
    if (o.window > 0) po.window = o.window;
    po.plugin_file = lib->file();
    po.inbox = inbox;
    po.memory_limit_mb = 0;
    return make_process_instance(std::move(ctx), po, {});
}

FeedMessagePtr message(uint64_t seq) {
    auto m = std::make_shared<FeedMessage>();
    m->topic = "sensor/groundwater/GW-0001";
    m->payload.assign(200, 'x');
    m->header.content_type = tb::wire::ContentType::binary;
    m->header.sequence = seq;
    m->receive_time_us = now_us();
    m->receive_mono_ns = mono_ns();
    return m;
}

// CPU time used so far by this process and its reaped children (the runners), µs.
double cpu_us() {
    double t = 0;
    for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
        rusage u{};
        getrusage(who, &u);
        t += static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
             static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    }
    return t;
}

uint64_t delivered(const PluginInstance& p) { return p.context().counters().delivered.load(); }

// Wait (bounded) until `n` messages were delivered; false on timeout.
bool wait_delivered(const PluginInstance& p, uint64_t n, std::chrono::seconds limit) {
    const int64_t until =
        mono_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(limit).count();
    while (delivered(p) < n) {
        if (mono_ns() > until) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
}

// Throughput: hand over `n` messages as fast as the inbox takes them, time until all are done.
double throughput(PluginInstance& p, uint64_t n, uint64_t& lost) {
    std::vector<FeedMessagePtr> msgs;
    msgs.reserve(n);
    for (uint64_t i = 0; i < n; ++i) msgs.push_back(message(i));
    const int64_t t0 = mono_ns();
    for (auto& m : msgs) p.deliver(m);
    if (!wait_delivered(p, n, std::chrono::seconds(120))) lost += n - delivered(p);
    return static_cast<double>(delivered(p)) / (static_cast<double>(mono_ns() - t0) * 1e-9);
}

// Latency at a steady rate. The driver sleeps between messages (a spinning driver would take a
// whole core from the pipeline on a small machine); latency starts at deliver(), so the driver's
// own lateness does not count.
void paced(PluginInstance& p, double rate, std::chrono::milliseconds time, W6Mode& out) {
    const auto period = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / rate));
    const uint64_t n = static_cast<uint64_t>(rate * static_cast<double>(time.count()) / 1000.0);
    auto due = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < n; ++i) {
        due += period;
        std::this_thread::sleep_until(due);
        p.deliver(message(i));
    }
    if (!wait_delivered(p, n, std::chrono::seconds(60))) out.lost += n - delivered(p);
    const auto j = p.stats_json();
    out.p50_us = j["latency_p50_us"].get<double>();
    out.p99_us = j["latency_p99_us"].get<double>();
}

}  // namespace

W6Result run_w6(const W6Options& o) {
    W6Result r;
    prctl(PR_SET_TIMERSLACK, 1UL);  // sleep_until to the microsecond, not the default 50 µs
    auto lib = PluginLibrary::load(o.plugin);
    if (!lib) {
        r.detail = lib.error().message;
        return r;
    }
    Executor ex(2);
    for (const bool isolated : {false, true}) {
        W6Mode& m = isolated ? r.isolated : r.in_process;
        for (int which = 0; which < 3; ++which) {  // 0: throughput, 1: with a metric, 2: latency
            const double cpu0 = cpu_us();
            auto inst = make(isolated, *lib, o, which == 1, ex, o.messages + 1);
            if (auto s = inst->start(); !s) {
                r.detail = s.message();
                ex.stop();
                return r;
            }
            if (which == 0) m.msgs_per_s = throughput(*inst, o.messages, m.lost);
            if (which == 1) m.metric_msgs_per_s = throughput(*inst, o.messages, m.lost);
            if (which == 2) paced(*inst, o.rate, o.paced_time, m);
            inst->stop(std::chrono::seconds(5));
            inst.reset();  // the runner is reaped: its CPU time is in RUSAGE_CHILDREN now
            if (which == 0) m.cpu_us_per_msg = (cpu_us() - cpu0) / static_cast<double>(o.messages);
        }
    }
    ex.stop();
    r.verified = r.in_process.lost == 0 && r.isolated.lost == 0;
    r.detail = r.verified ? "every message delivered in both modes"
                          : std::to_string(r.in_process.lost) + " lost in-process, " +
                                std::to_string(r.isolated.lost) + " lost isolated";
    return r;
}

}  // namespace tb::bench

#ifdef TB_ISOLATION_BENCH_MAIN
int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    const fs::path self = fs::canonical("/proc/self/exe").parent_path();
    tb::bench::W6Options o;
    o.plugin = self.parent_path() / "bench-plugins" / "bench_sink_all.so";
    o.runner = self / "testbed-runner";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        try {
            if (k == "--plugin")
                o.plugin = v;
            else if (k == "--runner")
                o.runner = v;
            else if (k == "--messages")
                o.messages = std::stoull(v);
            else if (k == "--rate")
                o.rate = std::stod(v);
            else if (k == "--window")
                o.window = std::stoull(v);
            else {
                std::cerr << "isolation_bench: unknown option '" << k
                          << "' (--plugin, --runner, --messages, --rate, --window)\n";
                return 2;
            }
        } catch (const std::logic_error&) {
            std::cerr << "isolation_bench: option '" << k << "' needs a number, not '" << v
                      << "'\n";
            return 2;
        }
    }
    const auto r = tb::bench::run_w6(o);
    if (!r.verified) {
        std::cerr << "isolation_bench: " << r.detail << "\n";
        return 1;
    }
    std::printf("%-10s %14s %18s %12s %12s %12s\n", "mode", "msgs/s", "msgs/s 1 metric",
                "p50 us@rate", "p99 us@rate", "CPU us/msg");
    for (const auto* m : {&r.in_process, &r.isolated}) {
        std::printf("%-10s %14.0f %18.0f %12.1f %12.1f %12.2f\n",
                    m == &r.in_process ? "in-process" : "isolated", m->msgs_per_s,
                    m->metric_msgs_per_s, m->p50_us, m->p99_us, m->cpu_us_per_msg);
    }
    std::printf("isolated/in-process throughput: %.3f; added p99 at %.0f/s: %.1f us\n",
                r.isolated.msgs_per_s / r.in_process.msgs_per_s, o.rate,
                r.isolated.p99_us - r.in_process.p99_us);
    return 0;
}
#endif
