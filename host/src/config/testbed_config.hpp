// config/testbed_config.hpp: a testbed folder's testbed.toml, parsed and validated.
//
// A testbed is a folder (testbeds/<id>/) holding testbed.toml and a GeoJSON zone. The file names
// the feeds (sensor groups), the endpoints and the plugins to load with their config. Every
// problem is reported as "<file>:<line>: <what is wrong> (<what to do>)". Unknown keys are errors,
// so a typo never silently changes behaviour. The format is documented in docs/testbed-format.md.
// Thread safety: load_testbed() is reentrant; the result is a plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace tb::host {

enum class OverflowPolicy { drop_newest = 1, drop_oldest = 2 };
enum class Isolation { in_process = 1, process = 2 };

struct SensorGroup {
    std::string kind;          // simulator model and meaning: groundwater, footfall, parking, ...
    std::string topic_prefix;  // e.g. "sensor/groundwater/"
    std::string id_prefix;     // e.g. "GW-"
    int count = 0;             // ids are id_prefix + 4-digit number 0001..count
    std::string unit;          // SenML unit of the main value
    bool personal = false;     // household-level data: pseudonymised per trial
    std::chrono::seconds stale_after{300};
    int line = 0;

    std::vector<std::string> ids() const;
    std::string topic(const std::string& id) const { return topic_prefix + id; }
};

struct PluginSpec {
    std::string name;     // instance name, unique in the testbed
    std::string library;  // file name without ".so" in the plugin directory, or a path
    bool trusted = false;
    Isolation isolation = Isolation::in_process;
    std::size_t inbox_capacity = 10000;
    OverflowPolicy overflow = OverflowPolicy::drop_newest;
    // Containment (docs/isolation.md). The first eight apply to isolation = "process" only; the
    // budgets apply in both modes. 0 means "no limit" for limits and budgets.
    int restart_max = 5;                     // restarts before the plugin is left `failed`
    int64_t restart_backoff_ms = 200;        // first back-off; doubles per restart, with jitter
    int64_t restart_backoff_max_ms = 30000;  // back-off ceiling
    int64_t restart_reset_s = 300;  // up this long after a restart: budget refilled (0 = never)
    int64_t callback_deadline_ms = 2000;  // watchdog: a longer callback is a hang
    uint64_t memory_limit_mb = 1024;      // per-runner cgroup (RSS) where possible, else RLIMIT_AS
    uint64_t cpu_limit_s = 0;             // RLIMIT_CPU, CPU seconds per runner process
    int nice = 10;                    // runner's priority below the host's, in nice steps (0..19)
    double publish_budget_per_s = 0;  // publications per second (token bucket)
    double record_budget_per_s = 0;   // metric samples + events per second (token bucket)
    nlohmann::json config = nlohmann::json::object();  // [plugins.config] as JSON
    int line = 0;
};

struct HostSettings {
    std::vector<std::string> ingest{"tcp://127.0.0.1:7600"};  // SUB binds here
    std::vector<std::string> connect;                         // SUB connects here too
    std::string output = "tcp://127.0.0.1:7601";              // PUB of plugin output ("" = off)
    int workers = 2;
    bool validate_payloads = true;
    // Messages the ingest socket queues before publishers feel back-pressure (ZeroMQ rcvhwm).
    // Bounds host memory under a burst; beyond it publishers queue or drop, seen as sequence gaps.
    int ingest_hwm = 10'000;
    std::size_t store_queue_capacity = 1'000'000;
    std::size_t store_batch_rows = 10'000;
    std::chrono::milliseconds store_flush_interval{50};
    // Feed health is written to the database this often (not only at run end), so reports and a
    // crashed run keep it. 0 = only at run end.
    std::chrono::seconds feed_health_interval{5};
    // CURVE on the ingest (docs/feeds.md): when curve_secret_key_file is set the ingest is a CURVE
    // server and only publishers whose NAME.pub is in curve_authorized_keys may connect.
    // Relative paths are relative to the testbed folder (made absolute by the parser).
    std::filesystem::path curve_secret_key_file;
    std::filesystem::path curve_authorized_keys;
    std::string api = "127.0.0.1:7680";  // HTTP API + dashboard, ADDR:PORT ("" = off, port 0 = any)
};

struct TestbedConfig {
    std::filesystem::path dir;   // the testbed folder
    std::filesystem::path file;  // .../testbed.toml
    std::string id, name, description, operator_name;
    std::filesystem::path zone_file;  // absolute
    nlohmann::json zone;              // parsed GeoJSON
    HostSettings host;
    std::vector<SensorGroup> sensors;
    std::vector<PluginSpec> plugins;

    const SensorGroup* sensor_group_for(std::string_view topic) const;
};

// Load `path` (a testbed folder or a testbed.toml file).
Result<TestbedConfig> load_testbed(const std::filesystem::path& path);

// Parse testbed.toml text (for tests and fuzzing); `dir` resolves relative paths.
Result<TestbedConfig> parse_testbed(std::string_view text, const std::filesystem::path& file);

// Validate a GeoJSON zone (Polygon, MultiPolygon, Feature or FeatureCollection of those).
Status validate_zone(const nlohmann::json& geojson, const std::string& where);

}  // namespace tb::host
