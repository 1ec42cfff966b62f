// Fuzz target "ttn_uplink": an MQTT payload from The Things Stack as `testbed feed mqtt` maps it
// (tb::tools::parse_ttn_uplink) with a mapping file (tb::tools::parse_ttn_mapping).
// Input layout: u8 selector; when its low bit is set, a u16-length-prefixed mapping file comes
// next and is parsed (errors must name the file; its TOML goes through config/toml_guard first,
// docs/reliability.md bug 9); otherwise, or when that mapping is refused, the committed
// Enschede-Zuid style mapping below is used. The rest is the uplink JSON.
// Invariants: a refused uplink has a real reason and a detail; an accepted one becomes a feed
// message the host accepts: a valid wire topic made of the type's prefix and the device's sensor
// id, a SenML pack within the wire payload limit that the SDK's SenML reader parses, with the
// mapped records (finite numbers, the first one carrying the base name with the device id),
// and a time that is the fallback or what received_at says.
#include <cmath>
#include <nlohmann/json.hpp>
#include <testbed/senml.hpp>

#include "common/ttn.hpp"
#include "fuzz_target.hpp"
#include "wire/wire.hpp"

namespace {

constexpr int64_t kFallbackUs = 1'764'340'000'000'000;

constexpr const char* kMapping = R"(
[types.groundwater]
topic_prefix = "sensor/groundwater/"
[[types.groundwater.fields]]
field = "level_cm"
name = "level"
unit = "m"
scale = 0.01
[[types.groundwater.fields]]
field = "battery_mv"
name = "battery"
unit = "V"
scale = 0.001
required = false

[types.air]
topic_prefix = "sensor/air/"
[[types.air.fields]]
field = "no2"
name = "no2"
unit = "ug/m3"
[[types.air.fields]]
field = "env.temp_dc"
name = "temperature"
unit = "Cel"
scale = 0.1
offset = -0.5
required = false
[[types.air.fields]]
field = "env.door_open"
name = "door"
required = false

[devices]
"gw-zuid-0001" = { sensor = "GW-0001", type = "groundwater" }
"gw-zuid-0002" = { sensor = "GW-0002", type = "groundwater" }
"aq-1" = { sensor = "AQ-0001", type = "air" }
)";

const tb::tools::TtnMapping& builtin_mapping() {
    static const tb::tools::TtnMapping m = [] {
        auto r = tb::tools::parse_ttn_mapping(kMapping, "builtin.toml");
        TB_FUZZ_CHECK(static_cast<bool>(r));
        return r.value();
    }();
    return m;
}

}  // namespace

TB_FUZZ_TARGET(ttn_uplink) {
    namespace t = tb::tools;
    tb::fuzz::Bytes in(data, size);
    const uint8_t sel = in.u8();
    t::TtnMapping own;
    const t::TtnMapping* mapping = &builtin_mapping();
    if (sel & 1) {
        const std::string text = in.str(in.u16());
        auto m = t::parse_ttn_mapping(text, "fuzz-map.toml");
        if (m) {
            TB_FUZZ_CHECK(!m.value().devices.empty() && !m.value().types.empty());
            for (const auto& [id, dev] : m.value().devices) {
                TB_FUZZ_CHECK(!dev.sensor.empty() && m.value().types.count(dev.type) == 1);
            }
            for (const auto& [name, type] : m.value().types) {
                TB_FUZZ_CHECK(!type.fields.empty() && !type.topic_prefix.empty() &&
                              type.topic_prefix.back() == '/');
            }
            own = std::move(m.value());
            mapping = &own;
        } else {
            TB_FUZZ_CHECK(m.error().message.rfind("fuzz-map.toml", 0) == 0);
        }
    }
    const std::string uplink = in.rest();
    const t::TtnResult r = t::parse_ttn_uplink(uplink, *mapping, kFallbackUs);
    if (!r.ok) {
        TB_FUZZ_CHECK(static_cast<int>(r.reason) >= 1 &&
                      static_cast<int>(r.reason) < t::kTtnRejectCount);
        TB_FUZZ_CHECK(t::to_string(r.reason) != "unknown" && !r.detail.empty());
        return 0;
    }
    // The device is mapped, and the topic is its type's prefix plus its sensor id.
    const auto dev = mapping->devices.find(r.message.device_id);
    TB_FUZZ_CHECK(dev != mapping->devices.end());
    const t::TtnSensorType& type = mapping->types.at(dev->second.type);
    TB_FUZZ_CHECK(r.message.topic == type.topic_prefix + dev->second.sensor);
    // What the bridge publishes must pass the host's receiver, or it is silently lost there.
    TB_FUZZ_CHECK(tb::wire::valid_topic(r.message.topic));
    TB_FUZZ_CHECK(r.message.payload.size() <= tb::wire::kMaxPayloadSize);
    TB_FUZZ_CHECK(tb::wire::valid_json(r.message.payload));

    const auto pack = nlohmann::json::parse(r.message.payload, nullptr, false);
    TB_FUZZ_CHECK(pack.is_array() && !pack.empty() && pack.size() <= type.fields.size() + 1);
    TB_FUZZ_CHECK(pack[0].value("bn", "") == "urn:dev:ttn:" + r.message.device_id + ":");
    for (const auto& rec : pack) {
        TB_FUZZ_CHECK(rec.contains("v") && rec["v"].is_number() &&
                      std::isfinite(rec["v"].get<double>()));
    }
    if (uplink.find("received_at") == std::string::npos)
        TB_FUZZ_CHECK(r.message.time_us == kFallbackUs);

    // The SDK's SenML reader (what plugins use) accepts it with the same records.
    bool senml_ok = false;
    try {
        senml_ok = tb::senml::parse(r.message.payload).size() == pack.size();
    } catch (const tb::BadData&) {
        senml_ok = false;
    }
    TB_FUZZ_CHECK(senml_ok);
    return 0;
}
