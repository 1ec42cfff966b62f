// bench/workloads.hpp: W1-W5 of issue #9, each against the real testbed-host (release build).
// Thread safety: each function runs one host process and joins everything it starts.
#pragma once

#include <string>
#include <vector>

#include "bench.hpp"

namespace tb::bench {

struct Context {
    Paths paths;
    ScratchDir* scratch = nullptr;
    bool verbose = false;
};

// A free 127.0.0.1 TCP port for a tcp:// endpoint the host binds.
std::string free_tcp_endpoint();

struct ThroughputResult {
    double per_s = 0;  // readings (W1), deliveries (W2) or rows (W4) per second
    bool verified = false;
    std::string detail;     // what was verified, or what went wrong
    double rows_per_s = 0;  // W1: rows committed (metrics + events) per second
};

// W1: n readings -> host -> groundwater_alert (every_reading, mean_every = 0) -> SQLite.
ThroughputResult run_w1(const Context& c, const std::string& endpoint, uint64_t n);
// W2: n readings -> `plugins` counting plugins with overlapping prefixes, no storage.
// `sensors` distinct topics (1,000, or 10,000 for the routing-cost workload of W5).
ThroughputResult run_w2(const Context& c, const std::string& endpoint, uint64_t n, int plugins,
                        int sensors = 1000);
// W3: `rate` readings/s for `duration` -> one counting plugin measuring publish->callback latency.
struct LatencyResult {
    double p50_us = 0, p99_us = 0, p999_us = 0;
    bool verified = false;
    std::string detail;
    // The host's own part, from the message decoded to the callback starting (its run summary;
    // histogram buckets of about 12 %).
    double in_host_p50_us = 0, in_host_p99_us = 0;
};
LatencyResult run_w3(const Context& c, const std::string& endpoint, double rate,
                     std::chrono::milliseconds duration);
// W4: `rows` metric rows through the plugin API (rows_per_message per reading) into SQLite.
ThroughputResult run_w4(const Context& c, const std::string& endpoint, uint64_t rows,
                        int rows_per_message);
// W5: host start time (spawn to "ready") and RSS with `plugins` counting plugins, after `warm`
// readings went through.
struct ScaleResult {
    double start_ms = 0;
    double rss_mb = 0;
    bool verified = false;
    std::string detail;
};
ScaleResult run_w5(const Context& c, const std::string& endpoint, int plugins, uint64_t warm);

}  // namespace tb::bench
