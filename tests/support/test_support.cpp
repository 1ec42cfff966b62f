#include "support/test_support.hpp"

#include "wire/wire.hpp"

#include <sqlite3.h>
#include <zmq.hpp>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace tb::test {

fs::path source_dir() { return TB_SOURCE_DIR; }
fs::path bin_dir() { return TB_BIN_DIR; }
fs::path plugin_dir() { return TB_PLUGIN_DIR; }
fs::path test_plugin_dir() { return TB_TEST_PLUGIN_DIR; }
fs::path testbed_dir(const std::string& name) { return source_dir() / "testbeds" / name; }

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tbtest-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    if (std::getenv("TB_KEEP_TEST_DIRS") != nullptr) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
}

Process::Process(const fs::path& exe, std::vector<std::string> args, const fs::path& log_dir,
                 std::map<std::string, std::string> env) {
    static int counter = 0;
    const std::string stem = exe.filename().string() + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
    out_file_ = log_dir / (stem + ".out");
    err_file_ = log_dir / (stem + ".err");
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        const int o = open(out_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int e = open(err_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        const int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
        // Unblock signals the test runner may have blocked.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        std::vector<char*> argv;
        std::string exe_s = exe.string();
        argv.push_back(exe_s.data());
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(exe_s.c_str(), argv.data());
        std::fprintf(stderr, "exec %s failed: %s\n", exe_s.c_str(), std::strerror(errno));
        _exit(127);
    }
    setpgid(pid_, pid_);
}

Process::~Process() {
    if (pid_ > 0 && !status_) {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        int st = 0;
        waitpid(pid_, &st, 0);
    }
}

bool Process::running() {
    if (status_) return false;
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        return false;
    }
    return true;
}

void Process::signal(int sig) {
    if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
    wait_until([&] { return !running(); }, timeout);
    return status_;
}

int Process::stop(std::chrono::milliseconds grace) {
    signal(SIGTERM);
    if (auto rc = wait(grace)) return *rc;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    return wait(std::chrono::seconds(10)).value_or(-SIGKILL);
}

std::string Process::out() const { return read_file(out_file_); }
std::string Process::err() const { return read_file(err_file_); }

bool Process::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
    return wait_until([&] { return out().find(text) != std::string::npos || err().find(text) != std::string::npos; },
                      timeout);
}

RunResult run(const fs::path& exe, std::vector<std::string> args, std::chrono::milliseconds timeout,
              std::map<std::string, std::string> env) {
    TempDir logs;
    Process p(exe, std::move(args), logs.path(), std::move(env));
    RunResult r;
    auto rc = p.wait(timeout);
    if (!rc) rc = p.stop(std::chrono::seconds(2));
    r.exit_code = *rc;
    r.out = p.out();
    r.err = p.err();
    return r;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

std::vector<std::vector<std::string>> query_rows(const fs::path& db, const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    sqlite3* h = nullptr;
    if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(h);
        throw std::runtime_error("cannot open " + db.string());
    }
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
        const std::string msg = sqlite3_errmsg(h);
        sqlite3_close(h);
        throw std::runtime_error("query failed: " + msg + ": " + sql);
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        std::vector<std::string> row;
        for (int i = 0; i < sqlite3_column_count(st); ++i) {
            const auto* t = sqlite3_column_text(st, i);
            row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
        }
        rows.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return rows;
}

std::optional<int64_t> query_int(const fs::path& db, const std::string& sql) {
    auto rows = query_rows(db, sql);
    if (rows.empty() || rows[0].empty() || rows[0][0].empty()) return std::nullopt;
    return std::stoll(rows[0][0]);
}

fs::path write_testbed(const fs::path& dir, const std::string& toml_text) {
    fs::create_directories(dir / "zones");
    write_file(dir / "testbed.toml", toml_text);
    fs::copy_file(testbed_dir("city-centre") / "zones" / "city-centre.geojson", dir / "zones" / "city-centre.geojson",
                  fs::copy_options::overwrite_existing);
    return dir;
}

struct TestPublisher::Impl {
    zmq::context_t ctx{1};
    zmq::socket_t sock{ctx, zmq::socket_type::xpub};
    std::map<std::string, uint64_t> seq;
};

TestPublisher::TestPublisher(const std::string& endpoint) : impl_(new Impl) {
    impl_->sock.set(zmq::sockopt::sndhwm, 1'000'000);
    impl_->sock.set(zmq::sockopt::linger, 5000);
    impl_->sock.connect(endpoint);
}

TestPublisher::~TestPublisher() { delete impl_; }

bool TestPublisher::wait_for_subscriber(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        zmq::message_t m;
        impl_->sock.set(zmq::sockopt::rcvtimeo, 50);
        if (impl_->sock.recv(m) && m.size() > 0 && m.data<char>()[0] == 1) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            return true;
        }
    }
    return false;
}

bool TestPublisher::send(const std::string& topic, const std::string& payload, uint8_t content_type,
                         std::optional<uint64_t> seq, int64_t source_time_us) {
    wire::Header h;
    h.content_type = static_cast<wire::ContentType>(content_type);
    h.sequence = seq ? *seq : ++impl_->seq[topic];
    h.source_time_us = source_time_us;
    const auto hdr = wire::encode_header(h);
    return send_frames({topic, std::string(hdr.data(), hdr.size()), payload});
}

bool TestPublisher::send_frames(const std::vector<std::string>& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
        if (!impl_->sock.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none)) {
            return false;
        }
    }
    return true;
}

std::string senml(const std::string& base, const std::string& name, const std::string& unit, double v, double t_s) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "[{\"bn\":\"%s\",\"n\":\"%s\",\"u\":\"%s\",\"v\":%.6f,\"t\":%.3f}]", base.c_str(),
                  name.c_str(), unit.c_str(), v, t_s);
    return buf;
}

}  // namespace tb::test
