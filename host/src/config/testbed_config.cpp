#include "config/testbed_config.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "config/toml_guard.hpp"

namespace tb::host {
namespace {

namespace fs = std::filesystem;

const std::set<std::string> kSensorKinds = {"groundwater",    "footfall", "parking", "air_quality",
                                            "parking_search", "drone",    "noise",   "traffic"};

class Parser {
 public:
    explicit Parser(fs::path file) : file_(std::move(file)) {}

    std::string where(const toml::node& n) const {
        return file_.string() + ":" + std::to_string(n.source().begin.line);
    }
    std::string where(const toml::source_region& r) const {
        return file_.string() + ":" + std::to_string(r.begin.line);
    }
    Error error(const toml::node& n, const std::string& what) const {
        return {where(n) + ": " + what, "config"};
    }

    // Reject keys that this version does not know, naming the ones it does.
    std::optional<Error> check_keys(const toml::table& t, const std::string& section,
                                    const std::set<std::string>& known) const {
        for (const auto& [k, v] : t) {
            if (!known.count(std::string(k.str()))) {
                std::string list;
                for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
                return Error{where(v) + ": unknown key '" + std::string(k.str()) + "' in [" +
                                 section + "] (known keys: " + list + ")",
                             "config"};
            }
        }
        return std::nullopt;
    }

    template <class T>
    std::optional<Error> get(const toml::table& t, const char* key, T& out,
                             const char* type_name) const {
        const toml::node* n = t.get(key);
        if (n == nullptr) return std::nullopt;
        if constexpr (std::is_same_v<T, std::string>) {
            if (auto v = n->value<std::string>()) {
                out = *v;
                return std::nullopt;
            }
        } else if constexpr (std::is_same_v<T, bool>) {
            if (n->is_boolean()) {
                out = *n->value<bool>();
                return std::nullopt;
            }
        } else {
            if (n->is_integer()) {
                const auto v = *n->value<int64_t>();
                if (v < 0) return error(*n, std::string("'") + key + "' must not be negative");
                out = static_cast<T>(v);
                return std::nullopt;
            }
        }
        return error(*n, std::string("'") + key + "' must be " + type_name);
    }

    std::optional<Error> get_strings(const toml::table& t, const char* key,
                                     std::vector<std::string>& out) const {
        const toml::node* n = t.get(key);
        if (n == nullptr) return std::nullopt;
        out.clear();
        if (auto s = n->value<std::string>()) {
            out.push_back(*s);
            return std::nullopt;
        }
        const auto* arr = n->as_array();
        if (arr == nullptr)
            return error(*n, std::string("'") + key + "' must be a string or an array of strings");
        for (const auto& e : *arr) {
            auto s = e.value<std::string>();
            if (!s) return error(e, std::string("'") + key + "' must contain only strings");
            out.push_back(*s);
        }
        return std::nullopt;
    }

    Result<TestbedConfig> parse(std::string_view text) {
        if (auto h = find_toml_hazard(text)) {
            return Error{
                file_.string() + ":" + std::to_string(h->line) + ": syntax error: " + h->what,
                "syntax"};
        }
        toml::table root;
        try {
            root = toml::parse(text, file_.string());
        } catch (const toml::parse_error& e) {
            return Error{where(e.source()) + ": syntax error: " + std::string(e.description()),
                         "syntax"};
        }
        TestbedConfig cfg;
        cfg.file = file_;
        cfg.dir = file_.parent_path();
        if (auto e = check_keys(root, "top level", {"testbed", "host", "sensors", "plugins"}))
            return *e;

        const auto* tb = root["testbed"].as_table();
        if (tb == nullptr) {
            return Error{file_.string() + ":1: missing [testbed] table with at least id and name",
                         "config"};
        }
        if (auto e = check_keys(*tb, "testbed", {"id", "name", "description", "zone", "operator"}))
            return *e;
        std::string zone;
        for (auto [key, dst] : {std::pair{"id", &cfg.id},
                                {"name", &cfg.name},
                                {"description", &cfg.description},
                                {"zone", &zone},
                                {"operator", &cfg.operator_name}}) {
            if (auto e = get(*tb, key, *dst, "a string")) return *e;
        }
        if (cfg.id.empty())
            return Error{where(*tb) + ": [testbed] needs id = \"<folder name>\"", "config"};
        if (cfg.name.empty()) cfg.name = cfg.id;
        if (!zone.empty()) {
            cfg.zone_file = fs::absolute(cfg.dir / zone);
            // Only a regular file: a directory opens fine but throws std::ios_failure on the
            // first read, which escaped as a crash (found by the testbed_toml fuzz target).
            std::error_code zec;
            std::ifstream in;
            if (fs::is_regular_file(cfg.zone_file, zec)) in.open(cfg.zone_file);
            if (!in.is_open()) {
                return Error{
                    where(*tb->get("zone")) + ": zone file '" + cfg.zone_file.string() +
                        "' cannot be read (check the path; it is relative to the testbed folder)",
                    "zone"};
            }
            try {
                cfg.zone = nlohmann::json::parse(in);
            } catch (const nlohmann::json::exception& ex) {
                return Error{cfg.zone_file.string() + ": not valid JSON: " + ex.what(), "zone"};
            } catch (const std::exception& ex) {  // an I/O error while reading
                return Error{cfg.zone_file.string() + ": cannot be read: " + ex.what(), "zone"};
            }
            if (auto s = validate_zone(cfg.zone, cfg.zone_file.string()); !s) return s.error();
        }

        if (const auto* h = root["host"].as_table()) {
            if (auto e = check_keys(*h, "host",
                                    {"ingest", "connect", "output", "workers", "validate_payloads",
                                     "store_queue_capacity", "store_batch_rows", "store_flush_ms",
                                     "feed_health_interval_s", "curve_secret_key_file",
                                     "curve_authorized_keys", "api", "ingest_hwm"})) {
                return *e;
            }
            auto& hs = cfg.host;
            if (auto e = get_strings(*h, "ingest", hs.ingest)) return *e;
            if (auto e = get_strings(*h, "connect", hs.connect)) return *e;
            if (auto e = get(*h, "output", hs.output, "a string")) return *e;
            if (auto e = get(*h, "api", hs.api,
                             "a string such as \"127.0.0.1:7680\" (\"\" disables the API)"))
                return *e;
            if (auto e = get(*h, "workers", hs.workers, "an integer")) return *e;
            if (auto e = get(*h, "validate_payloads", hs.validate_payloads, "true or false"))
                return *e;
            if (auto e = get(*h, "store_queue_capacity", hs.store_queue_capacity, "an integer"))
                return *e;
            int64_t hwm = hs.ingest_hwm;
            if (auto e = get(*h, "ingest_hwm", hwm, "an integer")) return *e;
            if (hwm < 100 || hwm > 10'000'000) {
                return error(*h->get("ingest_hwm"),
                             "'ingest_hwm' must be 100..10000000 messages (default 10000)");
            }
            hs.ingest_hwm = static_cast<int>(hwm);
            if (auto e = get(*h, "store_batch_rows", hs.store_batch_rows, "an integer")) return *e;
            int64_t flush_ms = hs.store_flush_interval.count();
            if (auto e = get(*h, "store_flush_ms", flush_ms, "an integer")) return *e;
            hs.store_flush_interval = std::chrono::milliseconds(flush_ms);
            int64_t health_s = hs.feed_health_interval.count();
            if (auto e = get(*h, "feed_health_interval_s", health_s, "an integer")) return *e;
            if (health_s < 0)
                return error(*h->get("feed_health_interval_s"),
                             "'feed_health_interval_s' must be 0 or more");
            hs.feed_health_interval = std::chrono::seconds(health_s);
            std::string curve_key, curve_auth;
            if (auto e = get(*h, "curve_secret_key_file", curve_key, "a string (path to NAME.key)"))
                return *e;
            if (auto e = get(*h, "curve_authorized_keys", curve_auth,
                             "a string (folder of NAME.pub files)"))
                return *e;
            if (curve_key.empty() != curve_auth.empty()) {
                return error(*h,
                             "CURVE needs both 'curve_secret_key_file' and 'curve_authorized_keys' "
                             "(or neither)");
            }
            if (!curve_key.empty()) {
                hs.curve_secret_key_file = cfg.dir / curve_key;
                hs.curve_authorized_keys = cfg.dir / curve_auth;
            }
            if (hs.workers < 1 || hs.workers > 64)
                return error(*h->get("workers"), "'workers' must be 1..64");
            if (hs.store_batch_rows == 0)
                return error(*h->get("store_batch_rows"), "'store_batch_rows' must be at least 1");
        } else if (root.contains("host")) {
            return error(*root.get("host"), "'host' must be a table: [host]");
        }

        if (const auto* n = root.get("sensors")) {
            const auto* arr = n->as_array();
            if (arr == nullptr)
                return error(*n, "'sensors' must be an array of tables: [[sensors]]");
            for (const auto& el : *arr) {
                const auto* t = el.as_table();
                if (t == nullptr) return error(el, "each [[sensors]] entry must be a table");
                if (auto e = check_keys(*t, "sensors",
                                        {"kind", "topic_prefix", "id_prefix", "count", "unit",
                                         "personal", "stale_after_s"})) {
                    return *e;
                }
                SensorGroup g;
                g.line = static_cast<int>(t->source().begin.line);
                int64_t stale = g.stale_after.count();
                if (auto e = get(*t, "kind", g.kind, "a string")) return *e;
                if (auto e = get(*t, "topic_prefix", g.topic_prefix, "a string")) return *e;
                if (auto e = get(*t, "id_prefix", g.id_prefix, "a string")) return *e;
                if (auto e = get(*t, "count", g.count, "an integer")) return *e;
                if (auto e = get(*t, "unit", g.unit, "a string")) return *e;
                if (auto e = get(*t, "personal", g.personal, "true or false")) return *e;
                if (auto e = get(*t, "stale_after_s", stale, "an integer")) return *e;
                g.stale_after = std::chrono::seconds(stale);
                if (!kSensorKinds.count(g.kind)) {
                    std::string list;
                    for (const auto& k : kSensorKinds) list += (list.empty() ? "" : ", ") + k;
                    return error(
                        *t, "sensor group has unknown kind '" + g.kind + "' (known: " + list + ")");
                }
                if (g.topic_prefix.empty() || g.topic_prefix.back() != '/') {
                    return error(*t, "sensor group '" + g.kind +
                                         "' needs topic_prefix ending in '/', e.g. \"sensor/" +
                                         g.kind + "/\"");
                }
                if (g.count < 1 || g.count > 100000) {
                    return error(*t,
                                 "sensor group '" + g.kind + "' needs count between 1 and 100000");
                }
                cfg.sensors.push_back(std::move(g));
            }
        }

        if (const auto* n = root.get("plugins")) {
            const auto* arr = n->as_array();
            if (arr == nullptr)
                return error(*n, "'plugins' must be an array of tables: [[plugins]]");
            std::set<std::string> names;
            for (const auto& el : *arr) {
                const auto* t = el.as_table();
                if (t == nullptr) return error(el, "each [[plugins]] entry must be a table");
                if (auto e = check_keys(
                        *t, "plugins",
                        {"name", "library", "trusted", "isolation", "inbox_capacity", "overflow",
                         "config", "restart_max", "restart_backoff_ms", "restart_backoff_max_ms",
                         "restart_reset_s", "callback_deadline_ms", "memory_limit_mb",
                         "cpu_limit_s", "nice", "publish_budget_per_s", "record_budget_per_s"})) {
                    return *e;
                }
                PluginSpec p;
                p.line = static_cast<int>(t->source().begin.line);
                std::string isolation, overflow;
                if (auto e = get(*t, "name", p.name, "a string")) return *e;
                if (auto e = get(*t, "library", p.library, "a string")) return *e;
                if (auto e = get(*t, "trusted", p.trusted, "true or false")) return *e;
                if (auto e = get(*t, "isolation", isolation, "a string")) return *e;
                if (auto e = get(*t, "inbox_capacity", p.inbox_capacity, "an integer")) return *e;
                if (auto e = get(*t, "overflow", overflow, "a string")) return *e;
                if (auto e = get(*t, "restart_max", p.restart_max, "an integer")) return *e;
                if (auto e = get(*t, "restart_backoff_ms", p.restart_backoff_ms, "an integer"))
                    return *e;
                if (auto e =
                        get(*t, "restart_backoff_max_ms", p.restart_backoff_max_ms, "an integer"))
                    return *e;
                if (auto e = get(*t, "restart_reset_s", p.restart_reset_s, "an integer")) return *e;
                if (auto e = get(*t, "callback_deadline_ms", p.callback_deadline_ms, "an integer"))
                    return *e;
                if (auto e = get(*t, "memory_limit_mb", p.memory_limit_mb, "an integer")) return *e;
                if (auto e = get(*t, "cpu_limit_s", p.cpu_limit_s, "an integer")) return *e;
                if (auto e = get(*t, "nice", p.nice, "an integer")) return *e;
                for (auto [key, dst] : {std::pair{"publish_budget_per_s", &p.publish_budget_per_s},
                                        {"record_budget_per_s", &p.record_budget_per_s}}) {
                    if (const toml::node* b = t->get(key)) {
                        const auto v = b->value<double>();  // integers convert too
                        if (!v || *v < 0)
                            return error(*b, std::string("'") + key +
                                                 "' must be a number >= 0 (0 = unlimited)");
                        *dst = *v;
                    }
                }
                if (p.callback_deadline_ms < 10) {
                    return error(*t, "callback_deadline_ms must be at least 10 (milliseconds)");
                }
                if (p.restart_backoff_max_ms < p.restart_backoff_ms) {
                    return error(
                        *t, "restart_backoff_max_ms must not be smaller than restart_backoff_ms");
                }
                if (p.restart_reset_s < 0) {
                    return error(
                        *t,
                        "restart_reset_s must be 0 (the restart budget is never refilled) or a "
                        "number "
                        "of seconds the runner must stay up to get its restart budget back");
                }
                if (p.nice < 0 || p.nice > 19) {
                    return error(*t,
                                 "nice must be 0 (the host's own priority) to 19 (the lowest): how "
                                 "many steps "
                                 "below the host the runner runs; it may yield to the host, never "
                                 "take priority over it");
                }
                if (p.memory_limit_mb > 0 && p.memory_limit_mb < 64) {
                    return error(*t,
                                 "memory_limit_mb must be 0 (no limit) or at least 64: the runner "
                                 "itself needs address space");
                }
                if (p.library.empty()) p.library = p.name;
                if (p.name.empty())
                    return error(*t, "[[plugins]] entry needs name = \"<instance name>\"");
                if (!names.insert(p.name).second)
                    return error(
                        *t, "plugin name '" + p.name + "' is used twice; names must be unique");
                if (isolation.empty()) {
                    p.isolation = p.trusted ? Isolation::in_process : Isolation::process;
                } else if (isolation == "in-process") {
                    p.isolation = Isolation::in_process;
                } else if (isolation == "process") {
                    p.isolation = Isolation::process;
                } else {
                    return error(*t->get("isolation"),
                                 "isolation must be \"in-process\" or \"process\", not \"" +
                                     isolation + "\"");
                }
                if (overflow.empty() || overflow == "drop_newest") {
                    p.overflow = OverflowPolicy::drop_newest;
                } else if (overflow == "drop_oldest") {
                    p.overflow = OverflowPolicy::drop_oldest;
                } else {
                    return error(*t->get("overflow"),
                                 "overflow must be \"drop_newest\" or \"drop_oldest\", not \"" +
                                     overflow + "\"");
                }
                if (p.inbox_capacity == 0) return error(*t, "inbox_capacity must be at least 1");
                if (const auto* c = t->get("config")) {
                    const auto* ct = c->as_table();
                    if (ct == nullptr)
                        return error(*c, "'config' must be a table: [plugins.config]");
                    for (const auto& [k, v] : *ct) {
                        const std::string key(k.str());
                        if (auto s = v.value<std::string>())
                            p.config[key] = *s;
                        else if (v.is_integer())
                            p.config[key] = *v.value<int64_t>();
                        else if (v.is_floating_point())
                            p.config[key] = *v.value<double>();
                        else if (v.is_boolean())
                            p.config[key] = *v.value<bool>();
                        else
                            return error(
                                v, "config key '" + key + "' must be a string, number or boolean");
                    }
                }
                cfg.plugins.push_back(std::move(p));
            }
        }
        return cfg;
    }

 private:
    fs::path file_;
};

Status check_ring(const nlohmann::json& ring, const std::string& where) {
    if (!ring.is_array() || ring.size() < 4) {
        return Error{where + ": a polygon ring needs at least 4 positions (first = last)", "zone"};
    }
    for (const auto& pos : ring) {
        if (!pos.is_array() || pos.size() < 2 || !pos[0].is_number() || !pos[1].is_number()) {
            return Error{where + ": a position must be [longitude, latitude]", "zone"};
        }
        const double lon = pos[0].get<double>(), lat = pos[1].get<double>();
        if (lon < -180 || lon > 180 || lat < -90 || lat > 90) {
            return Error{where + ": position [" + std::to_string(lon) + ", " + std::to_string(lat) +
                             "] is outside WGS84 range (GeoJSON order is [longitude, latitude])",
                         "zone"};
        }
    }
    if (ring.front() != ring.back())
        return Error{where + ": a polygon ring must end where it starts", "zone"};
    return {};
}

Status check_geometry(const nlohmann::json& g, const std::string& where) {
    if (!g.is_object() || !g.contains("type") || !g["type"].is_string()) {
        return Error{where + ": geometry needs a \"type\"", "zone"};
    }
    const auto type = g["type"].get<std::string>();
    const auto& coords = g.contains("coordinates") ? g["coordinates"] : nlohmann::json();
    if (type == "Polygon") {
        if (!coords.is_array() || coords.empty())
            return Error{where + ": Polygon needs coordinates", "zone"};
        for (const auto& ring : coords)
            if (auto s = check_ring(ring, where); !s) return s;
        return {};
    }
    if (type == "MultiPolygon") {
        if (!coords.is_array() || coords.empty())
            return Error{where + ": MultiPolygon needs coordinates", "zone"};
        for (const auto& poly : coords) {
            if (!poly.is_array() || poly.empty())
                return Error{where + ": MultiPolygon member needs rings", "zone"};
            for (const auto& ring : poly)
                if (auto s = check_ring(ring, where); !s) return s;
        }
        return {};
    }
    if (type == "Point") return {};  // points of interest (launch sites, sensors) are allowed
    return Error{
        where + ": geometry type '" + type + "' is not supported (use Polygon or MultiPolygon)",
        "zone"};
}

}  // namespace

std::vector<std::string> SensorGroup::ids() const {
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(count));
    char buf[16];
    for (int i = 1; i <= count; ++i) {
        std::snprintf(buf, sizeof buf, "%04d", i);
        out.push_back(id_prefix + buf);
    }
    return out;
}

const SensorGroup* TestbedConfig::sensor_group_for(std::string_view topic) const {
    for (const auto& g : sensors) {
        if (topic.substr(0, g.topic_prefix.size()) == g.topic_prefix) return &g;
    }
    return nullptr;
}

Status validate_zone(const nlohmann::json& z, const std::string& where) {
    if (!z.is_object() || !z.contains("type") || !z["type"].is_string()) {
        return Error{where + ": not a GeoJSON object (needs \"type\")", "zone"};
    }
    const auto type = z["type"].get<std::string>();
    if (type == "FeatureCollection") {
        if (!z.contains("features") || !z["features"].is_array() || z["features"].empty()) {
            return Error{where + ": FeatureCollection needs a non-empty \"features\" array",
                         "zone"};
        }
        bool has_area = false;
        for (const auto& f : z["features"]) {
            if (!f.is_object() || !f.contains("geometry"))
                return Error{where + ": each feature needs a geometry", "zone"};
            if (auto s = check_geometry(f["geometry"], where); !s) return s;
            const auto t = f["geometry"].value("type", "");
            has_area = has_area || t == "Polygon" || t == "MultiPolygon";
        }
        if (!has_area)
            return Error{where + ": the zone needs at least one Polygon or MultiPolygon", "zone"};
        return {};
    }
    if (type == "Feature") {
        if (!z.contains("geometry")) return Error{where + ": Feature needs a geometry", "zone"};
        return check_geometry(z["geometry"], where);
    }
    return check_geometry(z, where);
}

Result<TestbedConfig> parse_testbed(std::string_view text, const std::filesystem::path& file) {
    return Parser(file).parse(text);
}

Result<TestbedConfig> load_testbed(const std::filesystem::path& path) {
    std::error_code ec;
    fs::path file = path;
    if (fs::is_directory(path, ec)) file = path / "testbed.toml";
    std::ifstream in(file);
    if (!in) {
        return Error{
            "testbed '" + path.string() + "': cannot read " + file.string() +
                " (give a testbed folder such as testbeds/city-centre, or its testbed.toml)",
            "not_found"};
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_testbed(ss.str(), fs::absolute(file));
}

}  // namespace tb::host
