// feedsim/parking_search.hpp: drivers searching for a parking space in the city centre, and how
// much guidance helps them (the demo story of docs/evaluation.md).
//
// A `parking_search` sensor group reports, per zone, how long a driver who parked there spent
// searching: about 45 s at night, up to about 5 minutes when the garages are nearly full around
// midday, with autocorrelated noise (a bad quarter-hour is followed by another). Drivers in a zone
// that received guidance (guidance/parking/<zone> from the host's output, see
// `testbed feed sim --follow`) within the last kGuidanceValidity of simulated time search 40%
// shorter. Zones without guidance are unchanged, so a control group stays a fair comparison.
// Thread safety: one thread per model (the simulator's).
#pragma once

#include "feedsim/city_sim.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tb::feedsim {

// Which zones received guidance, and when (simulated time). Shared by the simulator and its model.
class GuidanceBoard {
   public:
    static constexpr int64_t kGuidanceValidity_us = 15 * 60 * 1'000'000LL;
    static constexpr double kGuidedFactor = 0.6;  // guided drivers search 40% shorter

    void received(const std::string& zone, int64_t t_us) { last_us_[zone] = t_us; }
    bool guided(const std::string& zone, int64_t t_us) const {
        const auto it = last_us_.find(zone);
        return it != last_us_.end() && t_us - it->second <= kGuidanceValidity_us;
    }
    uint64_t messages = 0;

   private:
    std::map<std::string, int64_t> last_us_;
};

std::unique_ptr<CitySim::Model> make_parking_search_model(std::vector<std::string> zone_ids, std::mt19937_64& rng,
                                                          std::shared_ptr<const GuidanceBoard> board);

}  // namespace tb::feedsim
