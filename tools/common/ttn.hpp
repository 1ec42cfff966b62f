// common/ttn.hpp: The Things Stack (TTN) v3 uplinks to our SenML feed messages.
//
// `testbed feed mqtt` receives uplink JSON from a TTS MQTT broker (topic v3/<app>/devices/<dev>/up)
// and calls parse_ttn_uplink() for each; everything here is a pure function of its inputs, so it
// can be unit-tested and fuzzed without a broker. The mapping file (TOML, format in
// docs/feeds.md) says, per sensor type, which fields of uplink_message.decoded_payload become
// which SenML records with which units, and per device which sensor id and type it is.
// A bad uplink is never turned into a message: the result names the reason (counted per reason
// by the bridge) and a detail for the log.
// Thread safety: stateless functions; a TtnMapping is immutable after loading.
#pragma once

#include "common/result.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tb::tools {

struct TtnField {
    std::string field;  // key in decoded_payload; a dotted path reaches into objects ("env.temp")
    std::string name;   // SenML record name
    std::string unit;   // SenML unit (RFC 8428 registry), "" for none
    double scale = 1;   // value = decoded * scale + offset (e.g. cm -> m: 0.01)
    double offset = 0;
    bool required = true;  // a missing optional field is left out of the pack
};

struct TtnSensorType {
    std::string name;          // e.g. "groundwater"
    std::string topic_prefix;  // e.g. "sensor/groundwater/"; the topic is prefix + sensor id
    std::vector<TtnField> fields;
};

struct TtnDevice {
    std::string sensor;  // our sensor id, e.g. "GW-0001"
    std::string type;    // key into TtnMapping::types
};

struct TtnMapping {
    std::map<std::string, TtnSensorType> types;
    std::map<std::string, TtnDevice> devices;  // by end_device_ids.device_id
};

// Parse a mapping file's text; errors name `where`, the line and the key.
host::Result<TtnMapping> parse_ttn_mapping(std::string_view toml_text, const std::string& where);
host::Result<TtnMapping> load_ttn_mapping(const std::filesystem::path& file);

// Why an uplink was not republished. Stable numbers; zero is not a reason.
enum class TtnReject : uint8_t {
    not_json = 1,             // the MQTT payload does not parse as JSON
    not_uplink = 2,           // no end_device_ids.device_id or no uplink_message object
    no_decoded_payload = 3,   // uplink_message has no decoded_payload object (no payload formatter)
    unknown_device = 4,       // device_id not in the mapping file
    missing_field = 5,        // a required mapped field is absent from decoded_payload
    wrong_type = 6,           // a mapped field is not a finite number (or boolean)
    bad_time = 7,             // received_at is present but not an RFC 3339 UTC time
};
inline constexpr int kTtnRejectCount = 8;  // index 0 unused
std::string_view to_string(TtnReject r);

struct TtnMessage {
    std::string device_id;
    std::string topic;     // e.g. sensor/groundwater/GW-0001
    std::string payload;   // SenML JSON pack
    int64_t time_us = 0;   // received_at (the network server's time), microseconds since the epoch
};

struct TtnResult {
    bool ok = false;
    TtnMessage message;   // when ok
    TtnReject reason{};   // when not ok
    std::string detail;   // when not ok: what exactly was wrong, for the log
};

// Turn one uplink into a feed message. `fallback_time_us` is used when received_at is absent.
TtnResult parse_ttn_uplink(std::string_view json, const TtnMapping& mapping, int64_t fallback_time_us);

// RFC 3339 time ("2024-05-01T12:34:56.123456789Z" or with +hh:mm) to microseconds; false if bad.
bool parse_rfc3339_us(std::string_view text, int64_t& out_us);

}  // namespace tb::tools
