// bench/extras.hpp: measurements of the suite beyond W1-W5 (docs/performance.md): the emergency
// stop of issue #5 (stop_bench.cpp) and the HTTP API's load impact of issue #8 (api_rows.cpp).
// Both print as rows of the same `tb-bench suite` table.
// Thread safety: each function runs its own processes and joins everything it starts.
#pragma once

#include "workloads.hpp"

namespace tb::bench {

// Emergency stop: a governed host (no --dev) runs an approved trial of bench_sink (record_each)
// fed at `rate` readings/s; `cycles` times, `testbed trial suspend` is run and the last delivery
// the plugin saw is found in the results database, then `testbed trial resume`.
struct StopResult {
    double cmd_to_last_ms = 0;     // worst over the cycles: CLI started -> last delivery
    double cmd_to_applied_ms = 0;  // worst: CLI started -> host's enforce_suspend (applied_us)
    double median_last_ms = 0;
    int cycles = 0;
    bool verified = false;
    std::string detail;
};
StopResult run_stop(const Context& c, const std::string& endpoint, double rate, int cycles,
                    const std::string& trust);

// API load impact: bin/api_load_bench (an in-process host with its API) alternates bursts with
// the API idle and with 20 pollers + 2 event streams; figure = median feed msgs/s of each.
struct ApiLoadResult {
    double idle_per_s = 0, loaded_per_s = 0;
    bool verified = false;
    std::string detail;
};
ApiLoadResult run_api_load(const Context& c, uint64_t messages, int rounds);

// Counts per suite mode ("tiny", "quick", "full"), kept here so main.cpp's Sizes stays W1-W5's.
struct ExtraSizes {
    double stop_rate;
    int stop_cycles;
    uint64_t api_messages;
    int api_rounds;
};
ExtraSizes extra_sizes(const std::string& mode);

// Run a program to completion (bounded by `limit`; killed after it). Exit code, or -1.
int run_program(const fs::path& exe, const std::vector<std::string>& args, const fs::path& out,
                std::chrono::milliseconds limit);

}  // namespace tb::bench
