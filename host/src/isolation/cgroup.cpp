#include "isolation/cgroup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace tb::host::isolation {
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Write `text` to a cgroup control file; empty on success, else the reason.
std::string write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p);
    if (!out) return "cannot open " + p.string() + ": " + std::strerror(errno);
    out << text;
    out.flush();
    if (!out) return "cannot write '" + text + "' to " + p.string() + ": " + std::strerror(errno);
    return {};
}

// The value after `key ` in a flat-keyed cgroup file ("oom_kill 3"); -1 when absent.
int64_t keyed_value(const fs::path& p, const std::string& key) {
    std::istringstream in(read_text(p));
    std::string k;
    int64_t v = 0;
    while (in >> k >> v) {
        if (k == key) return v;
    }
    return -1;
}

// The host's own cgroup path for the v2 unified hierarchy ("0::/x") or a v1 controller
// ("4:memory:/x").
std::string own_path(const std::string& controller) {
    std::istringstream in(read_text("/proc/self/cgroup"));
    std::string line;
    while (std::getline(in, line)) {
        const auto a = line.find(':');
        const auto b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        const std::string ctrls = line.substr(a + 1, b - a - 1);
        if (controller.empty()
                ? ctrls.empty()
                : ("," + ctrls + ",").find("," + controller + ",") != std::string::npos) {
            return line.substr(b + 1);
        }
    }
    return {};
}

bool is_dead_host_dir(const fs::path& p) {
    const std::string n = p.filename().string();
    if (n.rfind("testbed-", 0) != 0) return false;
    const std::string pid = n.substr(8);
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return false;
    std::error_code ec;
    return !fs::exists("/proc/" + pid, ec);
}

// Remove the testbed-<pid> directories of hosts that were killed (their runners are gone too).
void remove_stale(const fs::path& own) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(own, ec)) {
        if (!e.is_directory(ec) || !is_dead_host_dir(e.path())) continue;
        for (const auto& leaf : fs::directory_iterator(e.path(), ec)) {
            if (leaf.is_directory(ec)) ::rmdir(leaf.path().c_str());
        }
        ::rmdir(e.path().c_str());
    }
}

CgroupSupport detect() {
    CgroupSupport s;
    const std::string pid = std::to_string(getpid());
    std::error_code ec;
    if (fs::exists("/sys/fs/cgroup/cgroup.controllers", ec)) {
        s.version = 2;
        const fs::path own = fs::path("/sys/fs/cgroup") / fs::path(own_path("")).relative_path();
        if (read_text(own / "cgroup.controllers").find("memory") == std::string::npos) {
            s.why_not = "cgroup v2: the memory controller is not available in " + own.string() +
                        " (not delegated to this host)";
            return s;
        }
        remove_stale(own);
        s.host_dir = own / ("testbed-" + pid);
        if (::mkdir(s.host_dir.c_str(), 0755) != 0 && errno != EEXIST) {
            s.why_not = "cgroup v2: cannot create " + s.host_dir.string() + ": " +
                        std::strerror(errno) + " (run the host as root or delegate its cgroup)";
            return s;
        }
        // A cgroup with processes may not enable controllers for its children (the "no internal
        // processes" rule), so this fails unless the host's cgroup was set up for delegation.
        if (read_text(own / "cgroup.subtree_control").find("memory") == std::string::npos) {
            if (auto e = write_text(own / "cgroup.subtree_control", "+memory"); !e.empty()) {
                ::rmdir(s.host_dir.c_str());
                s.why_not = "cgroup v2: " + e +
                            " (the host's own cgroup holds processes; start the host in a "
                            "delegated cgroup, e.g. systemd Delegate=yes)";
                return s;
            }
        }
        if (auto e = write_text(s.host_dir / "cgroup.subtree_control", "+memory"); !e.empty()) {
            ::rmdir(s.host_dir.c_str());
            s.why_not = "cgroup v2: " + e;
            return s;
        }
    } else if (fs::is_directory("/sys/fs/cgroup/memory", ec)) {
        s.version = 1;
        const fs::path own =
            fs::path("/sys/fs/cgroup/memory") / fs::path(own_path("memory")).relative_path();
        if (!fs::exists(own / "memory.limit_in_bytes", ec)) {
            s.why_not = "cgroup v1: the host's memory cgroup " + own.string() + " was not found";
            return s;
        }
        remove_stale(own);
        s.host_dir = own / ("testbed-" + pid);
        if (::mkdir(s.host_dir.c_str(), 0755) != 0 && errno != EEXIST) {
            s.why_not = "cgroup v1: cannot create " + s.host_dir.string() + ": " +
                        std::strerror(errno) + " (the memory hierarchy is writable by root only)";
            return s;
        }
    } else {
        s.why_not =
            "neither cgroup v2 (/sys/fs/cgroup/cgroup.controllers) nor a cgroup v1 memory "
            "hierarchy "
            "(/sys/fs/cgroup/memory) is mounted";
        return s;
    }
    s.available = true;
    // The runners' cgroups are removed as they exit; this removes the host's own directory. The
    // handler keeps its own copy of the path: it runs after `s` (a function-local static whose
    // initialisation registered it) has been destroyed.
    static char host_dir[4096];
    const std::string dir = s.host_dir.string();
    if (dir.size() < sizeof host_dir) {
        std::memcpy(host_dir, dir.c_str(), dir.size() + 1);
        std::atexit([] { ::rmdir(host_dir); });
    }
    return s;
}

}  // namespace

const CgroupSupport& cgroup_support() {
    static const CgroupSupport support = [] {
        // TB_NO_CGROUPS=1 forces the rlimit-only path (tests of the fallback, hosts that must not
        // touch the cgroup tree).
        if (const char* off = std::getenv("TB_NO_CGROUPS");
            off != nullptr && std::string(off) == "1") {
            CgroupSupport s;
            s.why_not = "disabled by TB_NO_CGROUPS=1";
            return s;
        }
        return detect();
    }();
    return support;
}

std::unique_ptr<RunnerCgroup> RunnerCgroup::create(const std::string& name,
                                                   uint64_t memory_limit_mb, std::string& why) {
    const auto& s = cgroup_support();
    if (!s.available) {
        why = s.why_not;
        return nullptr;
    }
    const fs::path dir = s.host_dir / name;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        why = "cannot create " + dir.string() + ": " + std::strerror(errno);
        return nullptr;
    }
    std::unique_ptr<RunnerCgroup> cg(new RunnerCgroup(dir, s.version, memory_limit_mb));
    if (memory_limit_mb > 0) {
        const std::string bytes = std::to_string(memory_limit_mb * 1024 * 1024);
        std::error_code ec;
        if (s.version == 2) {
            why = write_text(dir / "memory.max", bytes);
            if (why.empty() && fs::exists(dir / "memory.swap.max", ec))
                why = write_text(dir / "memory.swap.max", "0");
        } else {
            why = write_text(dir / "memory.limit_in_bytes", bytes);
            // Without swap accounting the file does not exist; with it, swap must not extend the
            // limit.
            if (why.empty() && fs::exists(dir / "memory.memsw.limit_in_bytes", ec)) {
                why = write_text(dir / "memory.memsw.limit_in_bytes", bytes);
            }
        }
        if (!why.empty()) return nullptr;  // the destructor removes the directory
    }
    return cg;
}

RunnerCgroup::~RunnerCgroup() { remove(); }

fs::path RunnerCgroup::procs_file() const { return dir_ / "cgroup.procs"; }

bool RunnerCgroup::oom_killed() const {
    if (version_ == 2) return keyed_value(dir_ / "memory.events", "oom_kill") > 0;
    const int64_t kills = keyed_value(dir_ / "memory.oom_control", "oom_kill");
    if (kills >= 0) return kills > 0;
    // Kernels before 4.13 do not count kills: the limit was at least hit.
    return std::atoll(read_text(dir_ / "memory.failcnt").c_str()) > 0;
}

void RunnerCgroup::remove() {
    if (removed_) return;
    removed_ = true;
    // The kernel may take a moment to release a cgroup whose last process was just reaped.
    for (int i = 0; i < 100; ++i) {
        if (::rmdir(dir_.c_str()) == 0 || errno == ENOENT) return;
        if (errno != EBUSY) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

}  // namespace tb::host::isolation
