#include "feedsim/parking_search.hpp"

#include <algorithm>
#include <cmath>

namespace tb::feedsim {
namespace {

class ParkingSearch final : public CitySim::Model {
   public:
    ParkingSearch(std::vector<std::string> ids, std::mt19937_64& rng, std::shared_ptr<const GuidanceBoard> board)
        : ids_(std::move(ids)), board_(std::move(board)) {
        for (std::size_t i = 0; i < ids_.size(); ++i) noise_.push_back(0.1 * normal01(rng));
    }
    double value(std::size_t i, int64_t t_us, std::mt19937_64& rng) override {
        // Garage occupancy by hour (as the parking model), then a search time that grows steeply
        // as the garages fill: searching is quick until the last spaces go.
        const double h = std::fmod(static_cast<double>(t_us) / 3600e6 + 1.0, 24.0);
        const double shape = 1.0 / (1.0 + std::exp(-(h - 9.5) * 1.2)) - 1.0 / (1.0 + std::exp(-(h - 19) * 0.9));
        const double occ = std::clamp(0.05 + 0.85 * shape, 0.0, 1.0);
        noise_[i] = 0.8 * noise_[i] + 0.12 * normal01(rng);  // AR(1) on the log scale
        double v = (45 + 400 * occ * occ * occ) * std::exp(noise_[i]);
        if (board_ && board_->guided(ids_[i], t_us)) v *= GuidanceBoard::kGuidedFactor;
        return std::max(5.0, v);
    }
    const char* quantity() const override { return "search_time"; }
    const char* default_unit() const override { return "s"; }
    const char* urn_kind() const override { return "ps"; }

   private:
    std::vector<std::string> ids_;
    std::shared_ptr<const GuidanceBoard> board_;
    std::vector<double> noise_;
};

}  // namespace

std::unique_ptr<CitySim::Model> make_parking_search_model(std::vector<std::string> zone_ids, std::mt19937_64& rng,
                                                          std::shared_ptr<const GuidanceBoard> board) {
    return std::make_unique<ParkingSearch>(std::move(zone_ids), rng, std::move(board));
}

}  // namespace tb::feedsim
