// parking_guide: guide drivers in the city centre to the parking garage with the most free space,
// and measure whether it shortens their search.
//
// Input:  SenML packs on sensor/parking/<garage> with a record named "...occupancy" in percent;
//         SenML packs on sensor/parking_search/<zone> with a record named "...search_time" in
//         seconds: the time a driver who parked in that zone spent searching (from ANPR cameras
//         at the zone's entry and the garages' barriers).
// Output: JSON guidance on guidance/parking/<zone> for every zone in `guided_zones`, at most
//         once per `guidance_every_s` of feed time per zone, naming the garage with the lowest
//         occupancy: {"zone":"PZ-0001","garage":"PG-0003","occupancy_pct":41.5,"t":...};
//         metric "search_time" (s, lower is better) per search report, subject = the zone, so a
//         trial can name unguided zones as its control group;
//         event "no_garage_data" (WARNING) once, when guidance is due but no occupancy is known.
// Bad input: a pack without the expected numeric record, or with another unit, is TB_E_BAD_DATA
//         (counted by the host, never an incident); an occupancy outside 0..100 likewise.
#include <testbed/plugin.hpp>
#include <testbed/senml.hpp>

#include <map>
#include <set>
#include <string>

namespace {

const tb::senml::Record* find_record(const std::vector<tb::senml::Record>& pack, const std::string& suffix) {
    for (const auto& r : pack) {
        if (r.value && r.name.size() >= suffix.size() &&
            r.name.compare(r.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
            return &r;
        }
    }
    return nullptr;
}

std::set<std::string> split_list(const std::string& text) {
    std::set<std::string> out;
    std::string cur;
    for (char c : text + ",") {
        if (c == ',') {
            if (!cur.empty()) out.insert(cur);
            cur.clear();
        } else if (c != ' ') {
            cur += c;
        }
    }
    return out;
}

class ParkingGuide final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest("parking_guide", "1.0.0")
            .organisation("ParkWijs B.V. (startup pilot)")
            .contact("pilot@parkwijs.example")
            .description("Guides drivers to the garage with the most free space; measures their search time.")
            .reads("sensor/parking/")
            .reads("sensor/parking_search/")
            .publishes("guidance/parking/")
            .metric("search_time", "s", tb::Better::lower,
                    "Time a driver spent searching for a space, per zone (subject = zone)")
            .config("guided_zones", tb::ConfigType::string, "PZ-0001,PZ-0002",
                    "Comma-separated zones that receive guidance; the others are the control group")
            .config("guidance_every_s", tb::ConfigType::number, "60",
                    "Minimum feed-time seconds between two guidance messages for one zone");
    }

    explicit ParkingGuide(tb::Host& host)
        : tb::Plugin(host),
          guided_(split_list(host.config_string("guided_zones", "PZ-0001,PZ-0002"))),
          every_us_(static_cast<int64_t>(host.config_double("guidance_every_s", 60) * 1e6)) {
        if (every_us_ < 0) throw tb::Error(TB_E_INVALID_ARG, "guidance_every_s must be zero or more");
    }

    void on_message(const tb::Message& msg) override {
        const auto pack = tb::senml::parse(msg.payload);
        const std::string subject(msg.subject());
        if (msg.topic.rfind("sensor/parking_search/", 0) == 0) {
            const auto* r = find_record(pack, "search_time");
            if (r == nullptr) throw tb::BadData("no numeric 'search_time' record in the SenML pack");
            if (!r->unit.empty() && r->unit != "s") throw tb::BadData("search_time unit is '" + r->unit + "', expected 's'");
            host().record_metric("search_time", *r->value, subject, time_of(*r, msg));
            return;
        }
        const auto* r = find_record(pack, "occupancy");
        if (r == nullptr) throw tb::BadData("no numeric 'occupancy' record in the SenML pack");
        if (!r->unit.empty() && r->unit != "%") throw tb::BadData("occupancy unit is '" + r->unit + "', expected '%'");
        if (*r->value < 0 || *r->value > 100) throw tb::BadData("occupancy " + std::to_string(*r->value) + " is outside 0..100");
        occupancy_[subject] = *r->value;
        guide(time_of(*r, msg));
    }

   private:
    static int64_t time_of(const tb::senml::Record& r, const tb::Message& msg) {
        return r.time > 0 ? static_cast<int64_t>(r.time * 1e6) : msg.source_time_us;
    }

    void guide(int64_t t_us) {
        if (occupancy_.empty()) return;
        auto best = occupancy_.begin();
        for (auto it = occupancy_.begin(); it != occupancy_.end(); ++it) {
            if (it->second < best->second) best = it;
        }
        for (const auto& zone : guided_) {
            auto& last = last_sent_us_[zone];
            if (last != 0 && t_us - last < every_us_) continue;
            last = t_us;
            host().publish("guidance/parking/" + zone,
                           "{\"zone\":\"" + zone + "\",\"garage\":\"" + best->first + "\",\"occupancy_pct\":" +
                               std::to_string(best->second) + ",\"t\":" + std::to_string(static_cast<double>(t_us) / 1e6) + "}");
        }
    }

    std::set<std::string> guided_;
    int64_t every_us_;
    std::map<std::string, double> occupancy_;
    std::map<std::string, int64_t> last_sent_us_;
};

}  // namespace

TB_PLUGIN(ParkingGuide)
