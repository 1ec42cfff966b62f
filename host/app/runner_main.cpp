// testbed-runner: runs ONE plugin in its own process for a testbed host (docs/isolation.md).
//
// The host starts it with the plugin file and an ipc endpoint; the runner connects a ZeroMQ PAIR
// socket, loads the plugin through the same loader the host uses, and then serves the host's
// requests (init, msg, tick, stop). Every host API call the plugin makes (log, publish,
// record_metric, record_event, config_get) is forwarded to the host, where the plugin's
// PluginContext executes it, so manifest checks, grants and budgets are the same as in-process.
// The runner limits itself (RLIMIT_AS, RLIMIT_CPU) before the plugin is loaded, dies with the
// host (PR_SET_PDEATHSIG plus a getppid() check) and reports conditions it can see itself
// (failed allocation, an exception escaping a raw C callback) before exiting with its own code.
//
// Thread safety: the runner's main thread drives the plugin; host API calls from threads the
// plugin starts itself are serialised on the link's mutex.
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "bus/feed_message.hpp"
#include "common/clock.hpp"
#include "isolation/protocol.hpp"
#include "loader/plugin_library.hpp"
#include "runtime/in_process.hpp"
#include "runtime/plugin_context.hpp"
#include "wire/wire.hpp"

namespace iso = tb::host::isolation;
using iso::dec;
using iso::enc;

namespace {

#if defined(__SANITIZE_ADDRESS__)
#define TB_RUNNER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TB_RUNNER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TB_RUNNER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TB_RUNNER_TSAN 1
#endif
#endif
// ASan and TSan reserve terabytes of address space for their shadow memory at start.
#if defined(TB_RUNNER_ASAN) || defined(TB_RUNNER_TSAN)
constexpr bool kShadowSanitizer = true;
#else
constexpr bool kShadowSanitizer = false;
#endif

[[noreturn]] void die(int code, const std::string& text) {
    std::fprintf(stderr, "testbed-runner[%d]: %s\n", static_cast<int>(getpid()), text.c_str());
    std::fflush(stderr);
    _exit(code);
}

// The runner's half of the host link.
class Link {
 public:
    Link(const std::string& endpoint, pid_t host_pid)
        : sock_(ctx_, zmq::socket_type::pair), host_pid_(host_pid) {
        sock_.set(zmq::sockopt::linger, 200);
        sock_.set(zmq::sockopt::sndhwm, 0);
        sock_.set(zmq::sockopt::rcvhwm, 0);
        sock_.connect(endpoint);
    }

    void send(const iso::Frames& f) {
        std::lock_guard lock(mu_);
        if (!iso::send_frames(sock_, f)) die(iso::kExitLink, "cannot send to the host");
    }

    void send_views(std::array<std::string_view, 2> parts) {
        std::lock_guard lock(mu_);
        if (!iso::send_views(sock_, parts)) die(iso::kExitLink, "cannot send to the host");
    }

    // Best effort from a failing context (new handler, terminate handler): never waits on the lock.
    void send_fatal(const std::string& reason, const std::string& text) {
        std::unique_lock lock(mu_, std::try_to_lock);
        if (lock.owns_lock()) {
            (void)iso::send_frames(sock_, {std::string(iso::kFatal), reason, text}, true);
            // Give ZeroMQ's I/O thread a moment to write the frames before _exit.
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

    // The next request from the host (queued ones first), valid until the next call of next().
    // Exits when the host is gone.
    const iso::Frames& next() {
        for (;;) {
            std::lock_guard lock(mu_);
            if (!pending_.empty()) {
                request_ = std::move(pending_.front());
                pending_.pop_front();
                return request_;
            }
            // Whatever is already queued is taken without a poll (one system call less per batch).
            if (iso::recv_into(sock_, request_, true)) return request_;
            if (auto f = recv_polled(std::chrono::milliseconds(50))) {
                request_ = std::move(*f);
                return request_;
            }
        }
    }

    // A synchronous host API call: send, then wait for the matching ret (other requests that
    // arrive meanwhile are queued for next()).
    iso::Frames call(iso::Frames request) {
        std::lock_guard lock(mu_);
        const uint64_t id = ++call_id_;
        request.insert(request.begin(), {std::string(iso::kCall), enc<uint64_t>(id)});
        if (!iso::send_frames(sock_, request)) die(iso::kExitLink, "cannot send to the host");
        for (;;) {
            auto f = recv_polled(std::chrono::milliseconds(50));
            if (!f) continue;
            if (!f->empty() && (*f)[0] == iso::kRet) {
                if (f->size() != 5 || dec<uint64_t>((*f)[1]) != id || !dec<int32_t>((*f)[2])) {
                    die(iso::kExitLink, "malformed or unexpected 'ret' from the host");
                }
                return *f;
            }
            pending_.push_back(std::move(*f));
        }
    }

 private:
    // Caller holds mu_.
    std::optional<iso::Frames> recv_polled(std::chrono::milliseconds timeout) {
        zmq::pollitem_t item{static_cast<void*>(sock_), 0, ZMQ_POLLIN, 0};
        try {
            zmq::poll(&item, 1, timeout);
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) die(iso::kExitLink, std::string("poll failed: ") + e.what());
        }
        if (getppid() != host_pid_) die(iso::kExitParentGone, "the host process is gone; exiting");
        if ((item.revents & ZMQ_POLLIN) == 0) return std::nullopt;
        return iso::recv_frames(sock_, true);
    }

    zmq::context_t ctx_{1};
    zmq::socket_t sock_;
    pid_t host_pid_;
    std::mutex mu_;
    std::deque<iso::Frames> pending_;
    iso::Frames request_;  // next()'s buffer, reused
    uint64_t call_id_ = 0;
};

Link* g_link = nullptr;

// ---- The tb_host_api the plugin sees: every call goes to the host. ----

Link& link(void* ctx) { return *static_cast<Link*>(ctx); }
std::string str(const char* s) { return s ? std::string(s) : std::string(); }

tb_status finish(const iso::Frames& ret, tb_error* err, std::string* value = nullptr) {
    const tb_status rc = *dec<int32_t>(ret[2]);
    if (rc != TB_OK) tb::host::fill_error(err, rc, ret[3]);
    if (value) *value = ret[4];
    return rc;
}

void api_log(void* ctx, int32_t level, const char* msg) {
    // Warnings and errors are what an incident report needs, and a crash right after them would
    // lose a queued message: they wait for the host's acknowledgement. The rest is fire-and-forget.
    if (level >= TB_LOG_WARN) {
        (void)link(ctx).call({std::string(iso::kOpLog), enc<int32_t>(level), str(msg)});
    } else {
        link(ctx).send({std::string(iso::kLog), enc<int32_t>(level), str(msg)});
    }
}

tb_status api_publish(void* ctx, const char* topic, const void* data, size_t size,
                      int32_t content_type, tb_error* err) {
    if (topic == nullptr || (data == nullptr && size > 0)) {
        tb::host::fill_error(err, TB_E_INVALID_ARG,
                             "publish: topic is null, or data is null with a non-zero size");
        return TB_E_INVALID_ARG;
    }
    std::string bytes(static_cast<const char*>(data), size);
    return finish(link(ctx).call({std::string(iso::kOpPublish), topic, std::move(bytes),
                                  enc<int32_t>(content_type)}),
                  err);
}

// Metrics and events are one-way ('post'): the plugin does not wait a round trip per record. The
// runner decides the return code itself with the host's rules (declared metric, finite value,
// severity, kind, detail JSON, and a mirror of the record budget); the host executes and counts
// every record again, so its counters and the stored rows stay authoritative.
struct RecordRules {
    std::set<std::string, std::less<>> metrics;  // declared in the manifest
    double budget_per_s = 0;                     // 0 = unlimited
    std::mutex mu;                               // the bucket (plugin threads may record too)
    double tokens = 0;
    int64_t tokens_at_ns = 0;

    bool take_token() {
        if (budget_per_s <= 0) return true;
        std::lock_guard lock(mu);
        const int64_t now = tb::host::mono_ns();
        tokens = std::min(budget_per_s,
                          tokens + static_cast<double>(now - tokens_at_ns) * 1e-9 * budget_per_s);
        tokens_at_ns = now;
        if (tokens < 1) return false;
        tokens -= 1;
        return true;
    }
};
RecordRules g_rules;

tb_status api_record_metric(void* ctx, const char* name, const char* subject, double value,
                            int64_t time_us, tb_error* err) {
    if (name == nullptr) {
        tb::host::fill_error(err, TB_E_INVALID_ARG, "record_metric: name is null");
        return TB_E_INVALID_ARG;
    }
    link(ctx).send({std::string(iso::kPost), std::string(iso::kOpMetric), name, str(subject),
                    enc<double>(value), enc<int64_t>(time_us)});
    if (g_rules.metrics.find(std::string_view(name)) == g_rules.metrics.end()) {
        tb::host::fill_error(
            err, TB_E_NOT_FOUND,
            "record_metric: metric '" + std::string(name) + "' is not declared in the manifest");
        return TB_E_NOT_FOUND;
    }
    if (!std::isfinite(value)) {
        tb::host::fill_error(
            err, TB_E_INVALID_ARG,
            "record_metric: value of '" + std::string(name) + "' is not a finite number");
        return TB_E_INVALID_ARG;
    }
    if (!g_rules.take_token()) {
        tb::host::fill_error(err, TB_E_BUSY,
                             "record budget of " + std::to_string(g_rules.budget_per_s) +
                                 " records/s exceeded; sample dropped");
        return TB_E_BUSY;
    }
    return TB_OK;
}

tb_status api_record_event(void* ctx, int32_t severity, const char* kind, const char* subject,
                           const char* message, const char* detail_json, tb_error* err) {
    link(ctx).send({std::string(iso::kPost), std::string(iso::kOpEvent), enc<int32_t>(severity),
                    str(kind), str(subject), str(message), str(detail_json)});
    if (severity < TB_SEV_INFO || severity > TB_SEV_CRITICAL) {
        tb::host::fill_error(
            err, TB_E_INVALID_ARG,
            "record_event: severity " + std::to_string(severity) + " is not a tb_severity (1..4)");
        return TB_E_INVALID_ARG;
    }
    if (kind == nullptr || *kind == '\0') {
        tb::host::fill_error(err, TB_E_INVALID_ARG, "record_event: kind is empty");
        return TB_E_INVALID_ARG;
    }
    if (detail_json != nullptr && *detail_json != '\0' && !tb::wire::valid_json(detail_json)) {
        tb::host::fill_error(err, TB_E_INVALID_ARG, "record_event: detail_json is not valid JSON");
        return TB_E_INVALID_ARG;
    }
    if (!g_rules.take_token()) {
        tb::host::fill_error(err, TB_E_BUSY,
                             "record budget of " + std::to_string(g_rules.budget_per_s) +
                                 " records/s exceeded; event dropped");
        return TB_E_BUSY;
    }
    return TB_OK;
}

tb_status api_config_get(void* ctx, const char* key, char* buf, size_t buf_size, size_t* out_len,
                         tb_error* err) {
    if (key == nullptr) {
        tb::host::fill_error(err, TB_E_INVALID_ARG, "config_get: key is null");
        return TB_E_INVALID_ARG;
    }
    std::string value;
    const tb_status rc = finish(link(ctx).call({std::string(iso::kOpConfig), key}), err, &value);
    if (rc != TB_OK) return rc;
    if (out_len) *out_len = value.size();
    if (buf == nullptr || buf_size < value.size() + 1) {
        tb::host::fill_error(err, TB_E_TOO_SMALL,
                             "config_get: buffer too small for '" + std::string(key) + "', need " +
                                 std::to_string(value.size() + 1) + " bytes");
        return TB_E_TOO_SMALL;
    }
    std::memcpy(buf, value.data(), value.size());
    buf[value.size()] = '\0';
    return TB_OK;
}

// CLOCK_MONOTONIC is system-wide, so the runner's clock is the host's clock: no round trip.
int64_t api_monotonic_ns(void* /*ctx*/) { return tb::host::mono_ns(); }

// Every function the host table offers must be offered here too; this fails to compile when
// tb_host_api grows (ABI 1.2+) until the runner forwards the new function.
static_assert(sizeof(tb_host_api) ==
                  offsetof(tb_host_api, monotonic_ns) + sizeof(tb_host_api::monotonic_ns),
              "tb_host_api grew: add the new host function to the runner's table");

const tb_host_api kApi = [] {
    tb_host_api a{};
    a.struct_size = sizeof(tb_host_api);
    a.abi_major = TB_ABI_MAJOR;
    a.abi_minor = TB_ABI_MINOR;
    a.log = &api_log;
    a.publish = &api_publish;
    a.record_metric = &api_record_metric;
    a.record_event = &api_record_event;
    a.config_get = &api_config_get;
    a.monotonic_ns = &api_monotonic_ns;
    return a;
}();

void on_allocation_failure() {
    if (g_link)
        g_link->send_fatal("memory_limit",
                           "an allocation failed: the runner's memory limit is reached");
    die(iso::kExitMemory, "allocation failed (memory limit)");
}

void on_terminate() {
    std::string what = "unknown exception";
    if (auto e = std::current_exception()) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            what = ex.what();
        } catch (...) {
        }
    }
    if (g_link) g_link->send_fatal("uncaught_exception", "std::terminate: " + what);
    die(iso::kExitUncaught, "terminate: " + what);
}

void set_limit(int resource, rlim_t soft, rlim_t hard, const char* what) {
    rlimit r{soft, hard};
    if (setrlimit(resource, &r) != 0)
        die(iso::kExitUsage, std::string("cannot set ") + what + ": " + std::strerror(errno));
}

struct Args {
    std::string plugin, endpoint, cgroup_procs;
    pid_t host_pid = 0;
    int progress_fd = -1;
    uint64_t memory_mb = 0, cpu_s = 0;
    int nice = 0;
};

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (i + 1 >= argc) die(iso::kExitUsage, "option '" + k + "' needs a value");
        const std::string v = argv[++i];
        try {
            if (k == "--plugin")
                a.plugin = v;
            else if (k == "--endpoint")
                a.endpoint = v;
            else if (k == "--host-pid")
                a.host_pid = static_cast<pid_t>(std::stol(v));
            else if (k == "--memory-limit-mb")
                a.memory_mb = std::stoull(v);
            else if (k == "--cpu-limit-s")
                a.cpu_s = std::stoull(v);
            else if (k == "--cgroup")
                a.cgroup_procs = v;
            else if (k == "--progress-fd")
                a.progress_fd = std::stoi(v);
            else if (k == "--nice")
                a.nice = std::stoi(v);
            else
                die(iso::kExitUsage, "unknown option '" + k + "'");
        } catch (const std::logic_error&) {
            die(iso::kExitUsage, "option '" + k + "' needs a number, not '" + v + "'");
        }
    }
    if (a.plugin.empty() || a.endpoint.empty() || a.host_pid <= 0) {
        die(iso::kExitUsage,
            "usage: testbed-runner --plugin FILE.so --endpoint ipc://... --host-pid PID "
            "[--progress-fd FD] "
            "[--memory-limit-mb N] [--cpu-limit-s N] [--cgroup CGROUP.PROCS] [--nice N] (started "
            "by testbed-host, "
            "not by hand)");
    }
    return a;
}

}  // namespace

#ifdef TB_RUNNER_ASAN
// A plugin's crash must end the runner with the signal, as in a normal build, so that the host
// records `segfault`/`crash` (ASan would report and exit with status 1: an `exit` incident).
// ASan's own findings (overflows, use after free) abort, which the host records as `abort`.
extern "C" const char* __asan_default_options() {
    return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:abort_on_error=1";
}
#endif
#ifdef TB_RUNNER_TSAN
// The same for ThreadSanitizer, which would report a plugin's crash and exit with status 66.
extern "C" const char* __tsan_default_options() {
    return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0";
}
#endif

int main(int argc, char** argv) {
    const Args args = parse_args(argc, argv);
    // Die with the host even when it is SIGKILLed; the check closes the race with an early death.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != args.host_pid) die(iso::kExitParentGone, "the host process is gone; exiting");
    // Join the cgroup the host made for this runner before any plugin code runs, so every byte the
    // plugin touches counts against its memory limit.
    if (!args.cgroup_procs.empty()) {
        FILE* procs = std::fopen(args.cgroup_procs.c_str(), "w");
        if (procs == nullptr || std::fprintf(procs, "%d\n", static_cast<int>(getpid())) < 0 ||
            std::fclose(procs) != 0) {
            die(iso::kExitUsage,
                "cannot join the cgroup " + args.cgroup_procs + ": " + std::strerror(errno));
        }
    }
    // Ctrl-C in a terminal reaches the whole process group; the host stops us in order instead.
    std::signal(SIGINT, SIG_IGN);
    if (args.memory_mb > 0 && !kShadowSanitizer) {
        const rlim_t bytes = static_cast<rlim_t>(args.memory_mb) * 1024 * 1024;
        set_limit(RLIMIT_AS, bytes, bytes, "RLIMIT_AS");
    } else if (args.memory_mb > 0) {
        // ASan and TSan reserve terabytes of address space up front: under RLIMIT_AS nothing would
        // run. The cgroup memory limit (when the host could create one) still holds.
        std::fprintf(
            stderr,
            "testbed-runner[%d]: built with AddressSanitizer or ThreadSanitizer: RLIMIT_AS "
            "(memory_limit_mb = %llu) is not set; only a cgroup memory limit applies\n",
            static_cast<int>(getpid()), static_cast<unsigned long long>(args.memory_mb));
    }
    if (args.cpu_s > 0) set_limit(RLIMIT_CPU, args.cpu_s, args.cpu_s + 1, "RLIMIT_CPU");
    // Below the host in CPU priority (nice is inherited; this adds to it, capped at 19), so a
    // busy plugin cannot delay the host, its control plane (an emergency stop) or an operator's
    // commands on a small machine.
    if (args.nice > 0) {
        errno = 0;
        if (::nice(args.nice) == -1 && errno != 0) {
            die(iso::kExitUsage, "cannot lower the runner's priority by " +
                                     std::to_string(args.nice) + ": " + std::strerror(errno));
        }
    }
    // The host's view of our progress (iso::Progress); a private one when run without a host page.
    static iso::Progress own_progress;
    iso::Progress* progress = &own_progress;
    if (args.progress_fd >= 0) {
        void* page = mmap(nullptr, sizeof(iso::Progress), PROT_READ | PROT_WRITE, MAP_SHARED,
                          args.progress_fd, 0);
        if (page == MAP_FAILED)
            die(iso::kExitUsage, std::string("cannot map --progress-fd: ") + std::strerror(errno));
        ::close(args.progress_fd);
        progress = static_cast<iso::Progress*>(page);
    }

    Link lk(args.endpoint, args.host_pid);
    g_link = &lk;
    std::set_new_handler(&on_allocation_failure);
    std::set_terminate(&on_terminate);

    auto lib = tb::host::PluginLibrary::load(args.plugin);
    if (!lib) {
        lk.send({std::string(iso::kInitFailed), lib.error().message});
        die(iso::kExitLoad, lib.error().message);
    }
    const tb_plugin_desc& desc = (*lib)->desc();
    for (const auto& m : (*lib)->manifest().metrics) g_rules.metrics.insert(m.name);
    lk.send({std::string(iso::kHello), iso::enc<int32_t>(static_cast<int32_t>(getpid())),
             enc<uint32_t>(iso::kProtocolVersion)});
    if (args.memory_mb > 0 && kShadowSanitizer) {
        lk.send({std::string(iso::kLog), enc<int32_t>(TB_LOG_INFO),
                 "testbed-runner is built with AddressSanitizer or ThreadSanitizer: "
                 "memory_limit_mb is not "
                 "applied as RLIMIT_AS (only a cgroup memory limit applies)"});
    }

    void* self = nullptr;
    tb::host::FeedMessage msg;
    std::string error_text, done_frame;
    auto bad = [](const std::string& what) {
        die(iso::kExitLink, "malformed request from the host: " + what);
    };
    for (;;) {
        const iso::Frames& f = lk.next();
        if (f.empty()) bad("empty message");
        const std::string_view verb = f[0];
        if (verb == iso::kMsg || verb == iso::kTick) {
            if (self == nullptr) bad("'" + std::string(verb) + "' before init");
            const bool is_msg = verb == iso::kMsg;
            if (is_msg && (f.size() != 2 || f[1].empty())) {
                bad("'msg' needs 2 frames, the second with 1 to " + std::to_string(iso::kMaxBatch) +
                    " records");
            }
            std::size_t pos = 0;  // the next record in a 'msg' frame
            for (std::size_t k = 0; is_msg ? pos < f[1].size() : k < 1; ++k) {
                iso::MsgRecord rec;
                uint64_t seq = 0;
                if (is_msg) {
                    tb::wire::DropReason why{};
                    if (k == iso::kMaxBatch || !iso::read_msg_record(f[1], pos, rec) ||
                        !tb::wire::decode_header(rec.header, msg.header, why)) {
                        bad("'msg' record " + std::to_string(k + 1) +
                            " is cut short, has a bad header, or is past " +
                            std::to_string(iso::kMaxBatch));
                    }
                    seq = rec.seq;
                } else {
                    const auto tick_seq = f.size() == 3 ? dec<uint64_t>(f[1]) : std::nullopt;
                    if (!tick_seq || !dec<int64_t>(f[2])) bad("'tick' frame sizes");
                    seq = *tick_seq;
                }
                const bool last = !is_msg || pos == f[1].size();
                if (is_msg && seq <= progress->skip_through.load(std::memory_order_acquire)) {
                    // Suspended meanwhile: answered, not delivered. done_seq is not advanced, so
                    // should the runner die now, these still count as not delivered.
                    iso::append_done(done_frame, {seq, iso::kSkipped, 0, 0, {}});
                    if (last) {
                        lk.send_views({iso::kDone, done_frame});
                        done_frame.clear();
                    }
                    continue;
                }
                int32_t rc = TB_OK;
                error_text.clear();
                const int64_t t0 = tb::host::mono_ns();
                progress->started_ns.store(t0, std::memory_order_relaxed);
                try {
                    if (is_msg) {
                        msg.topic.assign(rec.topic);
                        msg.payload.assign(rec.payload);
                        msg.receive_time_us = rec.receive_time_us;
                        rc = tb::host::call_on_message(desc, self, msg, error_text);
                    } else {
                        const auto now = dec<int64_t>(f[2]);
                        if (desc.on_tick != nullptr) {
                            tb_error err{};
                            err.struct_size = sizeof err;
                            rc = desc.on_tick(self, *now, &err);
                            err.message[sizeof err.message - 1] = '\0';
                            if (rc != TB_OK) error_text = err.message;
                        }
                    }
                } catch (const std::exception& e) {
                    // Only a raw C plugin gets here: the C++ layer turns exceptions into codes.
                    lk.send_fatal(
                        "uncaught_exception",
                        std::string("exception escaped the plugin's C callback: ") + e.what());
                    die(iso::kExitUncaught, e.what());
                } catch (...) {
                    lk.send_fatal("uncaught_exception",
                                  "a non-standard exception escaped the plugin's C callback");
                    die(iso::kExitUncaught, "unknown exception");
                }
                // The progress page says at once that this one is done (a crash now loses nothing
                // the plugin handled); the replies go together at the end of the batch, or at once
                // after a failure, so its error is reported even if the next message crashes.
                if (rc == iso::kSkipped) rc = TB_E_INTERNAL;  // a plugin cannot claim a skip
                iso::append_done(done_frame, {seq, rc, t0, tb::host::mono_ns() - t0, error_text});
                progress->done_seq.store(seq, std::memory_order_release);
                if (last || rc != TB_OK) {
                    lk.send_views({iso::kDone, done_frame});
                    done_frame.clear();
                }
            }
        } else if (verb == iso::kInit) {
            const auto budget = f.size() == 3 ? dec<double>(f[2]) : std::nullopt;
            if (self != nullptr || !budget)
                bad("unexpected or malformed 'init' (config, record budget)");
            g_rules.budget_per_s = *budget;
            g_rules.tokens = *budget;  // a full bucket, as the host's
            g_rules.tokens_at_ns = tb::host::mono_ns();
            tb_error err{};
            err.struct_size = sizeof err;
            self = desc.create(&kApi, &lk, f[1].c_str(), &err);
            err.message[sizeof err.message - 1] = '\0';
            if (self == nullptr) {
                lk.send(
                    {std::string(iso::kInitFailed),
                     "create failed: " + std::string(err.message[0] ? err.message : "no message") +
                         " (code " + std::to_string(err.code) + ")"});
                continue;
            }
            if (desc.start != nullptr) {
                err = tb_error{};
                err.struct_size = sizeof err;
                if (const tb_status rc = desc.start(self, &err); rc != TB_OK) {
                    err.message[sizeof err.message - 1] = '\0';
                    desc.destroy(self);
                    self = nullptr;
                    lk.send({std::string(iso::kInitFailed),
                             "start failed: " + std::string(err.message) + " (code " +
                                 std::to_string(rc) + ")"});
                    continue;
                }
            }
            lk.send({std::string(iso::kReady)});
        } else if (verb == iso::kStop) {
            if (self != nullptr) {
                if (desc.stop != nullptr) {
                    tb_error err{};
                    err.struct_size = sizeof err;
                    if (desc.stop(self, &err) != TB_OK) {
                        err.message[sizeof err.message - 1] = '\0';
                        api_log(&lk, TB_LOG_WARN,
                                (std::string("stop() failed: ") + err.message).c_str());
                    }
                }
                desc.destroy(self);
            }
            lk.send({std::string(iso::kBye)});
            g_link = nullptr;
            return 0;  // the Link's linger lets 'bye' reach the host
        } else {
            bad("unknown verb '" + std::string(verb.substr(0, 32)) + "'");
        }
    }
}
