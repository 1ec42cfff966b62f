// wire/wire.hpp: the feed wire format (normative spec: docs/wire-format.md).
//
// A feed message is a ZeroMQ multipart message of exactly three frames:
//   1. topic    UTF-8, 1..255 bytes, e.g. "sensor/groundwater/GW-0042" (subscription is by prefix)
//   2. header   24 bytes, little-endian:
//                 0  u8[2] magic "TB"
//                 2  u8    format version (1)
//                 3  u8    content type (1 SenML JSON, 2 JSON, 3 text, 4 binary)
//                 4  u16   flags (0; reserved)
//                 6  u16   reserved (0)
//                 8  u64   sequence number, per publisher and topic, +1 per message
//                16  i64   source timestamp, microseconds since the Unix epoch
//   3. payload  0..1 MiB
// The host routes on topic and header alone. Thread safety: stateless functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace tb::wire {

inline constexpr std::size_t kHeaderSize = 24;
inline constexpr uint8_t kFormatVersion = 1;
inline constexpr std::size_t kMaxTopicSize = 255;
inline constexpr std::size_t kMaxPayloadSize = 1024 * 1024;

enum class ContentType : uint8_t { senml_json = 1, json = 2, text = 3, binary = 4 };

struct Header {
    uint8_t version = kFormatVersion;
    ContentType content_type = ContentType::senml_json;
    uint16_t flags = 0;
    uint64_t sequence = 0;
    int64_t source_time_us = 0;
};

// Why a message was dropped. Numbers are stable (stored in the database); zero is not a reason.
enum class DropReason : uint8_t {
    frame_count = 1,          // not exactly three frames
    bad_topic = 2,            // empty, longer than 255 bytes, or not printable
    short_header = 3,         // header frame is not 24 bytes
    bad_magic = 4,            // header does not start with "TB"
    unknown_version = 5,      // format version this host does not read
    unknown_content_type = 6, // content type outside 1..4
    payload_too_large = 7,    // over 1 MiB
    invalid_json = 8,         // content type says JSON/SenML but the payload does not parse
};
inline constexpr int kDropReasonCount = 9;  // index 0 unused

std::string_view to_string(DropReason r);
std::string_view to_string(ContentType t);

std::array<char, kHeaderSize> encode_header(const Header& h);

// Decodes a header frame. On failure returns false and sets `why`.
bool decode_header(std::string_view frame, Header& out, DropReason& why);

// Topic check used for both incoming feeds and plugin publications.
bool valid_topic(std::string_view topic);

// True when `payload` is well-formed JSON (content types senml_json and json): exactly what
// nlohmann::json::accept accepts, without building tokens or converting numbers (json_check.cpp).
bool valid_json(std::string_view payload);

}  // namespace tb::wire
