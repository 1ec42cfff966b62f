// groundwater_alert: warn households in Enschede-Zuid before groundwater floods their cellar.
//
// Input:  SenML packs on sensor/groundwater/<sensor> with a record named "...level" in metres
//         relative to the surface (negative = below ground, e.g. -1.20).
// Output: metric "level" (m) per reading, with the sensor id as subject;
//         metric "level_mean" (m): the running mean for that sensor, every `mean_every` readings;
//         event "groundwater_high" (WARNING) when a reading is above alert_level_m, at most once
//         per sensor until the level has dropped below alert_level_m - hysteresis_m again
//         (with every_reading = true: for every reading above the alert level);
//         a JSON alert on alert/groundwater/<sensor> for the same crossing.
// Bad input: a payload that is not SenML or has no numeric level is rejected as TB_E_BAD_DATA
//         (counted by the host, never an incident); other records in the pack are ignored.
#include <testbed/plugin.hpp>
#include <testbed/senml.hpp>

#include <string>
#include <unordered_map>

namespace {

class GroundwaterAlert final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest("groundwater_alert", "0.3.0")
            .organisation("Gemeente Enschede, team Water")
            .contact("water@testbed.enschede.example")
            .description("Raises an alert when groundwater in a home comes close to the surface.")
            .reads("sensor/groundwater/")
            .publishes("alert/groundwater/")
            .metric("level", "m", tb::Better::neither, "Groundwater level relative to the surface")
            .metric("level_mean", "m", tb::Better::lower, "Running mean level per sensor")
            .config("alert_level_m", tb::ConfigType::number, "-0.5",
                    "Alert when the level rises above this (metres relative to the surface)")
            .config("hysteresis_m", tb::ConfigType::number, "0.1",
                    "The level must fall this far below the alert level before a new alert")
            .config("every_reading", tb::ConfigType::boolean, "false",
                    "Alert on every reading above the alert level, not only when it is crossed")
            .config("mean_every", tb::ConfigType::integer, "100",
                    "Record the running mean every N readings of a sensor (0 = never)");
    }

    explicit GroundwaterAlert(tb::Host& host)
        : tb::Plugin(host),
          alert_level_(host.config_double("alert_level_m", -0.5)),
          hysteresis_(host.config_double("hysteresis_m", 0.1)),
          every_reading_(host.config_bool("every_reading", false)),
          mean_every_(host.config_int("mean_every", 100)) {}

    void on_message(const tb::Message& msg) override {
        const auto pack = tb::senml::parse(msg.payload);
        const tb::senml::Record* level = nullptr;
        for (const auto& r : pack) {
            if (r.value && r.name.size() >= 5 && r.name.compare(r.name.size() - 5, 5, "level") == 0) {
                level = &r;
                break;
            }
        }
        if (level == nullptr) throw tb::BadData("no numeric 'level' record in the SenML pack");
        if (!level->unit.empty() && level->unit != "m") {
            throw tb::BadData("level unit is '" + level->unit + "', expected 'm'");
        }
        const std::string sensor(msg.subject());
        const double v = *level->value;
        const auto t_us = level->time > 0 ? static_cast<int64_t>(level->time * 1e6) : msg.source_time_us;
        host().record_metric("level", v, sensor, t_us);

        auto& s = sensors_[sensor];
        ++s.count;
        s.sum += v;
        if (mean_every_ > 0 && s.count % mean_every_ == 0) {
            host().record_metric("level_mean", s.sum / static_cast<double>(s.count), sensor, t_us);
        }
        if (v > alert_level_ && (!s.alerting || every_reading_)) {
            s.alerting = true;
            const std::string text = "groundwater at " + sensor + " is " + std::to_string(v) + " m, above the alert level of " +
                                     std::to_string(alert_level_) + " m";
            host().record_event(tb::Severity::warning, "groundwater_high", text, sensor,
                                "{\"level_m\":" + std::to_string(v) + "}");
            host().publish("alert/groundwater/" + sensor,
                           "{\"sensor\":\"" + sensor + "\",\"level_m\":" + std::to_string(v) + ",\"alert_level_m\":" +
                               std::to_string(alert_level_) + "}");
        } else if (s.alerting && v < alert_level_ - hysteresis_) {
            s.alerting = false;
        }
    }

   private:
    struct SensorState {
        int64_t count = 0;
        double sum = 0;
        bool alerting = false;
    };
    double alert_level_, hysteresis_;
    bool every_reading_;
    int64_t mean_every_;
    std::unordered_map<std::string, SensorState> sensors_;
};

}  // namespace

TB_PLUGIN(GroundwaterAlert)
