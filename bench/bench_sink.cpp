// bench_sink: a benchmark-only plugin that counts what it receives (docs/performance.md).
//
// Built three times with different subscription prefixes (BENCH_SINK_ID / BENCH_SINK_PREFIX) so
// that the dispatch workload (W2) can load plugins whose prefixes overlap. It records nothing per
// message unless asked to, so it measures the host's dispatch path without storage:
//   expect = N            when the N-th message arrives, record metric "done_us" (wall clock, µs)
//                         and, with latency = true, the publish->callback latency percentiles;
//   latency = true        keep publish->callback latency (now - header source time) per message;
//   rows_per_message = K  record K metric rows per message (the store workload, W4);
//   record_each = true    record metric "seen" per message, stamped with the wall-clock time of
//                         the callback (the emergency-stop benchmark finds the last delivery).
// Thread safety: the host calls one instance on its own strand; no shared state.
#include <testbed/plugin.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#ifndef BENCH_SINK_ID
#define BENCH_SINK_ID "bench_sink"
#endif
#ifndef BENCH_SINK_PREFIX
#define BENCH_SINK_PREFIX "sensor/"
#endif

namespace {

int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class BenchSink final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest(BENCH_SINK_ID, "1.0.0")
            .organisation("Enschede Innovation Testbed, benchmarks")
            .contact("bench@testbed.enschede.example")
            .description("Counts messages for the benchmark suite; not for production.")
            .reads(BENCH_SINK_PREFIX)
            .metric("done_us", "us", tb::Better::neither,
                    "Wall-clock time the expected count was reached")
            .metric("count", "1", tb::Better::neither, "Messages received when done")
            .metric("lat_p50_us", "us", tb::Better::lower, "Publish->callback latency, median")
            .metric("lat_p99_us", "us", tb::Better::lower,
                    "Publish->callback latency, 99th percentile")
            .metric("lat_p999_us", "us", tb::Better::lower,
                    "Publish->callback latency, 99.9th percentile")
            .metric("row", "1", tb::Better::neither, "A row written for the store workload")
            .metric("seen", "1", tb::Better::neither,
                    "Sequence number of a delivery, stamped with the callback's wall clock")
            .config("expect", tb::ConfigType::integer, "0",
                    "Record done_us when this many messages arrived")
            .config("latency", tb::ConfigType::boolean, "false",
                    "Measure publish->callback latency")
            .config("rows_per_message", tb::ConfigType::integer, "0",
                    "Metric rows to record per message")
            .config("record_each", tb::ConfigType::boolean, "false",
                    "Record each delivery with the callback's wall-clock time");
    }

    explicit BenchSink(tb::Host& host)
        : tb::Plugin(host),
          expect_(host.config_int("expect", 0)),
          latency_(host.config_bool("latency", false)),
          rows_(host.config_int("rows_per_message", 0)),
          record_each_(host.config_bool("record_each", false)) {
        if (latency_ && expect_ > 0) lat_us_.reserve(static_cast<std::size_t>(expect_));
    }

    void on_message(const tb::Message& msg) override {
        if (latency_) lat_us_.push_back(wall_us() - msg.source_time_us);
        ++count_;
        if (record_each_)
            host().record_metric("seen", static_cast<double>(msg.sequence), {}, wall_us());
        for (int64_t k = 0; k < rows_; ++k)
            host().record_metric("row", static_cast<double>(count_), {}, msg.source_time_us);
        if (count_ == expect_) {
            const auto now = wall_us();
            if (latency_ && !lat_us_.empty()) {
                std::sort(lat_us_.begin(), lat_us_.end());
                auto pct = [&](double p) {
                    const auto i =
                        static_cast<std::size_t>(p * static_cast<double>(lat_us_.size() - 1));
                    return static_cast<double>(lat_us_[i]);
                };
                host().record_metric("lat_p50_us", pct(0.50), {}, now);
                host().record_metric("lat_p99_us", pct(0.99), {}, now);
                host().record_metric("lat_p999_us", pct(0.999), {}, now);
            }
            host().record_metric("count", static_cast<double>(count_), {}, now);
            host().record_metric("done_us", static_cast<double>(now), {}, now);
        }
    }

   private:
    int64_t expect_;
    bool latency_;
    int64_t rows_;
    bool record_each_;
    int64_t count_ = 0;
    std::vector<int64_t> lat_us_;
};

}  // namespace

TB_PLUGIN(BenchSink)
