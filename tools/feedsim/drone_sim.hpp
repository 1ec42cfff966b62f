// feedsim/drone_sim.hpp: simulated drone flights for testbeds with a sensor group of kind "drone".
//
// Each drone (system id 1..count of the group) flies a loop of waypoints inside the testbed's
// GeoJSON zone at a cruise height, draining its battery, lands, recharges and flies again. Every
// third flight (which one depends on the seed) pushes one leg outside the zone: the geofence
// excursion a geofence plugin must catch. Telemetry is the same JSON the MAVLink bridge publishes
// (docs/feeds.md): <topic_prefix><sysid>/position, /battery and /heartbeat, round-robin.
// The state is a pure function of (seed, drone, time), so a run is reproducible under --seed.
// Thread safety: one thread per DroneSim.
#pragma once

#include "config/testbed_config.hpp"
#include "feedsim/city_sim.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace tb::feedsim {

struct DroneState {
    double lat_deg = 0, lon_deg = 0;
    double rel_alt_m = 0;
    double vn_mps = 0, ve_mps = 0;
    double hdg_deg = 0;
    double battery_pct = 100;
    bool airborne = false;
    bool excursion_flight = false;
};

class DroneSim {
   public:
    DroneSim(const host::TestbedConfig& testbed, uint64_t seed);

    // Messages per round (3 per drone: position, battery, heartbeat); 0 when no drone group.
    std::size_t stream_count() const noexcept { return drones_.size() * 3; }
    Reading next(int64_t t_us);
    // The state of drone `index` (0-based) at time t (for tests).
    DroneState state(std::size_t index, int64_t t_us) const;

    static constexpr double kCruiseHeight_m = 60;
    static constexpr double kFlightSeconds = 900;  // airborne per cycle
    static constexpr double kGroundSeconds = 300;  // landed and recharging
    static constexpr double kLandAtPct = 22;       // battery left at landing

   private:
    struct Drone {
        int sysid;
        std::string topic_prefix;  // e.g. "drone/7/"
        std::vector<std::pair<double, double>> waypoints;  // (lon, lat), closed loop
        double phase_s;            // offset so drones do not fly in lockstep
    };
    uint64_t seed_;
    double home_alt_m_ = 30;  // terrain (AMSL) at Twente Airport, roughly
    std::vector<Drone> drones_;
    std::size_t next_ = 0;
    std::vector<std::pair<double, double>> zone_;  // outer ring of the zone (lon, lat)
};

}  // namespace tb::feedsim
