// bench/isolation_bench.hpp: workload W6 of tb-bench, the cost of process isolation
// (docs/isolation.md "Performance", docs/performance.md). Also built alone as isolation_bench.
// Thread safety: run_w6 is called from one thread; it starts and joins its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace tb::bench {

struct W6Options {
    std::filesystem::path runner;  // testbed-runner
    std::filesystem::path plugin;  // bench_sink_all.so
    uint64_t messages = 200'000;   // per throughput measurement
    double rate = 10'000;          // messages/s for the latency measurement
    std::chrono::milliseconds paced_time{5000};
    std::size_t window = 0;  // isolated: messages in flight (0 = ProcessOptions' default)
};

struct W6Mode {
    double msgs_per_s = 0;          // 200-byte messages, plugin does nothing
    double metric_msgs_per_s = 0;   // the same, one record_metric per message
    double p50_us = 0, p99_us = 0;  // deliver() -> callback seen done, at `rate`
    double cpu_us_per_msg = 0;      // CPU time of every thread and process involved, per message
    uint64_t lost = 0;              // messages not delivered (must be 0)
};

struct W6Result {
    W6Mode in_process, isolated;
    bool verified = false;
    std::string detail;  // error or counts
};

W6Result run_w6(const W6Options& options);

}  // namespace tb::bench
