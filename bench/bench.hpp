// bench/bench.hpp: shared pieces of the benchmark suite (docs/performance.md).
//
// The reading generator of issue #9 (so figures compare across tools), the sender every workload
// and every raw measurement uses (the same XPUB socket, frames and back-pressure, so a ratio
// compares the host with ZeroMQ and not two different senders), a child-process handle for the
// real testbed-host, and the result rows the suite prints.
// Thread safety: none; each object is used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace tb::bench {

namespace fs = std::filesystem;

int64_t wall_us();  // system clock, µs since the Unix epoch (comparable across processes)
int64_t mono_ns();  // steady clock

// Issue #9's W1 readings: x0 = 42, x(i+1) = (1664525 x(i) + 1013904223) mod 2^32; reading i uses
// x(i+1); level v = (floor(x * 3000 / 2^32) - 3000) / 1000 m; sensor GW-<i mod sensors, 4 digits>;
// t = 1764300000 + i/1000 s.
struct Reading {
    std::string topic;
    std::string payload;
    int level_mm = 0;       // v in millimetres (exact)
    uint64_t sequence = 0;  // per sensor, from 1
    int64_t t_us = 0;
    bool alert() const noexcept { return level_mm > -500; }  // v > -0.5 m
};

class ReadingGenerator {
   public:
    // `sensors` = distinct topics (1,000 in W1; 10,000 for the routing workload).
    explicit ReadingGenerator(int sensors = 1000) : sensors_(sensors) {}
    void next(Reading& r);
    uint64_t index() const noexcept { return i_; }

   private:
    int sensors_;
    uint32_t x_ = 42;
    uint64_t i_ = 0;
};

// Count the alerts among the first n readings (the expected alert count, computed not assumed).
uint64_t expected_alerts(uint64_t n);

// The sending side of every measurement: XPUB, connects to a SUB that binds (as the host does),
// blocks instead of dropping when the high-water mark is reached (xpub_nodrop).
class Sender {
   public:
    explicit Sender(const std::string& endpoint, int sndhwm = 100'000);
    ~Sender();
    bool wait_for_subscriber(std::chrono::milliseconds timeout);
    void send(const Reading& r, int64_t source_time_us);

   private:
    std::unique_ptr<zmq::context_t> ctx_;
    std::unique_ptr<zmq::socket_t> sock_;
};

// The committed-row count and commit time the host writes to --status-file.
struct HostStatus {
    uint64_t committed_rows = 0;
    int64_t t_us = 0;
};
std::optional<HostStatus> read_status(const fs::path& file);

// A running testbed-host. Killed (process group) when destroyed; dies with the benchmark.
class HostProcess {
   public:
    HostProcess(const fs::path& exe, const std::vector<std::string>& args, const fs::path& log_dir);
    ~HostProcess();
    HostProcess(const HostProcess&) = delete;
    HostProcess& operator=(const HostProcess&) = delete;
    bool wait_ready(std::chrono::milliseconds timeout);  // "testbed-host: ready" on stdout
    int64_t spawned_mono_ns() const noexcept { return spawned_ns_; }
    long rss_kb() const;                                                   // VmRSS, 0 when unknown
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(60));  // SIGTERM, then SIGKILL
    std::string out() const;
    std::string err() const;

   private:
    int pid_ = -1;
    int status_ = -1;
    int64_t spawned_ns_ = 0;
    fs::path out_, err_;
};

// Where the build put things: bin/ (this program, testbed-host), plugins/, bench-plugins/.
struct Paths {
    fs::path bin, plugins, bench_plugins;
    static Paths discover();
};

// A scratch folder removed at the end (kept when TB_KEEP_BENCH_DIRS is set).
class ScratchDir {
   public:
    ScratchDir();
    ~ScratchDir();
    const fs::path& path() const noexcept { return path_; }
    std::string ipc(const std::string& name) const {
        return "ipc://" + (path_ / (name + ".sock")).string();
    }

   private:
    fs::path path_;
};

// Single-value query on a results database (read-only), nullopt on error or no row.
std::optional<double> query_double(const fs::path& db, const std::string& sql);

// One line of the result table. `raw` is the limit measured in the same run (or a goal, when
// `raw_is_goal`); ratio = ours / raw.
struct Row {
    std::string workload, figure, unit;
    double ours = 0, raw = 0;
    bool raw_is_goal = false;
    bool verified = true;
    std::string note;
};

void write_file(const fs::path& p, const std::string& text);
std::string read_file(const fs::path& p);

}  // namespace tb::bench
