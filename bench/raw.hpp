// bench/raw.hpp: raw ZeroMQ and SQLite limits (see raw.cpp). Thread safety: see raw.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "bench.hpp"

namespace tb::bench {

struct RawThroughput {
    uint64_t received = 0;
    double msgs_per_s = 0;
};
// n messages from one Sender to a bare SUB on `endpoint`, first send to last receive.
RawThroughput raw_zmq_throughput(const std::string& endpoint, uint64_t n,
                                 std::chrono::seconds limit);

struct RawLatency {
    uint64_t received = 0;
    double p50_us = 0, p99_us = 0, p999_us = 0;
};
RawLatency raw_zmq_latency(const std::string& endpoint, double rate,
                           std::chrono::milliseconds duration);

// Send n readings at `rate` per second, header source time = wall clock at send. Returns sent.
uint64_t pace(Sender& s, double rate, uint64_t n, const std::atomic<bool>& give_up);

struct RawInserts {
    uint64_t rows = 0;
    double rows_per_s = 0;
    std::string error;
};
RawInserts raw_sqlite_inserts(const fs::path& file, uint64_t rows, uint64_t batch);

}  // namespace tb::bench
