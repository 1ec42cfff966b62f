// drone_geofence: keep drones at the Space53 test field inside their zone and altitude limit.
//
// Input:  drone telemetry JSON (docs/feeds.md) on drone/<sysid>/position (lat_deg, lon_deg,
//         rel_alt_m) and drone/<sysid>/battery (remaining_pct), from `testbed feed mavlink` or the
//         simulator. Other drone/ topics (heartbeat, status, odid) are accepted and ignored.
// Output: event "geofence_breach" (CRITICAL) on the first position outside the zone polygon or
//         above max_altitude_m, once per breach until the drone is back inside; then
//         "geofence_clear" (INFO). Event "battery_low" (WARNING) when remaining_pct drops below
//         low_battery_pct, once until it is charged above it again; "battery_critical" (MAJOR)
//         below critical_battery_pct. With every such event a recommended action is published
//         on action/drone/<sysid>: {"sysid","action":"RTL"|"LAND","reason",...}: RTL for a breach
//         or low battery, LAND for a critical battery.
//         Metrics per drone (subject = sysid): rel_alt_m (m), outside_m (m, distance outside the
//         zone, 0 inside), battery_pct (%).
// Config: zone_geojson (path to a GeoJSON Polygon/MultiPolygon/Feature/FeatureCollection; relative
//         paths are relative to the host's working directory) or zone_polygon ("lon,lat lon,lat
//         ..."); max_altitude_m; low_battery_pct; critical_battery_pct.
// Bad input: a payload that is not JSON, or a position without numeric lat_deg/lon_deg, is
//         rejected as bad data (counted by the host); a bad zone stops the plugin from starting.
#include <testbed/plugin.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace {

struct Point {
    double lon, lat;
};
using Ring = std::vector<Point>;

constexpr double kPi = 3.14159265358979323846;
constexpr double kMetresPerDegLat = 111'320.0;

void collect_rings(const nlohmann::json& g, std::vector<Ring>& out) {
    if (!g.is_object()) throw std::runtime_error("zone: a GeoJSON object was expected");
    const std::string type = g.value("type", "");
    auto ring_of = [](const nlohmann::json& coords) {
        Ring r;
        for (const auto& p : coords) {
            if (!p.is_array() || p.size() < 2 || !p[0].is_number() || !p[1].is_number()) {
                throw std::runtime_error("zone: a position is not [lon, lat]");
            }
            r.push_back({p[0].get<double>(), p[1].get<double>()});
        }
        if (r.size() < 3) throw std::runtime_error("zone: a polygon ring has fewer than 3 positions");
        return r;
    };
    if (type == "FeatureCollection") {
        for (const auto& f : g.at("features")) collect_rings(f, out);
    } else if (type == "Feature") {
        collect_rings(g.at("geometry"), out);
    } else if (type == "Polygon") {
        out.push_back(ring_of(g.at("coordinates").at(0)));  // outer ring; holes are not flight areas anyway
    } else if (type == "MultiPolygon") {
        for (const auto& poly : g.at("coordinates")) out.push_back(ring_of(poly.at(0)));
    } else {
        throw std::runtime_error("zone: GeoJSON type '" + type + "' is not a Polygon, MultiPolygon, Feature or FeatureCollection");
    }
}

bool inside(const Ring& r, Point p) {  // even-odd ray casting
    bool in = false;
    for (std::size_t i = 0, j = r.size() - 1; i < r.size(); j = i++) {
        if ((r[i].lat > p.lat) != (r[j].lat > p.lat) &&
            p.lon < (r[j].lon - r[i].lon) * (p.lat - r[i].lat) / (r[j].lat - r[i].lat) + r[i].lon) {
            in = !in;
        }
    }
    return in;
}

// Distance in metres from p to the ring's edges (local flat approximation; fine at field scale).
double distance_to_edge_m(const Ring& r, Point p) {
    const double mx = kMetresPerDegLat * std::cos(p.lat * kPi / 180), my = kMetresPerDegLat;
    double best = 1e18;
    for (std::size_t i = 0, j = r.size() - 1; i < r.size(); j = i++) {
        const double ax = (r[j].lon - p.lon) * mx, ay = (r[j].lat - p.lat) * my;
        const double bx = (r[i].lon - p.lon) * mx, by = (r[i].lat - p.lat) * my;
        const double dx = bx - ax, dy = by - ay;
        const double len2 = dx * dx + dy * dy;
        const double t = len2 > 0 ? std::clamp(-(ax * dx + ay * dy) / len2, 0.0, 1.0) : 0.0;
        best = std::min(best, std::hypot(ax + t * dx, ay + t * dy));
    }
    return best;
}

class DroneGeofence final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest("drone_geofence", "0.1.0")
            .organisation("Space53 / Gemeente Enschede")
            .contact("space53@testbed.enschede.example")
            .description("Raises a CRITICAL event and recommends RTL when a drone leaves its zone or altitude limit; "
                         "warns on low battery.")
            .reads("drone/")
            .publishes("action/drone/")
            .metric("rel_alt_m", "m", tb::Better::neither, "Height above home per position report")
            .metric("outside_m", "m", tb::Better::lower, "Distance outside the zone (0 inside)")
            .metric("battery_pct", "%", tb::Better::higher, "Battery remaining per battery report")
            .config("zone_geojson", tb::ConfigType::string, "",
                    "GeoJSON file with the flight zone (Polygon/MultiPolygon/Feature/FeatureCollection)")
            .config("zone_polygon", tb::ConfigType::string, "",
                    "Flight zone inline as \"lon,lat lon,lat ...\" (used when zone_geojson is empty)")
            .config("max_altitude_m", tb::ConfigType::number, "120", "Altitude limit above home (m)")
            .config("low_battery_pct", tb::ConfigType::number, "30", "WARNING and RTL below this battery level (%)")
            .config("critical_battery_pct", tb::ConfigType::number, "15", "LAND below this battery level (%)");
    }

    explicit DroneGeofence(tb::Host& host)
        : tb::Plugin(host),
          max_alt_(host.config_double("max_altitude_m", 120)),
          low_pct_(host.config_double("low_battery_pct", 30)),
          critical_pct_(host.config_double("critical_battery_pct", 15)) {
        const std::string file = host.config_string("zone_geojson");
        const std::string inline_zone = host.config_string("zone_polygon");
        if (!file.empty()) {
            std::ifstream in(file);
            if (!in) throw std::runtime_error("zone_geojson: cannot read '" + file + "'");
            std::stringstream ss;
            ss << in.rdbuf();
            const auto g = nlohmann::json::parse(ss.str(), nullptr, false);
            if (g.is_discarded()) throw std::runtime_error("zone_geojson: '" + file + "' is not JSON");
            try {
                collect_rings(g, zone_);
            } catch (const std::exception& e) {
                throw std::runtime_error("zone_geojson '" + file + "': " + e.what());
            }
        } else if (!inline_zone.empty()) {
            Ring r;
            std::istringstream ss(inline_zone);
            std::string pair;
            while (ss >> pair) {
                Point p{};
                char comma = 0;
                std::istringstream ps(pair);
                if (!(ps >> p.lon >> comma >> p.lat) || comma != ',') {
                    throw std::runtime_error("zone_polygon: '" + pair + "' is not lon,lat");
                }
                r.push_back(p);
            }
            if (r.size() < 3) throw std::runtime_error("zone_polygon: needs at least 3 lon,lat positions");
            zone_.push_back(std::move(r));
        } else {
            throw std::runtime_error("no zone: set zone_geojson (a GeoJSON file) or zone_polygon (\"lon,lat lon,lat ...\")");
        }
    }

    void on_message(const tb::Message& msg) override {
        // drone/<sysid>/<kind>
        const auto topic = msg.topic;
        const auto last = topic.rfind('/');
        const auto first = topic.find('/');
        if (first == last) return;
        const std::string sysid(topic.substr(first + 1, last - first - 1));
        const std::string_view kind = topic.substr(last + 1);
        if (kind != "position" && kind != "battery") return;
        const auto j = nlohmann::json::parse(msg.payload, nullptr, false);
        if (j.is_discarded() || !j.is_object()) throw tb::BadData("payload is not a JSON object");
        auto& d = drones_[sysid];
        if (kind == "position") {
            const auto lat = j.find("lat_deg"), lon = j.find("lon_deg");
            if (lat == j.end() || lon == j.end() || !lat->is_number() || !lon->is_number()) {
                throw tb::BadData("position without numeric lat_deg/lon_deg");
            }
            const Point p{lon->get<double>(), lat->get<double>()};
            const auto rel = j.find("rel_alt_m");
            if (rel != j.end() && !rel->is_null() && !rel->is_number()) throw tb::BadData("rel_alt_m is not a number");
            const double alt = rel != j.end() && rel->is_number() ? rel->get<double>() : 0.0;
            bool in_zone = false;
            double outside_m = 1e18;
            for (const auto& r : zone_) {
                if (inside(r, p)) in_zone = true;
                else outside_m = std::min(outside_m, distance_to_edge_m(r, p));
            }
            if (in_zone) outside_m = 0;
            host().record_metric("rel_alt_m", alt, sysid, msg.source_time_us);
            host().record_metric("outside_m", outside_m, sysid, msg.source_time_us);
            const bool breach = !in_zone || alt > max_alt_;
            if (breach && !d.breached) {
                d.breached = true;
                const std::string why = !in_zone ? "outside the zone by " + std::to_string(std::lround(outside_m)) + " m"
                                                 : "at " + std::to_string(std::lround(alt)) + " m, above the " +
                                                       std::to_string(std::lround(max_alt_)) + " m limit";
                const nlohmann::json detail{{"sysid", sysid}, {"lat_deg", p.lat}, {"lon_deg", p.lon}, {"rel_alt_m", alt},
                                            {"outside_m", outside_m}, {"max_altitude_m", max_alt_}};
                host().record_event(tb::Severity::critical, "geofence_breach", "drone " + sysid + " is " + why, sysid,
                                    detail.dump());
                act(sysid, "RTL", !in_zone ? "geofence_breach" : "altitude_limit", detail);
            } else if (!breach && d.breached) {
                d.breached = false;
                host().record_event(tb::Severity::info, "geofence_clear", "drone " + sysid + " is back inside its zone", sysid);
            }
        } else {
            const auto rem = j.find("remaining_pct");
            if (rem == j.end() || rem->is_null()) return;  // battery level unknown: nothing to judge
            if (!rem->is_number()) throw tb::BadData("battery remaining_pct is not a number");
            const double pct = rem->get<double>();
            host().record_metric("battery_pct", pct, sysid, msg.source_time_us);
            const nlohmann::json detail{{"sysid", sysid}, {"remaining_pct", pct}};
            if (pct < critical_pct_ && !d.critical) {
                d.critical = d.low = true;
                host().record_event(tb::Severity::major, "battery_critical",
                                    "drone " + sysid + " battery at " + std::to_string(std::lround(pct)) + " %", sysid, detail.dump());
                act(sysid, "LAND", "battery_critical", detail);
            } else if (pct < low_pct_ && !d.low) {
                d.low = true;
                host().record_event(tb::Severity::warning, "battery_low",
                                    "drone " + sysid + " battery at " + std::to_string(std::lround(pct)) + " %", sysid, detail.dump());
                act(sysid, "RTL", "battery_low", detail);
            } else if (pct >= low_pct_) {
                d.low = d.critical = false;  // recharged
            }
        }
    }

   private:
    void act(const std::string& sysid, const char* action, const char* reason, nlohmann::json detail) {
        detail["action"] = action;
        detail["reason"] = reason;
        host().publish("action/drone/" + sysid, detail.dump());
    }

    struct DroneState {
        bool breached = false, low = false, critical = false;
    };
    std::vector<Ring> zone_;
    double max_alt_, low_pct_, critical_pct_;
    std::unordered_map<std::string, DroneState> drones_;
};

}  // namespace

TB_PLUGIN(DroneGeofence)
