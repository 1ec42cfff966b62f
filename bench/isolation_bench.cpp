// isolation_bench: messages/s delivered to one plugin in-process versus in a testbed-runner
// process, and the latency isolation adds at a steady 10k messages/s (docs/isolation.md,
// section "Performance"). Not part of ctest: run it on a quiet machine, release build.
//
//   isolation_bench [--plugin build/release/test-plugins/tb_test_hostile.so]
//                   [--runner build/release/bin/testbed-runner] [--messages 200000] [--rate 10000]
//
// The plugin is tb_test_hostile with behaviour "quiet" (the callback returns at once: pure
// delivery cost) and "none" (one record_metric per message: one host API round trip each).
// Messages are 200-byte payloads handed to PluginInstance::deliver() directly, so the figures are
// the runtime's alone (no ingest socket, no store). Latency is from deliver() to the end of the
// callback as the host sees it (in-process: the callback start on the strand; isolated: the
// 'done' reply), p50/p99 from the instance's histogram.
// Thread safety: single-threaded driver.
#include "common/clock.hpp"
#include "isolation/process_instance.hpp"
#include "loader/plugin_library.hpp"
#include "runtime/executor.hpp"
#include "runtime/in_process.hpp"

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

namespace {

using namespace tb::host;
namespace fs = std::filesystem;

struct Figures {
    double msgs_per_s = 0, p50_us = 0, p99_us = 0;
};

std::unique_ptr<PluginInstance> make(const std::string& mode, const std::shared_ptr<PluginLibrary>& lib,
                                     const fs::path& runner, const std::string& behaviour, Executor& ex,
                                     std::size_t capacity) {
    PluginContextOptions co;
    co.instance = "bench_" + behaviour;
    co.manifest = lib->manifest();
    co.config = {{"behaviour", behaviour}};
    auto ctx = std::make_unique<PluginContext>(std::move(co), nullptr, nullptr);
    PluginRecord rec;
    rec.series_ids["seen"] = 1;
    ctx->set_record(rec);
    if (mode == "in-process") return make_in_process_instance(lib, std::move(ctx), ex, {capacity, OverflowPolicy::drop_newest});
    ProcessOptions po;
    po.runner = runner;
    po.plugin_file = lib->file();
    po.inbox = {capacity, OverflowPolicy::drop_newest};
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

uint64_t delivered(const PluginInstance& p) { return p.context().counters().delivered.load(); }

// Throughput: hand over `n` messages as fast as the inbox takes them, time until all are done.
double throughput(PluginInstance& p, uint64_t n) {
    std::vector<FeedMessagePtr> msgs;
    msgs.reserve(n);
    for (uint64_t i = 0; i < n; ++i) msgs.push_back(message(i));
    const int64_t t0 = mono_ns();
    for (auto& m : msgs) p.deliver(m);
    while (delivered(p) < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
    return static_cast<double>(n) / (static_cast<double>(mono_ns() - t0) * 1e-9);
}

// Latency at a steady rate on a fresh instance.
Figures paced(PluginInstance& p, uint64_t n, double rate) {
    const int64_t period = static_cast<int64_t>(1e9 / rate);
    const int64_t t0 = mono_ns();
    for (uint64_t i = 0; i < n; ++i) {
        const int64_t due = t0 + static_cast<int64_t>(i) * period;
        while (mono_ns() < due) {
        }
        p.deliver(message(i));
    }
    while (delivered(p) < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto j = p.stats_json();
    return {rate, j["latency_p50_us"].get<double>(), j["latency_p99_us"].get<double>()};
}

}  // namespace

int main(int argc, char** argv) {
    const fs::path self = fs::canonical("/proc/self/exe").parent_path();
    fs::path plugin = self.parent_path() / "test-plugins" / "tb_test_hostile.so";
    fs::path runner = self / "testbed-runner";
    uint64_t n = 200000;
    double rate = 10000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--plugin") plugin = v;
        else if (k == "--runner") runner = v;
        else if (k == "--messages") n = std::stoull(v);
        else if (k == "--rate") rate = std::stod(v);
        else {
            std::cerr << "isolation_bench: unknown option '" << k << "' (--plugin, --runner, --messages, --rate)\n";
            return 2;
        }
    }
    auto lib = PluginLibrary::load(plugin);
    if (!lib) {
        std::cerr << "isolation_bench: " << lib.error().message << "\n";
        return 1;
    }
    Executor ex(2);
    std::printf("%-10s %-6s %14s %12s %12s\n", "mode", "plugin", "msgs/s", "p50 us@rate", "p99 us@rate");
    for (const std::string behaviour : {"quiet", "none"}) {
        for (const std::string mode : {"in-process", "process"}) {
            auto a = make(mode, *lib, runner, behaviour, ex, n + 1);
            if (auto s = a->start(); !s) {
                std::cerr << "isolation_bench: " << s.message() << "\n";
                return 1;
            }
            const double tput = throughput(*a, n);
            a->stop(std::chrono::seconds(5));
            auto b = make(mode, *lib, runner, behaviour, ex, n + 1);
            if (auto s = b->start(); !s) return 1;
            const auto lat = paced(*b, static_cast<uint64_t>(rate * 5), rate);
            b->stop(std::chrono::seconds(5));
            std::printf("%-10s %-6s %14.0f %12.1f %12.1f\n", mode.c_str(), behaviour.c_str(), tput, lat.p50_us,
                        lat.p99_us);
        }
    }
    ex.stop();
    return 0;
}
