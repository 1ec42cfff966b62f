#include "feedsim/drone_sim.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace tb::feedsim {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kMetresPerDegLat = 111'320.0;

// The first polygon's outer ring of a Polygon, MultiPolygon, Feature or FeatureCollection.
std::vector<std::pair<double, double>> outer_ring(const nlohmann::json& g) {
    std::vector<std::pair<double, double>> ring;
    if (!g.is_object()) return ring;
    const std::string type = g.value("type", "");
    if (type == "FeatureCollection" && g.contains("features") && g["features"].is_array() && !g["features"].empty()) {
        return outer_ring(g["features"][0]);
    }
    if (type == "Feature" && g.contains("geometry")) return outer_ring(g["geometry"]);
    const nlohmann::json* coords = nullptr;
    if (type == "Polygon" && g.contains("coordinates") && !g["coordinates"].empty()) coords = &g["coordinates"][0];
    if (type == "MultiPolygon" && g.contains("coordinates") && !g["coordinates"].empty() && !g["coordinates"][0].empty()) {
        coords = &g["coordinates"][0][0];
    }
    if (coords == nullptr || !coords->is_array()) return ring;
    for (const auto& p : *coords) {
        if (p.is_array() && p.size() >= 2 && p[0].is_number() && p[1].is_number()) ring.emplace_back(p[0].get<double>(), p[1].get<double>());
    }
    return ring;
}

uint64_t mix(uint64_t x) {  // splitmix64: a stable hash for per-flight decisions
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

}  // namespace

DroneSim::DroneSim(const host::TestbedConfig& testbed, uint64_t seed) : seed_(seed) {
    zone_ = outer_ring(testbed.zone);
    if (zone_.size() < 3) zone_ = {{6.88, 52.27}, {6.90, 52.27}, {6.90, 52.28}, {6.88, 52.28}};
    double cx = 0, cy = 0;
    for (const auto& [x, y] : zone_) cx += x, cy += y;
    cx /= static_cast<double>(zone_.size());
    cy /= static_cast<double>(zone_.size());
    for (const auto& g : testbed.sensors) {
        if (g.kind != "drone") continue;
        for (int i = 0; i < g.count; ++i) {
            Drone d;
            d.sysid = static_cast<int>(drones_.size()) + 1;
            d.topic_prefix = g.topic_prefix + std::to_string(d.sysid) + "/";
            // Waypoints: the zone's vertices pulled towards the centre (50..70 %), so the loop
            // stays well inside the zone; each drone gets its own shrink factor.
            const double k = 0.5 + 0.2 * static_cast<double>(mix(seed ^ static_cast<uint64_t>(d.sysid)) % 1000) / 1000.0;
            for (const auto& [x, y] : zone_) d.waypoints.emplace_back(cx + (x - cx) * k, cy + (y - cy) * k);
            if (d.waypoints.size() > 1 && d.waypoints.front() == d.waypoints.back()) d.waypoints.pop_back();
            d.phase_s = static_cast<double>(mix(seed + 17 * static_cast<uint64_t>(d.sysid)) % 600);
            drones_.push_back(std::move(d));
        }
    }
}

DroneState DroneSim::state(std::size_t index, int64_t t_us) const {
    const Drone& d = drones_.at(index);
    DroneState s;
    const double cycle = kFlightSeconds + kGroundSeconds;
    const double t = static_cast<double>(t_us) / 1e6 + d.phase_s;
    const auto flight = static_cast<uint64_t>(std::floor(t / cycle));
    const double in_cycle = t - static_cast<double>(flight) * cycle;
    // Every third flight of a drone (which one depends on the seed and the drone) has an excursion.
    s.excursion_flight = (flight + static_cast<uint64_t>(d.sysid) + seed_) % 3 == 0;
    const auto& home = d.waypoints.front();
    if (in_cycle >= kFlightSeconds) {
        // On the ground at the first waypoint, recharging linearly back to 100 %.
        s.lon_deg = home.first;
        s.lat_deg = home.second;
        s.battery_pct = kLandAtPct + (100 - kLandAtPct) * (in_cycle - kFlightSeconds) / kGroundSeconds;
        return s;
    }
    s.airborne = true;
    s.battery_pct = 100 - (100 - kLandAtPct) * in_cycle / kFlightSeconds;
    // Climb for 30 s, cruise, descend for the last 30 s.
    const double climb = std::min({1.0, in_cycle / 30.0, (kFlightSeconds - in_cycle) / 30.0});
    s.rel_alt_m = kCruiseHeight_m * climb;
    // Position along the loop, leg by leg at equal time per leg.
    const std::size_t n = d.waypoints.size();
    const double legs = static_cast<double>(n);
    const double pos = in_cycle / kFlightSeconds * legs;
    const auto leg = std::min(n - 1, static_cast<std::size_t>(pos));
    const double f = pos - static_cast<double>(leg);
    auto a = d.waypoints[leg];
    auto b = d.waypoints[(leg + 1) % n];
    if (s.excursion_flight && leg == 1) {
        // The excursion: this leg bulges out to 1.8x the waypoint's distance from the centre of
        // the loop, which puts the middle of the leg outside the zone.
        double cx = 0, cy = 0;
        for (const auto& [x, y] : d.waypoints) cx += x, cy += y;
        cx /= legs, cy /= legs;
        const double bulge = std::sin(f * kPi) * 1.8;
        const double mx = (a.first + b.first) / 2, my = (a.second + b.second) / 2;
        a = {a.first + (mx - cx) * bulge, a.second + (my - cy) * bulge};
        b = {b.first + (mx - cx) * bulge, b.second + (my - cy) * bulge};
    }
    s.lon_deg = a.first + (b.first - a.first) * f;
    s.lat_deg = a.second + (b.second - a.second) * f;
    const double leg_s = kFlightSeconds / legs;
    const double m_per_deg_lon = kMetresPerDegLat * std::cos(s.lat_deg * kPi / 180);
    s.vn_mps = (b.second - a.second) * kMetresPerDegLat / leg_s;
    s.ve_mps = (b.first - a.first) * m_per_deg_lon / leg_s;
    s.hdg_deg = std::fmod(std::atan2(s.ve_mps, s.vn_mps) * 180 / kPi + 360, 360);
    return s;
}

Reading DroneSim::next(int64_t t_us) {
    Reading r;
    if (drones_.empty()) return r;
    const std::size_t drone = next_ / 3, kind = next_ % 3;
    next_ = (next_ + 1) % stream_count();
    const Drone& d = drones_[drone];
    const DroneState s = state(drone, t_us);
    auto quant = [](double v, double q) { return std::round(v / q) * q; };
    nlohmann::json j{{"sysid", d.sysid}, {"compid", 1}};
    if (kind == 0) {
        r.topic = d.topic_prefix + "position";
        j["time_boot_ms"] = static_cast<uint32_t>((t_us / 1000) & 0xFFFFFFFF);
        j["lat_deg"] = quant(s.lat_deg, 1e-7);
        j["lon_deg"] = quant(s.lon_deg, 1e-7);
        j["alt_m"] = quant(home_alt_m_ + s.rel_alt_m, 0.001);
        j["rel_alt_m"] = quant(s.rel_alt_m, 0.001);
        j["vx_mps"] = quant(s.vn_mps, 0.01);
        j["vy_mps"] = quant(s.ve_mps, 0.01);
        j["vz_mps"] = 0.0;
        j["hdg_deg"] = quant(s.hdg_deg, 0.01);
    } else if (kind == 1) {
        r.topic = d.topic_prefix + "battery";
        const double cell = 3.3 + 0.9 * s.battery_pct / 100;  // 4S LiPo, 3.3..4.2 V per cell
        j["id"] = 0;
        j["voltage_v"] = quant(4 * cell, 0.001);
        j["cell_voltages_v"] = {quant(cell, 0.001), quant(cell, 0.001), quant(cell, 0.001), quant(cell, 0.001)};
        j["current_a"] = s.airborne ? 18.5 : 0.0;
        j["remaining_pct"] = static_cast<int>(std::floor(s.battery_pct));
    } else {
        r.topic = d.topic_prefix + "heartbeat";
        j["custom_mode"] = 0;
        j["type"] = 2;        // MAV_TYPE_QUADROTOR
        j["autopilot"] = 12;  // MAV_AUTOPILOT_PX4
        j["base_mode"] = s.airborne ? 0x81 : 0x01;
        j["armed"] = s.airborne;
        j["system_status"] = s.airborne ? 4 : 3;  // MAV_STATE_ACTIVE / STANDBY
        j["mavlink_version"] = 3;
    }
    r.payload = j.dump();
    r.type = wire::ContentType::json;
    r.t_us = t_us;
    return r;
}

}  // namespace tb::feedsim
