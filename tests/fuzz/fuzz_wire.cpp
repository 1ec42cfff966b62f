// Fuzz target "wire": a feed message as the host's receiver sees it (host/src/wire, the checks of
// bus/feed_receiver.cpp in their order). Input layout: u8 frame count (mod 5), then each frame as
// u16 length + bytes, the last frame taking the rest. Invariants: an accepted topic really is
// 1..255 printable bytes; an accepted header re-encodes to the same bytes (reserved zeroed); a
// refused one names a real reason; valid_json() (wire/json_check.cpp, a scanner of its own) accepts
// exactly what nlohmann::json::accept accepts, and what it accepts also parses.
#include "fuzz_target.hpp"

#include "wire/wire.hpp"

#include <nlohmann/json.hpp>

#include <vector>

TB_FUZZ_TARGET(wire) {
    namespace w = tb::wire;
    tb::fuzz::Bytes in(data, size);
    const int count = in.u8() % 5;
    std::vector<std::string> frames;
    for (int i = 0; i < count; ++i) frames.push_back(i + 1 == count ? in.rest() : in.str(in.u16()));
    if (frames.size() != 3) return 0;  // the receiver drops it as frame_count

    const std::string& topic = frames[0];
    if (w::valid_topic(topic)) {
        TB_FUZZ_CHECK(!topic.empty() && topic.size() <= w::kMaxTopicSize);
        for (const char c : topic) TB_FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7F);
    }

    w::Header h;
    w::DropReason why{};
    if (w::decode_header(frames[1], h, why)) {
        TB_FUZZ_CHECK(frames[1].size() == w::kHeaderSize);
        std::string original = frames[1];
        original[6] = original[7] = '\0';  // reserved: ignored on read, written as zero
        const auto again = w::encode_header(h);
        TB_FUZZ_CHECK(std::string_view(again.data(), again.size()) == original);
        TB_FUZZ_CHECK(w::to_string(h.content_type) != "unknown");
    } else {
        TB_FUZZ_CHECK(why >= w::DropReason::short_header && why <= w::DropReason::unknown_content_type);
        TB_FUZZ_CHECK(w::to_string(why) != "unknown");
    }

    const std::string& payload = frames[2];
    if (payload.size() <= w::kMaxPayloadSize) {
        TB_FUZZ_CHECK(w::valid_json(payload) == nlohmann::json::accept(payload));
    }
    if (payload.size() <= w::kMaxPayloadSize && w::valid_json(payload)) {
        const auto j = nlohmann::json::parse(payload, nullptr, false);
        TB_FUZZ_CHECK(!j.is_discarded());
    }
    return 0;
}
