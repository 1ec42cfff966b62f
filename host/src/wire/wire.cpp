#include "wire/wire.hpp"

#include <cstring>

namespace tb::wire {
namespace {

template <class T>
void put_le(char* p, T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        p[i] = static_cast<char>(static_cast<uint64_t>(v) >> (8 * i) & 0xFF);
    }
}

template <class T>
T get_le(const char* p) {
    uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    }
    return static_cast<T>(v);
}

}  // namespace

std::string_view to_string(DropReason r) {
    switch (r) {
        case DropReason::frame_count: return "frame_count";
        case DropReason::bad_topic: return "bad_topic";
        case DropReason::short_header: return "short_header";
        case DropReason::bad_magic: return "bad_magic";
        case DropReason::unknown_version: return "unknown_version";
        case DropReason::unknown_content_type: return "unknown_content_type";
        case DropReason::payload_too_large: return "payload_too_large";
        case DropReason::invalid_json: return "invalid_json";
    }
    return "unknown";
}

std::string_view to_string(ContentType t) {
    switch (t) {
        case ContentType::senml_json: return "senml+json";
        case ContentType::json: return "json";
        case ContentType::text: return "text";
        case ContentType::binary: return "binary";
    }
    return "unknown";
}

std::array<char, kHeaderSize> encode_header(const Header& h) {
    std::array<char, kHeaderSize> out{};
    out[0] = 'T';
    out[1] = 'B';
    out[2] = static_cast<char>(h.version);
    out[3] = static_cast<char>(h.content_type);
    put_le<uint16_t>(out.data() + 4, h.flags);
    put_le<uint16_t>(out.data() + 6, 0);
    put_le<uint64_t>(out.data() + 8, h.sequence);
    put_le<int64_t>(out.data() + 16, h.source_time_us);
    return out;
}

bool decode_header(std::string_view frame, Header& out, DropReason& why) {
    if (frame.size() != kHeaderSize) {
        why = DropReason::short_header;
        return false;
    }
    if (frame[0] != 'T' || frame[1] != 'B') {
        why = DropReason::bad_magic;
        return false;
    }
    out.version = static_cast<uint8_t>(frame[2]);
    if (out.version != kFormatVersion) {
        why = DropReason::unknown_version;
        return false;
    }
    const auto ct = static_cast<uint8_t>(frame[3]);
    if (ct < 1 || ct > 4) {
        why = DropReason::unknown_content_type;
        return false;
    }
    out.content_type = static_cast<ContentType>(ct);
    out.flags = get_le<uint16_t>(frame.data() + 4);
    out.sequence = get_le<uint64_t>(frame.data() + 8);
    out.source_time_us = get_le<int64_t>(frame.data() + 16);
    return true;
}

bool valid_topic(std::string_view topic) {
    if (topic.empty() || topic.size() > kMaxTopicSize) return false;
    for (const char c : topic) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x21 || u == 0x7F) return false;  // no spaces or control characters
    }
    return true;
}

}  // namespace tb::wire
