#include "isolation/process_instance.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <new>
#include <random>
#include <thread>
#include <zmq.hpp>

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "isolation/cgroup.hpp"
#include "isolation/protocol.hpp"
#include "runtime/latency_histogram.hpp"
#include "wire/wire.hpp"

extern char** environ;

namespace tb::host {
namespace fs = std::filesystem;
namespace iso = isolation;

fs::path default_runner_path() {
    if (const char* env = std::getenv("TB_RUNNER"); env != nullptr && *env != '\0') return env;
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return "testbed-runner";
    return exe.parent_path() / "testbed-runner";
}

ProcessOptions process_options_for(const PluginSpec* spec, int64_t run_id,
                                   const PluginLibrary& lib) {
    ProcessOptions po;
    po.run_id = run_id;
    po.runner = default_runner_path();
    po.plugin_file = lib.file();
    po.tick_interval_ms = lib.desc().on_tick != nullptr ? lib.manifest().tick_interval_ms : 0;
    if (spec != nullptr) {
        po.inbox = {spec->inbox_capacity, spec->overflow};
        po.restart_max = spec->restart_max;
        po.restart_backoff = std::chrono::milliseconds(spec->restart_backoff_ms);
        po.restart_backoff_max = std::chrono::milliseconds(spec->restart_backoff_max_ms);
        po.callback_deadline = std::chrono::milliseconds(spec->callback_deadline_ms);
        po.memory_limit_mb = spec->memory_limit_mb;
        po.cpu_limit_s = spec->cpu_limit_s;
        po.nice = spec->nice;
        po.record_budget_per_s = spec->record_budget_per_s;
        po.restart_reset = std::chrono::seconds(spec->restart_reset_s);
    }
    return po;
}

namespace {

std::string signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// Socket files of hosts that were killed (SIGKILL leaves them behind): removed once per process.
void remove_stale_sockets(const fs::path& dir) {
    static std::once_flag once;
    std::call_once(once, [&] {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            const std::string n = e.path().filename().string();
            if (n.rfind("tb-", 0) != 0 || n.size() < 6 || n.substr(n.size() - 5) != ".sock")
                continue;
            const auto dash = n.find('-', 3);
            if (dash == std::string::npos) continue;
            const std::string pid = n.substr(3, dash - 3);
            if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
            if (!fs::exists("/proc/" + pid, ec)) fs::remove(e.path(), ec);
        }
    });
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    return -1;
#endif
}

class ProcessInstance final : public PluginInstance {
 public:
    ProcessInstance(std::unique_ptr<PluginContext> ctx, ProcessOptions opt, IncidentSink sink)
        : PluginInstance(std::move(ctx)),
          opt_(std::move(opt)),
          sink_(std::move(sink)),
          log_(logger("isolation")),
          rng_(std::random_device{}()) {
        wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (opt_.socket_dir.empty()) opt_.socket_dir = fs::temp_directory_path();
        map_progress_page();
    }

    ~ProcessInstance() override {
        stop(std::chrono::milliseconds(0));
        if (wake_fd_ >= 0) ::close(wake_fd_);
        if (progress_ != &own_progress_) ::munmap(progress_, sizeof(iso::Progress));
        if (progress_fd_ >= 0) ::close(progress_fd_);
    }

    std::string_view mode() const override { return "process"; }

    Status start() override {
        if (io_.joinable()) return Error{"plugin '" + name() + "' is already started", "state"};
        if (wake_fd_ < 0)
            return Error{"plugin '" + name() + "': eventfd failed: " + std::strerror(errno),
                         "system"};
        std::error_code ec;
        if (!fs::exists(opt_.runner, ec)) {
            state_.store(PluginState::failed);
            return Error{"plugin '" + name() + "': the isolated runner '" + opt_.runner.string() +
                             "' does not exist (install testbed-runner next to testbed-host, set "
                             "$TB_RUNNER, or "
                             "run the plugin with isolation = \"in-process\" if it is trusted)",
                         "runner"};
        }
        remove_stale_sockets(opt_.socket_dir);
        auto started = start_promise_.get_future();
        io_ = std::thread([this] { run(); });
        Status s = started.get();
        if (s) state_.store(suspended_.load() ? PluginState::suspended : PluginState::running);
        return s;
    }

    void deliver(const FeedMessagePtr& msg) override {
        auto& c = context().counters();
        c.offered.fetch_add(1, std::memory_order_relaxed);
        if (state_.load(std::memory_order_acquire) != PluginState::running) {
            c.dropped_not_running.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        bool wake = false;
        {
            std::lock_guard lock(mu_);
            if (inbox_.size() >= opt_.inbox.capacity) {
                c.dropped_inbox.fetch_add(1, std::memory_order_relaxed);
                if (opt_.inbox.overflow == OverflowPolicy::drop_newest) return;
                inbox_.pop_front();
            }
            inbox_.push_back(msg);
            wake = !wake_pending_;
            wake_pending_ = true;
        }
        if (wake) poke();
    }

    void set_suspended(bool suspended) override {
        // Remembered, so a plugin suspended while its runner is down (back-off, restarting) comes
        // back suspended after the restart instead of running.
        const bool was_suspended = suspended_.exchange(suspended);
        // What is already on its way to the runner is skipped there, not delivered; on resume,
        // only what was sent before stays skipped (set before the state lets new batches go). A
        // resume of a plugin that was not suspended changes nothing: its messages in flight count.
        if (suspended) {
            progress_->skip_through.store(UINT64_MAX);
        } else if (was_suspended) {
            progress_->skip_through.store(sent_through_.load());
        }
        PluginState expected = suspended ? PluginState::running : PluginState::suspended;
        if (state_.compare_exchange_strong(
                expected, suspended ? PluginState::suspended : PluginState::running) &&
            suspended) {
            std::lock_guard lock(mu_);
            context().counters().dropped_not_running.fetch_add(inbox_.size(),
                                                               std::memory_order_relaxed);
            inbox_.clear();
        }
    }

    // After set_suspended(true) the I/O thread sends nothing more, but up to a window of messages
    // may already be on their way to the runner: the suspension is only complete (the plugin
    // receives nothing more) once their replies are in. The runner skips them (the progress
    // page's skip_through), so this waits for the callback running now at most. (The
    // emergency-stop benchmark saw a whole window delivered after the acknowledgement before.)
    bool wait_idle(std::chrono::milliseconds timeout) override {
        const int64_t until = mono_ns() + ns(timeout);
        while (in_flight_count_.load() > 0) {
            if (mono_ns() >= until) return false;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        return true;
    }

    void stop(std::chrono::milliseconds drain_timeout) override {
        if (!io_.joinable()) return;
        drain_until_ns_.store(
            mono_ns() +
            std::chrono::duration_cast<std::chrono::nanoseconds>(drain_timeout).count());
        quit_.store(true);
        poke();
        io_.join();
        if (state_.load() != PluginState::failed) state_.store(PluginState::stopped);
    }

    PluginState state() const override { return state_.load(); }

    std::size_t inbox_depth() const override {
        std::lock_guard lock(mu_);
        return inbox_.size();
    }

    nlohmann::json stats_json() const override {
        auto j = base_stats_json();
        add_runtime_stats(j, callback_ns_, latency_ns_, opt_.inbox);
        j["restarts"] = restarts_total_.load();
        j["restart_budget_spent"] = restarts_.load();
        j["restart_max"] = opt_.restart_max;
        j["restart_reset_s"] = opt_.restart_reset.count();
        j["incidents"] = incidents_.load();
        j["runner_pid"] = runner_pid_.load();
        j["memory_limit_mb"] = opt_.memory_limit_mb;
        j["memory_cgroup"] = opt_.memory_limit_mb > 0 && iso::cgroup_support().available;
        j["cpu_limit_s"] = opt_.cpu_limit_s;
        j["nice"] = opt_.nice;
        j["callback_deadline_ms"] = opt_.callback_deadline.count();
        std::lock_guard lock(mu_);
        j["last_error"] = last_error_.empty() ? nlohmann::json() : nlohmann::json(last_error_);
        return j;
    }

 private:
    enum class Phase { starting, running, backoff, failed, stopping, done };
    struct InFlight {
        uint64_t seq;
        bool tick;
        int64_t receive_mono_ns;
    };

    void poke() {
        const uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    }

    // ---- runner lifecycle (I/O thread) ----

    bool spawn() {
        ++generation_;
        endpoint_path_ = opt_.socket_dir /
                         ("tb-" + std::to_string(getpid()) + "-" + sanitized(name()).substr(0, 40) +
                          "-" + std::to_string(generation_) + ".sock");
        const std::string endpoint = "ipc://" + endpoint_path_.string();
        try {
            sock_ = std::make_unique<zmq::socket_t>(zctx_, zmq::socket_type::pair);
            sock_->set(zmq::sockopt::linger, 0);
            sock_->set(zmq::sockopt::sndhwm, 0);
            sock_->set(zmq::sockopt::rcvhwm, 0);
            sock_->bind(endpoint);
        } catch (const zmq::error_t& e) {
            set_last_error("cannot bind the runner socket " + endpoint + ": " + e.what());
            close_socket();
            return false;
        }
        std::vector<std::string> args = {opt_.runner.string(),
                                         "--plugin",
                                         opt_.plugin_file.string(),
                                         "--endpoint",
                                         endpoint,
                                         "--host-pid",
                                         std::to_string(getpid())};
        // The memory limit as RSS through a cgroup of its own, where the host can create one.
        cgroup_.reset();
        cgroup_oom_ = false;
        if (opt_.memory_limit_mb > 0) {
            std::string why;
            cgroup_ = iso::RunnerCgroup::create(
                sanitized(name()).substr(0, 40) + "-" + std::to_string(generation_),
                opt_.memory_limit_mb, why);
            if (cgroup_) {
                // RSS is what matters; an address-space limit on top would only trip first.
                args.insert(args.end(), {"--cgroup", cgroup_->procs_file().string()});
            } else {
                args.insert(args.end(),
                            {"--memory-limit-mb", std::to_string(opt_.memory_limit_mb)});
                static std::once_flag once;
                std::call_once(once, [&] {
                    log_->warn(
                        "runner cgroups are not used, memory_limit_mb is enforced as RLIMIT_AS "
                        "only: {}",
                        why);
                });
            }
        }
        if (opt_.cpu_limit_s > 0)
            args.insert(args.end(), {"--cpu-limit-s", std::to_string(opt_.cpu_limit_s)});
        if (opt_.nice > 0) args.insert(args.end(), {"--nice", std::to_string(opt_.nice)});
        posix_spawn_file_actions_t files;
        posix_spawn_file_actions_init(&files);
        if (progress_fd_ >= 0) {
            progress_->done_seq.store(0);  // skip_through stays: a suspension outlives a runner
            progress_->started_ns.store(0);
            posix_spawn_file_actions_adddup2(&files, progress_fd_, iso::kProgressFd);
            args.insert(args.end(), {"--progress-fd", std::to_string(iso::kProgressFd)});
        }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        // The host blocks SIGINT/SIGTERM in every thread (main.cpp); a child must not inherit that.
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t none, defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGXCPU}) sigaddset(&defaults, s);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        pid_t pid = -1;
        const int rc = posix_spawn(&pid, args[0].c_str(), &files, &attr, argv.data(), environ);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&files);
        if (rc != 0) {
            set_last_error("cannot start " + opt_.runner.string() + ": " + std::strerror(rc));
            close_socket();
            return false;
        }
        pid_ = pid;
        runner_pid_.store(pid);
        pidfd_ = open_pidfd(pid);
        hello_ = false;
        kill_reason_.clear();
        kill_detail_.clear();
        fatal_reason_.clear();
        fatal_text_.clear();
        phase_ = Phase::starting;
        phase_deadline_ns_ = mono_ns() + ns(opt_.start_timeout);
        log_->debug("plugin '{}': runner pid {} started ({})", name(), pid, endpoint);
        return true;
    }

    void kill_runner(const std::string& reason, const std::string& detail) {
        if (pid_ <= 0) return;
        if (kill_reason_.empty()) {
            kill_reason_ = reason;
            kill_detail_ = detail;
        }
        ::kill(pid_, SIGKILL);
    }

    // Reap the runner if it has exited; returns true (and the status) when it has.
    bool reap(int& status, bool block) {
        if (pid_ <= 0) return false;
        const pid_t r = waitpid(pid_, &status, block ? 0 : WNOHANG);
        if (r != pid_) return false;
        pid_ = -1;
        runner_pid_.store(0);
        if (cgroup_) {
            cgroup_oom_ = cgroup_->oom_killed();
            cgroup_.reset();  // removes it: its only process is gone
        }
        if (pidfd_ >= 0) ::close(pidfd_);
        pidfd_ = -1;
        close_socket();
        return true;
    }

    // Close this generation's socket and remove its ipc file (ZeroMQ leaves it behind).
    void close_socket() {
        sock_.reset();
        if (!endpoint_path_.empty()) {
            std::error_code ec;
            fs::remove(endpoint_path_, ec);
            endpoint_path_.clear();
        }
    }

    void discard_inbox() {
        std::lock_guard lock(mu_);
        context().counters().dropped_not_running.fetch_add(inbox_.size(),
                                                           std::memory_order_relaxed);
        inbox_.clear();
    }

    // The runner is gone (or no longer waited for): what it had handled, by its progress page,
    // counts as delivered (its reply was not sent yet), the rest as dropped.
    void drop_in_flight() {
        const uint64_t handled_through = progress_->done_seq.load(std::memory_order_acquire);
        uint64_t lost = 0, handled = 0;
        for (const auto& f : in_flight_) {
            if (f.tick) continue;
            ++(f.seq <= handled_through ? handled : lost);
        }
        context().counters().delivered.fetch_add(handled, std::memory_order_relaxed);
        context().counters().dropped_not_running.fetch_add(lost, std::memory_order_relaxed);
        in_flight_.clear();
        in_flight_count_.store(0);
        tick_in_flight_ = false;
    }

    // The runner is gone while it should be running: record an incident and restart or give up.
    void on_runner_exit(int status) {
        const bool was_starting = phase_ == Phase::starting;
        IncidentRow row;
        row.run_id = opt_.run_id;
        row.plugin_row = context().record().plugin_row;
        row.instance = name();
        row.t_us = now_us();
        std::string what;
        if (WIFSIGNALED(status)) {
            const int sig = WTERMSIG(status);
            row.signal = sig;
            what = "killed by " + signal_name(sig);
            if (sig == SIGSEGV)
                row.reason = "segfault";
            else if (sig == SIGABRT)
                row.reason = "abort";
            else if (sig == SIGBUS || sig == SIGILL || sig == SIGFPE)
                row.reason = "crash";
            else if (sig == SIGXCPU)
                row.reason = "cpu_limit";
            else if (sig == SIGKILL)
                row.reason = "killed";
            else
                row.reason = "signal";
        } else {
            const int code = WEXITSTATUS(status);
            row.exit_status = code;
            what = "exited with status " + std::to_string(code);
            switch (code) {
                case iso::kExitMemory:
                    row.reason = "memory_limit";
                    break;
                case iso::kExitUncaught:
                    row.reason = "uncaught_exception";
                    break;
                case iso::kExitLink:
                    row.reason = "protocol";
                    break;
                case iso::kExitLoad:
                    row.reason = "init_failed";
                    break;
                default:
                    row.reason = "exit";
                    break;
            }
        }
        // What the host itself did or was told outranks what the exit status suggests.
        std::string why;
        if (!kill_reason_.empty()) {
            row.reason = kill_reason_;
            why = kill_detail_;
        } else if (!fatal_reason_.empty()) {
            row.reason = fatal_reason_;
            why = fatal_text_;
        } else if (row.reason == "cpu_limit") {
            why = "the CPU time limit of " + std::to_string(opt_.cpu_limit_s) + " s was exceeded";
        } else if (row.reason == "killed" && cgroup_oom_) {
            row.reason = "memory_limit";
            why =
                "the kernel's OOM killer ended it in its cgroup: resident memory reached "
                "memory_limit_mb = " +
                std::to_string(opt_.memory_limit_mb) + " MB (cgroup memory limit)";
        } else if (row.reason == "killed" && opt_.memory_limit_mb > 0) {
            why =
                "killed from outside the host (the kernel's OOM killer, a cgroup memory limit, or "
                "an operator)";
        }
        row.detail = "runner " + what + (why.empty() ? "" : ": " + why);
        if (was_starting) row.detail += " (while starting)";
        row.log_tail = context().log_tail();
        row.restarts_before = restarts_.load();
        incidents_.fetch_add(1);
        set_last_error(row.reason + ": " + row.detail);

        if (restarts_.load() < opt_.restart_max) {
            const int n = restarts_.load();
            double delay = static_cast<double>(opt_.restart_backoff.count()) * std::pow(2.0, n);
            delay = std::min(delay, static_cast<double>(opt_.restart_backoff_max.count()));
            delay *= std::uniform_real_distribution<double>(
                0.8, 1.2)(rng_);  // jitter: no restart storms
            row.action = "restart";
            row.backoff_ms = static_cast<int64_t>(delay);
            phase_ = Phase::backoff;
            phase_deadline_ns_ = mono_ns() + row.backoff_ms * 1'000'000;
            state_.store(PluginState::restarting);
            log_->error("plugin '{}': {} ({}); restart {} of {} in {} ms", name(), row.detail,
                        row.reason, n + 1, opt_.restart_max, row.backoff_ms);
        } else {
            row.action = "gave_up";
            phase_ = Phase::failed;
            state_.store(PluginState::failed);
            log_->error("plugin '{}': {} ({}); restart budget of {} spent, the plugin stays down",
                        name(), row.detail, row.reason, opt_.restart_max);
        }
        // After the state changed, so deliver() stops queueing: what was waiting is counted as
        // dropped.
        drop_in_flight();
        discard_inbox();
        context().host_event(TB_SEV_WARNING, "plugin_incident",
                             "plugin '" + name() + "': " + row.detail,
                             nlohmann::json{{"reason", row.reason},
                                            {"action", row.action},
                                            {"backoff_ms", row.backoff_ms},
                                            {"restarts_before", row.restarts_before}}
                                 .dump());
        if (row.action == "gave_up") {
            context().host_event(TB_SEV_MAJOR, "plugin_failed",
                                 "plugin '" + name() + "' failed " +
                                     std::to_string(row.restarts_before + 1) +
                                     " time(s) and was not restarted again (restart_max = " +
                                     std::to_string(opt_.restart_max) + "); last: " + row.detail,
                                 nlohmann::json{{"reason", row.reason}}.dump());
        }
        if (sink_) sink_(row);
    }

    void map_progress_page() {
        int fd = ::memfd_create("testbed-runner-progress", MFD_CLOEXEC);
        if (fd >= 0 && fd <= iso::kProgressFd) {
            // dup2 onto itself would keep close-on-exec: move it out of the way first.
            const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, iso::kProgressFd + 1);
            ::close(fd);
            fd = moved;
        }
        void* page = MAP_FAILED;
        if (fd >= 0 && ::ftruncate(fd, sizeof(iso::Progress)) == 0) {
            page =
                ::mmap(nullptr, sizeof(iso::Progress), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        }
        if (page == MAP_FAILED) {
            log_->warn(
                "plugin '{}': no shared progress page for its runner ({}); messages handled just "
                "before a "
                "crash will count as dropped",
                name(), std::strerror(errno));
            if (fd >= 0) ::close(fd);
            return;
        }
        progress_fd_ = fd;
        progress_ = new (page) iso::Progress;
    }

    // Since when the oldest request in flight has been waited for: the later of when it became
    // the oldest and when the runner's current callback began (replies come per batch, the page
    // is current). The watchdog measures from here.
    int64_t busy_since_ns() const {
        const int64_t began =
            std::min(progress_->started_ns.load(std::memory_order_relaxed), mono_ns());
        return std::max(head_started_ns_, began);
    }

    // ---- the I/O thread ----

    void run() {
        if (!spawn()) {
            state_.store(PluginState::failed);
            start_promise_.set_value(Error{"plugin '" + name() + "': " + last_error(), "runner"});
            phase_ = Phase::failed;
        }
        while (phase_ != Phase::done) {
            step();
        }
    }

    void step() {
        const int64_t now = mono_ns();
        // 1. How long may we sleep?
        int64_t wait_ns = 100'000'000;
        if (phase_ == Phase::starting || phase_ == Phase::backoff || phase_ == Phase::stopping) {
            wait_ns = std::min(wait_ns, phase_deadline_ns_ - now);
        }
        if (phase_ == Phase::running && !in_flight_.empty()) {
            wait_ns = std::min(wait_ns, busy_since_ns() + ns(opt_.callback_deadline) - now);
        }
        if (phase_ == Phase::running && opt_.tick_interval_ms > 0)
            wait_ns = std::min(wait_ns, next_tick_ns_ - now);
        if (refill_due())
            wait_ns = std::min(wait_ns, running_since_ns_ + ns(opt_.restart_reset) - now);
        if (pidfd_ < 0 && pid_ > 0)
            wait_ns = std::min<int64_t>(wait_ns, 20'000'000);  // no pidfd: poll waitpid
        wait_ns = std::max<int64_t>(wait_ns, 0);

        zmq::pollitem_t items[3];
        int n = 0;
        items[n++] = {nullptr, wake_fd_, ZMQ_POLLIN, 0};
        if (sock_) items[n++] = {static_cast<void*>(*sock_), 0, ZMQ_POLLIN, 0};
        if (pidfd_ >= 0) items[n++] = {nullptr, pidfd_, ZMQ_POLLIN, 0};
        try {
            zmq::poll(items, static_cast<std::size_t>(n),
                      std::chrono::milliseconds((wait_ns + 999'999) / 1'000'000));
        } catch (const zmq::error_t&) {
            // EINTR: just go round again.
        }
        if (items[0].revents & ZMQ_POLLIN) {
            uint64_t v;
            [[maybe_unused]] auto r = ::read(wake_fd_, &v, sizeof v);
        }
        // 2. Everything the runner said (also after its death: the reason may be queued).
        read_runner();
        // 3. Did it exit?
        int status = 0;
        if (pid_ > 0 && reap(status, false)) {
            if (phase_ == Phase::stopping) {
                phase_ = Phase::done;
                return;
            }
            if (phase_ == Phase::starting && !start_reported_) {
                report_start(Error{
                    "plugin '" + name() + "': the isolated runner died while starting: " +
                        describe(status) + (fatal_text_.empty() ? "" : " (" + fatal_text_ + ")") +
                        (last_error().empty() ? "" : "; " + last_error()),
                    "runner"});
                phase_ = Phase::failed;
                state_.store(PluginState::failed);
                drop_in_flight();
            } else {
                on_runner_exit(status);
            }
        }
        // 4. Deadlines.
        const int64_t t = mono_ns();
        if (phase_ == Phase::starting && t >= phase_deadline_ns_ && pid_ > 0) {
            kill_runner("start_timeout", "loading, create() and start() took longer than " +
                                             std::to_string(opt_.start_timeout.count()) + " ms");
        }
        if (phase_ == Phase::running && !in_flight_.empty() &&
            t - busy_since_ns() > ns(opt_.callback_deadline) && pid_ > 0) {
            kill_runner("hang", std::string(in_flight_.front().tick ? "on_tick" : "on_message") +
                                    " ran longer than the callback deadline of " +
                                    std::to_string(opt_.callback_deadline.count()) +
                                    " ms (watchdog)");
        }
        if (refill_due() && t >= running_since_ns_ + ns(opt_.restart_reset))
            refill_restart_budget();
        if (phase_ == Phase::backoff && t >= phase_deadline_ns_ && !quit_.load()) {
            restarts_.fetch_add(1);
            restarts_total_.fetch_add(1);
            if (!spawn()) on_spawn_failure();
        }
        // 5. Stop requested?
        if (quit_.load()) handle_quit(t);
        // 6. Feed the runner.
        if (phase_ == Phase::running) pump(t);
    }

    // Restarts spent and a runner that has stayed up for restart_reset: the budget is refilled.
    bool refill_due() const {
        return phase_ == Phase::running && opt_.restart_reset.count() > 0 && restarts_.load() > 0;
    }

    void refill_restart_budget() {
        const int spent = restarts_.exchange(0);
        log_->info(
            "plugin '{}': runner up for {} s; restart budget refilled ({} restart(s) forgiven)",
            name(), opt_.restart_reset.count(), spent);
        context().host_event(
            TB_SEV_INFO, "plugin_restart_budget_refilled",
            "plugin '" + name() + "' stayed up for " + std::to_string(opt_.restart_reset.count()) +
                " s after its last restart; its restart budget of " +
                std::to_string(opt_.restart_max) + " is available again",
            nlohmann::json{{"forgiven", spent}, {"restart_reset_s", opt_.restart_reset.count()}}
                .dump());
    }

    void on_spawn_failure() {
        IncidentRow row;
        row.run_id = opt_.run_id;
        row.plugin_row = context().record().plugin_row;
        row.instance = name();
        row.t_us = now_us();
        row.reason = "init_failed";
        row.detail = last_error();
        row.restarts_before = restarts_.load();
        row.action = "gave_up";
        incidents_.fetch_add(1);
        phase_ = Phase::failed;
        state_.store(PluginState::failed);
        context().host_event(TB_SEV_MAJOR, "plugin_failed",
                             "plugin '" + name() + "': " + row.detail);
        if (sink_) sink_(row);
    }

    void handle_quit(int64_t now) {
        if (phase_ == Phase::running) {
            bool empty = false;
            {
                std::lock_guard lock(mu_);
                empty = inbox_.empty();
            }
            if ((empty && in_flight_.empty()) || now >= drain_until_ns_.load()) {
                state_.store(PluginState::stopping);
                discard_inbox();
                if (!in_flight_.empty() && now >= drain_until_ns_.load()) {
                    // Still busy after the drain time: do not wait for the rest.
                    drop_in_flight();
                }
                if (sock_) (void)iso::send_frames(*sock_, {std::string(iso::kStop)}, true);
                phase_ = Phase::stopping;
                phase_deadline_ns_ =
                    now + std::max<int64_t>(ns(opt_.callback_deadline), 2'000'000'000);
            }
            return;
        }
        if (phase_ == Phase::stopping) {
            if (now >= phase_deadline_ns_ && pid_ > 0) {
                log_->warn("plugin '{}': runner pid {} did not stop in time; killing it", name(),
                           pid_);
                ::kill(pid_, SIGKILL);
                int st = 0;
                reap(st, true);
                phase_ = Phase::done;
            }
            return;
        }
        // starting, backoff, failed: nothing to drain.
        state_.store(state_.load() == PluginState::failed ? PluginState::failed
                                                          : PluginState::stopping);
        discard_inbox();
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            reap(st, true);
        }
        if (!start_reported_)
            report_start(Error{"plugin '" + name() + "': stopped before it started", "stopped"});
        phase_ = Phase::done;
    }

    void pump(int64_t now) {
        if (!sock_) return;
        auto& c = context().counters();
        if (opt_.tick_interval_ms > 0 && now >= next_tick_ns_ && !tick_in_flight_ &&
            in_flight_.size() < opt_.window) {
            next_tick_ns_ = now + static_cast<int64_t>(opt_.tick_interval_ms) * 1'000'000;
            in_flight_count_.fetch_add(1);  // before the state check, as for messages below
            if (state_.load() == PluginState::running) {
                const uint64_t seq = ++seq_;
                if (iso::send_frames(*sock_,
                                     {std::string(iso::kTick), iso::enc<uint64_t>(seq),
                                      iso::enc<int64_t>(now_us())},
                                     true)) {
                    if (in_flight_.empty()) head_started_ns_ = now;
                    in_flight_.push_back({seq, true, now});
                    tick_in_flight_ = true;
                    c.ticks.fetch_add(1, std::memory_order_relaxed);
                }
            }
            in_flight_count_.store(in_flight_.size());
        }
        // Everything waiting (up to the window and kMaxBatch) goes in one 'msg': one ZeroMQ message
        // and one wake-up of the runner for the lot.
        while (in_flight_.size() < opt_.window) {
            batch_.clear();
            {
                std::lock_guard lock(mu_);
                const std::size_t room = std::min(opt_.window - in_flight_.size(), iso::kMaxBatch);
                while (!inbox_.empty() && batch_.size() < room) {
                    batch_.push_back(std::move(inbox_.front()));
                    inbox_.pop_front();
                }
                if (batch_.empty()) {
                    wake_pending_ = false;
                    return;
                }
            }
            // Count the batch as in flight *before* looking at the state: set_suspended() changes
            // the state and then wait_idle() reads this count, so either we see the suspension and
            // drop, or the suspender sees the batch and waits for its replies (both seq_cst).
            in_flight_count_.fetch_add(batch_.size());
            if (state_.load() != PluginState::running) {
                in_flight_count_.store(in_flight_.size());
                c.dropped_not_running.fetch_add(batch_.size(), std::memory_order_relaxed);
                continue;
            }
            batch_frame_.clear();
            for (std::size_t i = 0; i < batch_.size(); ++i) {
                const auto& m = *batch_[i];
                const auto header = wire::encode_header(m.header);
                iso::append_msg_record(batch_frame_, {seq_ + 1 + i,
                                                      m.receive_time_us,
                                                      {header.data(), header.size()},
                                                      m.topic,
                                                      m.payload});
            }
            // Never block: a PAIR socket whose peer has gone would wait forever. The messages go
            // back to the inbox; the runner's exit is noticed on the next round.
            const std::array<std::string_view, 2> parts{iso::kMsg, batch_frame_};
            if (!iso::send_views(*sock_, parts, true)) {
                in_flight_count_.store(in_flight_.size());
                std::lock_guard lock(mu_);
                for (auto it = batch_.rbegin(); it != batch_.rend(); ++it)
                    inbox_.push_front(std::move(*it));
                return;
            }
            if (in_flight_.empty()) head_started_ns_ = mono_ns();
            for (const auto& m : batch_) in_flight_.push_back({++seq_, false, m->receive_mono_ns});
            sent_through_.store(seq_);
            in_flight_count_.store(in_flight_.size());
        }
    }

    void read_runner() {
        for (int i = 0; sock_ && i < 4096; ++i) {
            if (!iso::recv_into(*sock_, rx_, true)) return;
            handle(rx_);
        }
    }

    void protocol_violation(const std::string& what) {
        log_->error("plugin '{}': runner broke the protocol: {}", name(), what);
        set_last_error("protocol: the runner sent " + what);
        kill_runner("protocol", "the runner sent " + what);
    }

    // One reply of a 'done' frame: the oldest request in flight is finished. False (the runner
    // condemned) when it answers a request that was not made.
    bool complete(const iso::DoneRecord& d) {
        if (in_flight_.empty() || in_flight_.front().seq != d.seq) {
            protocol_violation("a reply for request " + std::to_string(d.seq) +
                               ", which was not made");
            return false;
        }
        const InFlight done = in_flight_.front();
        in_flight_.pop_front();
        in_flight_count_.store(in_flight_.size());
        const int64_t now = mono_ns();
        head_started_ns_ = now;
        auto& c = context().counters();
        if (d.status == iso::kSkipped) {  // arrived at the runner after a suspension
            if (done.tick)
                tick_in_flight_ = false;
            else
                c.dropped_not_running.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
        callback_ns_.record(d.took_ns);
        if (done.tick) {
            tick_in_flight_ = false;
        } else {
            // Latency up to the plugin, as in-process (where it ends as the callback starts):
            // the runner says when it began, on the same monotonic clock. A value outside
            // [receive, now] can only come from a broken runner; it is clamped, not trusted.
            const int64_t began = std::clamp(d.started_ns, done.receive_mono_ns, now);
            latency_ns_.record(began - done.receive_mono_ns);
            c.delivered.fetch_add(1, std::memory_order_relaxed);
        }
        if (d.status == TB_E_BAD_DATA && !done.tick) {
            const uint64_t n = c.bad_data.fetch_add(1, std::memory_order_relaxed);
            if (n < 5 || n % 10000 == 0)
                context().log()->warn("bad data: {} (#{})", d.error, n + 1);
        } else if (d.status != TB_OK) {
            const uint64_t n = c.callback_errors.fetch_add(1, std::memory_order_relaxed);
            if (n < 5 || n % 10000 == 0) {
                context().log()->error("{} failed: {} (code {}, #{})",
                                       done.tick ? "on_tick" : "on_message", d.error, d.status,
                                       n + 1);
            }
        }
        return true;
    }

    void handle(const iso::Frames& f) {
        if (!kill_reason_.empty()) return;  // already condemned; ignore the rest
        const std::string_view verb = f.empty() ? std::string_view() : std::string_view(f[0]);
        if (verb == iso::kDone) {
            if (f.size() != 2 || f[1].empty()) return protocol_violation("a malformed 'done'");
            if (phase_ != Phase::running && phase_ != Phase::stopping)
                return protocol_violation("'done' before 'ready'");
            std::size_t pos = 0;
            iso::DoneRecord d;
            while (pos < f[1].size()) {
                if (!iso::read_done(f[1], pos, d)) return protocol_violation("a malformed 'done'");
                if (!complete(d)) return;
            }
        } else if (verb == iso::kCall) {
            if (f.size() < 3 || !iso::dec<uint64_t>(f[1]))
                return protocol_violation("a malformed 'call'");
            if (!hello_ || phase_ == Phase::failed)
                return protocol_violation("a 'call' before 'hello'");
            execute_call(f);
        } else if (verb == iso::kPost) {
            if (f.size() < 2) return protocol_violation("a malformed 'post'");
            if (!hello_ || phase_ == Phase::failed)
                return protocol_violation("a 'post' before 'hello'");
            execute_post(f);
        } else if (verb == iso::kLog) {
            const auto level = f.size() == 3 ? iso::dec<int32_t>(f[1]) : std::nullopt;
            if (!level) return protocol_violation("a malformed 'log'");
            context().log(*level, f[2]);
        } else if (verb == iso::kHello) {
            const auto pid = f.size() == 3 ? iso::dec<int32_t>(f[1]) : std::nullopt;
            const auto version = f.size() == 3 ? iso::dec<uint32_t>(f[2]) : std::nullopt;
            if (!pid || !version || hello_ || phase_ != Phase::starting)
                return protocol_violation("an unexpected 'hello'");
            if (*version != iso::kProtocolVersion) {
                return protocol_violation(
                    "'hello' with runner protocol version " + std::to_string(*version) +
                    ", but this host speaks version " + std::to_string(iso::kProtocolVersion) +
                    ": " + opt_.runner.string() +
                    " is from another build; install the testbed-runner that came with this "
                    "testbed-host (or point $TB_RUNNER at it)");
            }
            if (*pid != pid_) {
                return protocol_violation("'hello' from pid " + std::to_string(*pid) +
                                          " (expected pid " + std::to_string(pid_) + ")");
            }
            hello_ = true;
            (void)iso::send_frames(*sock_,
                                   {std::string(iso::kInit), context().config().dump(),
                                    iso::enc<double>(opt_.record_budget_per_s)},
                                   true);
        } else if (verb == iso::kReady) {
            if (f.size() != 1 || !hello_ || phase_ != Phase::starting)
                return protocol_violation("an unexpected 'ready'");
            phase_ = Phase::running;
            next_tick_ns_ = mono_ns() + static_cast<int64_t>(opt_.tick_interval_ms) * 1'000'000;
            running_since_ns_ = mono_ns();
            if (start_reported_) {
                state_.store(suspended_.load() ? PluginState::suspended : PluginState::running);
                log_->info("plugin '{}': runner pid {} restarted ({} of {})", name(), pid_,
                           restarts_.load(), opt_.restart_max);
                context().host_event(TB_SEV_INFO, "plugin_restarted",
                                     "plugin '" + name() + "' runs again (restart " +
                                         std::to_string(restarts_.load()) + " of " +
                                         std::to_string(opt_.restart_max) + ")");
            } else {
                report_start({});
            }
        } else if (verb == iso::kInitFailed) {
            if (f.size() != 2 || phase_ != Phase::starting)
                return protocol_violation("an unexpected 'init_failed'");
            set_last_error(f[1]);
            if (!start_reported_) {
                report_start(Error{"plugin '" + name() + "' (isolated): " + f[1], "create"});
                phase_ = Phase::failed;
                state_.store(PluginState::failed);
                ::kill(pid_, SIGKILL);
                int st = 0;
                reap(st, true);
            } else {
                kill_runner("init_failed", f[1]);
            }
        } else if (verb == iso::kFatal) {
            if (f.size() != 3) return protocol_violation("a malformed 'fatal'");
            fatal_reason_ =
                (f[1] == "memory_limit" || f[1] == "uncaught_exception") ? f[1] : "fatal";
            fatal_text_ = f[2].substr(0, 1000);
        } else if (verb == iso::kBye) {
            if (phase_ != Phase::stopping) return protocol_violation("an unexpected 'bye'");
        } else {
            return protocol_violation("an unknown message '" + std::string(verb.substr(0, 32)) +
                                      "'");
        }
    }

    void execute_call(const iso::Frames& f) {
        const std::string_view op = f[2];
        std::string why, value;
        tb_status rc = TB_OK;
        if (op == iso::kOpPublish) {
            const auto ct = f.size() == 6 ? iso::dec<int32_t>(f[5]) : std::nullopt;
            if (!ct) return protocol_violation("a malformed 'publish' call");
            rc = context().publish(f[3], f[4], *ct, why);
        } else if (op == iso::kOpMetric) {
            const auto v = f.size() == 7 ? iso::dec<double>(f[5]) : std::nullopt;
            const auto t = f.size() == 7 ? iso::dec<int64_t>(f[6]) : std::nullopt;
            if (!v || !t) return protocol_violation("a malformed 'metric' call");
            rc = context().record_metric(f[3], f[4], *v, *t, why);
        } else if (op == iso::kOpEvent) {
            const auto sev = f.size() == 8 ? iso::dec<int32_t>(f[3]) : std::nullopt;
            if (!sev) return protocol_violation("a malformed 'event' call");
            rc = context().record_event(*sev, f[4], f[5], f[6], f[7], why);
        } else if (op == iso::kOpLog) {
            const auto level = f.size() == 5 ? iso::dec<int32_t>(f[3]) : std::nullopt;
            if (!level) return protocol_violation("a malformed 'log' call");
            context().log(*level, f[4]);
        } else if (op == iso::kOpConfig) {
            if (f.size() != 4) return protocol_violation("a malformed 'config' call");
            rc = context().config_get(f[3], value, why);
        } else {
            return protocol_violation("an unknown call '" + std::string(op.substr(0, 32)) + "'");
        }
        (void)iso::send_frames(
            *sock_, {std::string(iso::kRet), f[1], iso::enc<int32_t>(rc), why, value}, true);
    }

    // A one-way record ('post'): executed and counted exactly like a call, but the runner does not
    // wait for the outcome (it computed the plugin's return code itself, docs/isolation.md).
    void execute_post(const iso::Frames& f) {
        const std::string_view op = f[1];
        std::string why;
        if (op == iso::kOpMetric) {
            const auto v = f.size() == 6 ? iso::dec<double>(f[4]) : std::nullopt;
            const auto t = f.size() == 6 ? iso::dec<int64_t>(f[5]) : std::nullopt;
            if (!v || !t) return protocol_violation("a malformed 'metric' post");
            (void)context().record_metric(f[2], f[3], *v, *t, why);
        } else if (op == iso::kOpEvent) {
            const auto sev = f.size() == 7 ? iso::dec<int32_t>(f[2]) : std::nullopt;
            if (!sev) return protocol_violation("a malformed 'event' post");
            (void)context().record_event(*sev, f[3], f[4], f[5], f[6], why);
        } else {
            return protocol_violation("an unknown post '" + std::string(op.substr(0, 32)) + "'");
        }
    }

    void report_start(Status s) {
        start_reported_ = true;
        start_promise_.set_value(std::move(s));
    }

    static std::string describe(int status) {
        if (WIFSIGNALED(status)) return "killed by " + signal_name(WTERMSIG(status));
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    }

    static std::string sanitized(const std::string& s) {
        std::string out = s;
        for (auto& ch : out) {
            if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') ch = '_';
        }
        return out;
    }

    static int64_t ns(std::chrono::milliseconds d) { return d.count() * 1'000'000; }

    void set_last_error(std::string e) {
        std::lock_guard lock(mu_);
        last_error_ = std::move(e);
    }
    std::string last_error() const {
        std::lock_guard lock(mu_);
        return last_error_;
    }

    ProcessOptions opt_;
    IncidentSink sink_;
    std::shared_ptr<spdlog::logger> log_;
    std::mt19937 rng_;  // I/O thread only

    std::thread io_;
    std::promise<Status> start_promise_;
    bool start_reported_ = false;  // I/O thread only
    std::atomic<PluginState> state_{PluginState::created};
    std::atomic<bool> quit_{false};
    std::atomic<int64_t> drain_until_ns_{0};
    std::atomic<int> restarts_{0};        // restarts spent (refilled after restart_reset up)
    std::atomic<int> restarts_total_{0};  // all restarts of this run
    std::atomic<bool> suspended_{false};
    std::atomic<std::size_t> in_flight_count_{0};  // in_flight_.size(), for wait_idle()
    std::atomic<uint64_t> sent_through_{0};        // the last seq sent to a runner
    std::atomic<uint64_t> incidents_{0};
    std::atomic<int> runner_pid_{0};

    mutable std::mutex mu_;
    std::deque<FeedMessagePtr> inbox_;  // guarded by mu_
    bool wake_pending_ = false;         // guarded by mu_
    std::string last_error_;            // guarded by mu_
    int wake_fd_ = -1;
    // The runner's progress page (iso::Progress): a shared memfd mapping, or own_progress_ when
    // none could be made (then a crash counts every unanswered message as dropped).
    int progress_fd_ = -1;
    iso::Progress own_progress_;
    iso::Progress* progress_ = &own_progress_;

    // I/O thread only.
    zmq::context_t zctx_{1};
    std::unique_ptr<zmq::socket_t> sock_;
    fs::path endpoint_path_;
    Phase phase_ = Phase::starting;
    int64_t phase_deadline_ns_ = 0;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::unique_ptr<iso::RunnerCgroup> cgroup_;  // the current runner's (null: rlimits only)
    bool cgroup_oom_ = false;                    // its OOM killer fired (read when it was reaped)
    uint64_t generation_ = 0;
    bool hello_ = false;
    std::string kill_reason_, kill_detail_, fatal_reason_, fatal_text_;
    std::deque<InFlight> in_flight_;
    // Reused buffers of the send and receive paths (no allocation per message).
    std::vector<FeedMessagePtr> batch_;
    std::string batch_frame_;
    iso::Frames rx_;
    int64_t head_started_ns_ = 0;
    int64_t running_since_ns_ = 0;  // when the current runner reported 'ready'
    uint64_t seq_ = 0;
    bool tick_in_flight_ = false;
    int64_t next_tick_ns_ = 0;

    LatencyHistogram callback_ns_, latency_ns_;
};

}  // namespace

std::unique_ptr<PluginInstance> make_process_instance(std::unique_ptr<PluginContext> context,
                                                      ProcessOptions options,
                                                      IncidentSink incidents) {
    return std::make_unique<ProcessInstance>(std::move(context), std::move(options),
                                             std::move(incidents));
}

}  // namespace tb::host
