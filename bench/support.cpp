#include "bench.hpp"

#include "wire/wire.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace tb::bench {

int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int64_t mono_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void ReadingGenerator::next(Reading& r) {
    x_ = 1664525u * x_ + 1013904223u;  // mod 2^32 by unsigned wrap-around
    const uint64_t i = i_++;
    const auto k =
        static_cast<int>((static_cast<uint64_t>(x_) * 3000u) >> 32);  // floor(x*3000/2^32)
    r.level_mm = k - 3000;
    const auto sensor = static_cast<int>(i % static_cast<uint64_t>(sensors_));
    r.sequence = i / static_cast<uint64_t>(sensors_) + 1;
    const uint64_t t_s = 1764300000u + i / 1000u;
    const auto t_ms = static_cast<unsigned>(i % 1000u);
    r.t_us = static_cast<int64_t>(t_s) * 1'000'000 + static_cast<int64_t>(t_ms) * 1000;
    char name[16];
    std::snprintf(name, sizeof name, sensors_ > 1000 ? "GW-%05d" : "GW-%04d", sensor);
    r.topic = "sensor/groundwater/";
    r.topic += name;
    const int a = r.level_mm < 0 ? -r.level_mm : r.level_mm;
    char buf[192];
    std::snprintf(buf, sizeof buf,
                  "[{\"bn\":\"urn:dev:enschede:gw:%s:\",\"n\":\"level\",\"u\":\"m\",\"v\":%s%d.%"
                  "03d,\"t\":%llu.%03u}]",
                  name, r.level_mm < 0 ? "-" : "", a / 1000, a % 1000,
                  static_cast<unsigned long long>(t_s), t_ms);
    r.payload = buf;
}

uint64_t expected_alerts(uint64_t n) {
    ReadingGenerator g;
    Reading r;
    uint64_t alerts = 0;
    for (uint64_t i = 0; i < n; ++i) {
        g.next(r);
        if (r.alert()) ++alerts;
    }
    return alerts;
}

Sender::Sender(const std::string& endpoint, int sndhwm)
    : ctx_(std::make_unique<zmq::context_t>(1)),
      sock_(std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::xpub)) {
    sock_->set(zmq::sockopt::sndhwm, sndhwm);
    sock_->set(zmq::sockopt::xpub_verbose, 1);
    sock_->set(zmq::sockopt::xpub_nodrop, 1);
    sock_->set(zmq::sockopt::linger, 0);
    sock_->connect(endpoint);
}

Sender::~Sender() {
    sock_->close();
    ctx_->close();
}

bool Sender::wait_for_subscriber(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    zmq::pollitem_t items[] = {{static_cast<void*>(*sock_), 0, ZMQ_POLLIN, 0}};
    while (std::chrono::steady_clock::now() < deadline) {
        zmq::poll(items, 1, std::chrono::milliseconds(20));
        if (items[0].revents & ZMQ_POLLIN) {
            zmq::message_t m;
            if (sock_->recv(m, zmq::recv_flags::dontwait) && m.size() > 0 &&
                m.data<char>()[0] == 1) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                return true;
            }
        }
    }
    return false;
}

void Sender::send(const Reading& r, int64_t source_time_us) {
    wire::Header h;
    h.content_type = wire::ContentType::senml_json;
    h.sequence = r.sequence;
    h.source_time_us = source_time_us;
    const auto hdr = wire::encode_header(h);
    // With xpub_nodrop a full queue makes send() block (back-pressure), never drop.
    (void)sock_->send(zmq::buffer(r.topic.data(), r.topic.size()), zmq::send_flags::sndmore);
    (void)sock_->send(zmq::buffer(hdr.data(), hdr.size()), zmq::send_flags::sndmore);
    (void)sock_->send(zmq::buffer(r.payload.data(), r.payload.size()), zmq::send_flags::none);
}

std::optional<HostStatus> read_status(const fs::path& file) {
    FILE* f = std::fopen(file.c_str(), "r");
    if (f == nullptr) return std::nullopt;
    unsigned long long rows = 0;
    long long t = 0;
    const int n = std::fscanf(f, "{\"committed_rows\":%llu,\"t_us\":%lld", &rows, &t);
    std::fclose(f);
    if (n != 2) return std::nullopt;
    return HostStatus{rows, t};
}

HostProcess::HostProcess(const fs::path& exe, const std::vector<std::string>& args,
                         const fs::path& log_dir) {
    static int seq = 0;
    ++seq;
    out_ = log_dir / ("host-" + std::to_string(seq) + ".out");
    err_ = log_dir / ("host-" + std::to_string(seq) + ".err");
    std::vector<std::string> argv_s{exe.string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    spawned_ns_ = mono_ns();
    pid_ = fork();
    if (pid_ == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        const int o = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int e = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv.data());
        _exit(127);
    }
}

HostProcess::~HostProcess() {
    if (pid_ > 0 && status_ < 0) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        int st = 0;
        waitpid(pid_, &st, 0);
    }
}

bool HostProcess::wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (out().find("testbed-host: ready") != std::string::npos) return true;
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return false;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    return false;
}

long HostProcess::rss_kb() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return 0;
}

int HostProcess::stop(std::chrono::milliseconds grace) {
    if (status_ >= 0) return status_;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    for (;;) {
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            kill(-pid_, SIGKILL);
            waitpid(pid_, &st, 0);
            status_ = 128 + SIGKILL;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(-pid_, SIGKILL);  // anything the host left in its group
    return status_;
}

std::string HostProcess::out() const { return read_file(out_); }
std::string HostProcess::err() const { return read_file(err_); }

Paths Paths::discover() {
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    Paths p;
    p.bin = ec ? fs::current_path() : exe.parent_path();
    p.plugins = p.bin.parent_path() / "plugins";
    p.bench_plugins = p.bin.parent_path() / "bench-plugins";
    return p;
}

ScratchDir::ScratchDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("tb-bench-" + std::to_string(getpid()) + "-" + std::to_string(rd() % 100000));
    fs::create_directories(path_);
}

ScratchDir::~ScratchDir() {
    if (std::getenv("TB_KEEP_BENCH_DIRS") == nullptr) {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
}

std::optional<double> query_double(const fs::path& db, const std::string& sql) {
    sqlite3* h = nullptr;
    if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(h);
        return std::nullopt;
    }
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt* st = nullptr;
    std::optional<double> out;
    if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        out = sqlite3_column_double(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

void write_file(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::trunc);
    out << text;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace tb::bench
