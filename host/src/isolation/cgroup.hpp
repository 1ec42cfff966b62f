// isolation/cgroup.hpp: per-runner memory cgroups (docs/isolation.md, "Limits").
//
// When the host may create cgroups (cgroup v2 with the memory controller delegated to its own
// cgroup, or a writable cgroup v1 memory hierarchy, typically as root), every isolated runner gets
// its own cgroup `testbed-<host pid>/<plugin>-<generation>` under the host's cgroup, with the
// plugin's memory_limit_mb as the RSS limit (v2 `memory.max`, v1 `memory.limit_in_bytes`). The
// runner joins it itself before loading the plugin (its --cgroup option), the host asks it after
// the runner's death whether the kernel's OOM killer fired there (v2 `memory.events` oom_kill,
// v1 `memory.oom_control` oom_kill), and removes it. When cgroups are not available the host
// falls back to rlimits only and logs why once.
//
// Thread safety: cgroup_support() is safe from any thread (computed once); a RunnerCgroup is used
// by one thread (the plugin's I/O thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace tb::host::isolation {

struct CgroupSupport {
    bool available = false;
    int version = 0;                 // 1 or 2
    std::filesystem::path host_dir;  // testbed-<pid> under the host's own (memory) cgroup
    std::string why_not;             // when !available: one sentence
};

// Detected once per process (and the host's testbed-<pid> directory created); stale
// testbed-<pid> directories of hosts that no longer exist are removed on the way.
const CgroupSupport& cgroup_support();

class RunnerCgroup {
 public:
    // Creates <host_dir>/<name> with the memory limit. Null (and `why`) when it cannot.
    static std::unique_ptr<RunnerCgroup> create(const std::string& name, uint64_t memory_limit_mb,
                                                std::string& why);
    ~RunnerCgroup();  // remove()
    RunnerCgroup(const RunnerCgroup&) = delete;
    RunnerCgroup& operator=(const RunnerCgroup&) = delete;

    // The file a process writes its pid to in order to join (the runner's --cgroup).
    std::filesystem::path procs_file() const;
    // Did the kernel's OOM killer kill a process in this cgroup?
    bool oom_killed() const;
    uint64_t memory_limit_mb() const noexcept { return limit_mb_; }
    // Remove the (empty) cgroup; retried briefly, since the kernel frees it just after the exit.
    void remove();

 private:
    RunnerCgroup(std::filesystem::path dir, int version, uint64_t limit_mb)
        : dir_(std::move(dir)), version_(version), limit_mb_(limit_mb) {}
    std::filesystem::path dir_;
    int version_;
    uint64_t limit_mb_;
    bool removed_ = false;
};

}  // namespace tb::host::isolation
