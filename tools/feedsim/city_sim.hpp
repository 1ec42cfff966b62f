// feedsim/city_sim.hpp: plausible, deterministic city sensor data for a testbed.
//
// Every sensor group in testbed.toml gets a model of its kind: groundwater in homes (a base level
// per home plus a shared rain response), footfall counters (day and week rhythm), parking garages
// (occupancy by hour), air quality (NO2 with rush hours). Readings are produced round-robin over
// all sensors, as SenML JSON, stamped with a simulated clock. The same seed and the same sequence
// of timestamps give byte-identical output.
// Thread safety: one thread per CitySim.
#pragma once

#include "config/testbed_config.hpp"
#include "wire/wire.hpp"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace tb::feedsim {

class GuidanceBoard;  // feedsim/parking_search.hpp

struct Reading {
    std::string topic;
    std::string payload;
    wire::ContentType type = wire::ContentType::senml_json;
    int64_t t_us = 0;
};

class CitySim {
   public:
    CitySim(const host::TestbedConfig& testbed, uint64_t seed);
    ~CitySim();

    // The next reading, measured at simulated time `t_us` (microseconds since the Unix epoch).
    Reading next(int64_t t_us);

    std::size_t sensor_count() const noexcept;

    // Guidance a plugin published for a parking zone (guidance/parking/<zone>), received at
    // simulated time t_us: drivers in that zone follow it (feedsim/parking_search.hpp).
    void on_guidance(const std::string& zone, int64_t t_us);

    // Model interface, one per sensor kind.
    class Model {
       public:
        virtual ~Model() = default;
        // Value of sensor `index` at time t; `rng` is the simulator's generator.
        virtual double value(std::size_t index, int64_t t_us, std::mt19937_64& rng) = 0;
        virtual const char* quantity() const = 0;  // SenML record name, e.g. "level"
        virtual const char* default_unit() const = 0;
        virtual const char* urn_kind() const = 0;  // e.g. "gw" in urn:dev:enschede:gw:<id>:
    };

   private:
    struct Sensor {
        std::string id, topic, base_name, unit;
        Model* model;
        std::size_t index;
        int decimals;
    };
    std::mt19937_64 rng_;
    std::shared_ptr<GuidanceBoard> guidance_;
    std::vector<std::unique_ptr<Model>> models_;
    std::vector<Sensor> sensors_;
    std::size_t next_ = 0;
};

// Uniform double in [0,1) from the generator's raw bits (portable, unlike std distributions).
double uniform01(std::mt19937_64& rng);
// Standard normal (Box-Muller) from the same bits.
double normal01(std::mt19937_64& rng);

}  // namespace tb::feedsim
