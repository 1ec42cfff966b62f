#include "feedsim/city_sim.hpp"

#include "feedsim/parking_search.hpp"

#include <cmath>
#include <cstdio>
#include <numbers>

namespace tb::feedsim {

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double normal01(std::mt19937_64& rng) {
    const double u1 = 1.0 - uniform01(rng), u2 = uniform01(rng);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

namespace {

constexpr double kHour = 3600e6;  // microseconds
constexpr double kDay = 24 * kHour;

// Local hour of day (Europe/Amsterdam approximated as UTC+1) and weekday (0 = Monday).
double hour_of_day(int64_t t_us) { return std::fmod(static_cast<double>(t_us) / kHour + 1.0, 24.0); }
int weekday(int64_t t_us) { return static_cast<int>(std::fmod(std::floor((static_cast<double>(t_us) + kHour) / kDay) + 3, 7)); }

// Groundwater in homes: each home has its own depth; rain raises every home, in proportion to its
// sensitivity, and drains away over about a day. Rain comes in spells of a few hours.
class Groundwater final : public CitySim::Model {
   public:
    Groundwater(std::size_t n, std::mt19937_64& rng) {
        for (std::size_t i = 0; i < n; ++i) {
            base_.push_back(-2.2 + 1.3 * uniform01(rng));
            sensitivity_.push_back(0.2 + 0.8 * uniform01(rng));
        }
    }
    double value(std::size_t i, int64_t t_us, std::mt19937_64& rng) override {
        advance_weather(t_us, rng);
        return base_[i] + wetness_ * sensitivity_[i] + 0.01 * normal01(rng);
    }
    const char* quantity() const override { return "level"; }
    const char* default_unit() const override { return "m"; }
    const char* urn_kind() const override { return "gw"; }

   private:
    void advance_weather(int64_t t_us, std::mt19937_64& rng) {
        if (last_us_ == 0) last_us_ = t_us;
        const double dt_h = static_cast<double>(t_us - last_us_) / kHour;
        if (dt_h <= 0) return;
        last_us_ = t_us;
        // Start or end a rain spell (about one spell every two days, lasting about four hours).
        if (raining_ ? uniform01(rng) < dt_h / 4.0 : uniform01(rng) < dt_h / 48.0) raining_ = !raining_;
        wetness_ += (raining_ ? 0.12 * dt_h : 0.0) - wetness_ * (dt_h / 24.0);
        if (wetness_ < 0) wetness_ = 0;
        if (wetness_ > 2.0) wetness_ = 2.0;
    }
    std::vector<double> base_, sensitivity_;
    int64_t last_us_ = 0;
    bool raining_ = false;
    double wetness_ = 0;
};

// Footfall: people per minute past a counter, with morning/afternoon peaks, quieter Sundays and a
// busier Saturday market.
class Footfall final : public CitySim::Model {
   public:
    Footfall(std::size_t n, std::mt19937_64& rng) {
        for (std::size_t i = 0; i < n; ++i) scale_.push_back(20 + 60 * uniform01(rng));
    }
    double value(std::size_t i, int64_t t_us, std::mt19937_64& rng) override {
        const double h = hour_of_day(t_us);
        const int wd = weekday(t_us);
        const double day = 0.1 + 0.9 * std::exp(-std::pow((h - 12.5) / 3.5, 2)) + 0.4 * std::exp(-std::pow((h - 17) / 1.5, 2));
        const double week = wd == 6 ? 0.5 : (wd == 5 ? 1.4 : 1.0);
        const double mean = scale_[i] * day * week;
        return std::max(0.0, std::round(mean + std::sqrt(mean) * normal01(rng)));
    }
    const char* quantity() const override { return "count"; }
    const char* default_unit() const override { return "count"; }
    const char* urn_kind() const override { return "ff"; }

   private:
    std::vector<double> scale_;
};

// Parking garages: occupancy in percent, filling in the morning, emptying in the evening.
class Parking final : public CitySim::Model {
   public:
    Parking(std::size_t n, std::mt19937_64& rng) {
        for (std::size_t i = 0; i < n; ++i) peak_.push_back(70 + 28 * uniform01(rng));
    }
    double value(std::size_t i, int64_t t_us, std::mt19937_64& rng) override {
        const double h = hour_of_day(t_us);
        const int wd = weekday(t_us);
        const double shape = 1.0 / (1.0 + std::exp(-(h - 9.5) * 1.2)) - 1.0 / (1.0 + std::exp(-(h - 19) * 0.9));
        const double week = wd == 5 ? 1.1 : (wd == 6 ? 0.6 : 1.0);
        return std::clamp(5 + (peak_[i] - 5) * shape * week + 2.0 * normal01(rng), 0.0, 100.0);
    }
    const char* quantity() const override { return "occupancy"; }
    const char* default_unit() const override { return "%"; }
    const char* urn_kind() const override { return "pk"; }

   private:
    std::vector<double> peak_;
};

// Air quality: NO2 concentration with rush-hour peaks.
class AirQuality final : public CitySim::Model {
   public:
    AirQuality(std::size_t n, std::mt19937_64& rng) {
        for (std::size_t i = 0; i < n; ++i) base_.push_back(12 + 10 * uniform01(rng));
    }
    double value(std::size_t i, int64_t t_us, std::mt19937_64& rng) override {
        const double h = hour_of_day(t_us);
        const double rush = 14 * std::exp(-std::pow((h - 8) / 1.2, 2)) + 12 * std::exp(-std::pow((h - 17.5) / 1.5, 2));
        return std::max(0.0, base_[i] + rush + 2.5 * normal01(rng));
    }
    const char* quantity() const override { return "no2"; }
    const char* default_unit() const override { return "ug/m3"; }
    const char* urn_kind() const override { return "aq"; }

   private:
    std::vector<double> base_;
};

// Any other kind: a slow sine with noise, so that every declared group produces data.
class Generic final : public CitySim::Model {
   public:
    explicit Generic(std::string kind) : kind_(std::move(kind)) {}
    double value(std::size_t i, int64_t t_us, std::mt19937_64& rng) override {
        return 50 + 20 * std::sin(static_cast<double>(t_us) / kHour + static_cast<double>(i)) + normal01(rng);
    }
    const char* quantity() const override { return "value"; }
    const char* default_unit() const override { return "1"; }
    const char* urn_kind() const override { return kind_.c_str(); }

   private:
    std::string kind_;
};

}  // namespace

CitySim::CitySim(const host::TestbedConfig& testbed, uint64_t seed)
    : rng_(seed), guidance_(std::make_shared<GuidanceBoard>()) {
    for (const auto& g : testbed.sensors) {
        if (g.kind == "drone") continue;  // flown by DroneSim (drone_sim.hpp), not a SenML sensor
        const auto n = static_cast<std::size_t>(g.count);
        std::unique_ptr<Model> m;
        if (g.kind == "groundwater") m = std::make_unique<Groundwater>(n, rng_);
        else if (g.kind == "footfall") m = std::make_unique<Footfall>(n, rng_);
        else if (g.kind == "parking") m = std::make_unique<Parking>(n, rng_);
        else if (g.kind == "air_quality") m = std::make_unique<AirQuality>(n, rng_);
        else if (g.kind == "parking_search") m = make_parking_search_model(g.ids(), rng_, guidance_);
        else m = std::make_unique<Generic>(g.kind);
        const auto ids = g.ids();
        for (std::size_t i = 0; i < ids.size(); ++i) {
            Sensor s;
            s.id = ids[i];
            s.topic = g.topic(ids[i]);
            s.base_name = std::string("urn:dev:enschede:") + m->urn_kind() + ":" + ids[i] + ":";
            s.unit = g.unit.empty() ? m->default_unit() : g.unit;
            s.model = m.get();
            s.index = i;
            s.decimals = g.kind == "groundwater" ? 3 : 1;
            sensors_.push_back(std::move(s));
        }
        models_.push_back(std::move(m));
    }
}

CitySim::~CitySim() = default;

std::size_t CitySim::sensor_count() const noexcept { return sensors_.size(); }

void CitySim::on_guidance(const std::string& zone, int64_t t_us) {
    guidance_->received(zone, t_us);
    ++guidance_->messages;
}

Reading CitySim::next(int64_t t_us) {
    Reading r;
    if (sensors_.empty()) return r;
    const Sensor& s = sensors_[next_];
    next_ = (next_ + 1) % sensors_.size();
    const double v = s.model->value(s.index, t_us, rng_);
    char buf[256];
    std::snprintf(buf, sizeof buf, "[{\"bn\":\"%s\",\"n\":\"%s\",\"u\":\"%s\",\"v\":%.*f,\"t\":%.3f}]", s.base_name.c_str(),
                  s.model->quantity(), s.unit.c_str(), s.decimals, v, static_cast<double>(t_us) / 1e6);
    r.topic = s.topic;
    r.payload = buf;
    r.t_us = t_us;
    return r;
}

}  // namespace tb::feedsim
