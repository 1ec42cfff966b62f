// common/mavlink.hpp: a MAVLink v1/v2 frame decoder for the drone bridge (`testbed feed mavlink`).
//
// Our own decoder, covering the messages the testbed needs: HEARTBEAT (0), SYS_STATUS (1),
// GLOBAL_POSITION_INT (33), BATTERY_STATUS (147), OPEN_DRONE_ID_BASIC_ID (12900) and
// OPEN_DRONE_ID_LOCATION (12901). Every frame's X.25 checksum is checked including the message's
// CRC_EXTRA, so a frame whose layout differs from ours is refused, not misread. MAVLink 2 payloads
// with trailing zeros truncated are zero-extended before decoding; signed v2 frames are accepted
// (the 13 signature bytes are skipped, not verified). Everything is a pure function of its input,
// so the decoder can be fuzzed. Telemetry JSON (topics, fields, units): docs/feeds.md.
// Thread safety: stateless functions; a MavStats is owned by its caller.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tb::tools {

// Why bytes were skipped. Stable numbers; zero is not a reason.
enum class MavError : uint8_t {
    garbage = 1,       // bytes before a start marker (0xFE v1, 0xFD v2); counted per run of bytes
    truncated = 2,     // the datagram ends inside a frame
    bad_crc = 3,       // checksum (with CRC_EXTRA) does not match
    unknown_id = 4,    // a message id this bridge does not decode (checksum cannot be checked)
    bad_length = 5,    // payload longer than the message allows, or a v1 frame shorter than its base
    bad_flags = 6,     // v2 incompatibility flags other than "signed"
};
inline constexpr int kMavErrorCount = 7;  // index 0 unused
std::string_view to_string(MavError e);

struct MavFrame {
    uint8_t version = 0;  // 1 or 2
    uint8_t seq = 0, sysid = 0, compid = 0;
    uint32_t msgid = 0;
    bool is_signed = false;
    std::string payload;  // zero-extended to the message's full length (v2 truncation undone)
};

struct MavStats {
    uint64_t frames = 0;
    std::array<uint64_t, kMavErrorCount> errors{};
    uint64_t errors_total() const;
};

// X.25 / CRC-16/MCRF4XX as MAVLink uses it (initial 0xFFFF).
uint16_t mav_crc(std::string_view bytes, uint16_t crc = 0xFFFF);

struct MavMessageInfo {
    uint32_t id;
    const char* name;
    uint8_t crc_extra;
    uint8_t min_length;  // MAVLink 1 length (without extension fields)
    uint8_t max_length;  // with extension fields
};
// The messages this decoder knows, or nullptr.
const MavMessageInfo* mav_message_info(uint32_t msgid);

// Split a datagram (or any buffer of whole frames) into valid frames of known messages;
// everything else is counted in `stats` and skipped. Never throws, never reads out of bounds.
std::vector<MavFrame> parse_mavlink(std::string_view bytes, MavStats& stats);

// Build a frame (for tests and the simulator): v1 or v2 (v2 with trailing-zero truncation).
std::string encode_mavlink(uint8_t version, uint8_t seq, uint8_t sysid, uint8_t compid, uint32_t msgid,
                           std::string_view payload);

struct DroneTelemetry {
    std::string subtopic;  // "position", "status", "battery", "heartbeat" or "odid"
    std::string json;      // see docs/feeds.md
};
// The telemetry JSON for a decoded frame (topic drone/<sysid>/<subtopic>).
DroneTelemetry to_telemetry(const MavFrame& f);

}  // namespace tb::tools
