// tests/support/test_support.hpp: helpers for tests that drive real processes, real sockets and
// real database files. Every process a test starts is killed (with its process group) when its
// Process object goes out of scope, and dies with the test runner (PR_SET_PDEATHSIG), so no test
// leaves a process behind. Temporary folders are removed unless TB_KEEP_TEST_DIRS is set.
// Thread safety: none needed (tests are single-threaded unless they say otherwise).
#pragma once

#include <gmock/gmock.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tb::test {

namespace fs = std::filesystem;

// Build and source locations (compile definitions from tests/CMakeLists.txt).
fs::path source_dir();      // the repository
fs::path bin_dir();         // build/<preset>/bin: testbed-host, testbed, ...
fs::path plugin_dir();      // build/<preset>/plugins: the example plugins
fs::path test_plugin_dir(); // build/<preset>/test-plugins: plugins built only for tests
fs::path testbed_dir(const std::string& name);  // source_dir()/testbeds/<name>

class TempDir {
   public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const noexcept { return path_; }
    fs::path operator/(const std::string& name) const { return path_ / name; }
    // An ipc:// endpoint inside this folder, unique per name (no port clashes in parallel tests).
    std::string ipc(const std::string& name) const { return "ipc://" + (path_ / (name + ".sock")).string(); }

   private:
    fs::path path_;
};

struct RunResult {
    int exit_code = -1;  // -signal when killed by a signal
    std::string out, err;
};

class Process {
   public:
    // Start `exe` with `args`; stdout/stderr go to files in `log_dir` (read them with out()/err()).
    Process(const fs::path& exe, std::vector<std::string> args, const fs::path& log_dir,
            std::map<std::string, std::string> env = {});
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    int pid() const noexcept { return pid_; }
    bool running();
    void signal(int sig);
    // Wait for exit; returns the exit code (or -signal), or nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit code.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
    std::string out() const;
    std::string err() const;
    // Wait until stdout or stderr contains `text`.
    bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout);

   private:
    int pid_ = -1;
    std::optional<int> status_;
    fs::path out_file_, err_file_;
};

// Run to completion (killed after `timeout`) and capture output.
RunResult run(const fs::path& exe, std::vector<std::string> args,
              std::chrono::milliseconds timeout = std::chrono::seconds(60),
              std::map<std::string, std::string> env = {});

// Poll `pred` every 10 ms until true or timeout.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// Read a whole file (empty string when missing).
std::string read_file(const fs::path& p);
void write_file(const fs::path& p, const std::string& text);

// Run one SQL query on a database file and return the first column of the first row as int64
// (nullopt when there is no row). Opens read-only; works while a host is writing (WAL).
std::optional<int64_t> query_int(const fs::path& db, const std::string& sql);
// All rows, each column as text ("" for NULL).
std::vector<std::vector<std::string>> query_rows(const fs::path& db, const std::string& sql);

// Write a testbed folder into `dir` from toml text (zone copied from city-centre when the text
// mentions zones/city-centre.geojson). Returns the folder.
fs::path write_testbed(const fs::path& dir, const std::string& toml_text);

// Publish wire-format messages from the test process (XPUB connect, waits for a subscriber).
class TestPublisher {
   public:
    explicit TestPublisher(const std::string& endpoint);
    ~TestPublisher();
    bool wait_for_subscriber(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    bool send(const std::string& topic, const std::string& payload, uint8_t content_type = 1,
              std::optional<uint64_t> seq = std::nullopt, int64_t source_time_us = 0);
    bool send_frames(const std::vector<std::string>& frames);

   private:
    struct Impl;
    Impl* impl_;
};

// A SenML pack with one numeric record, as the simulator writes it.
std::string senml(const std::string& base, const std::string& name, const std::string& unit, double v, double t_s);

}  // namespace tb::test
