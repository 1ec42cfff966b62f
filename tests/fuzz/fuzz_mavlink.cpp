// Fuzz target "mavlink": a UDP datagram as `testbed feed mavlink` receives it, through
// tb::tools::parse_mavlink (v1/v2 framing, X.25 + CRC_EXTRA, v2 truncation and signing) and
// to_telemetry for every frame decoded. The input is the datagram itself.
// Invariants: the frame counter equals the frames returned; every frame is a known message,
// version 1 or 2, with its payload zero-extended to the message's full length, and a v1 frame
// has a one-byte id; re-encoding a frame and parsing it again gives the same frame (so nothing
// was misread); at least one frame or one error is counted for a non-empty datagram; every
// telemetry message is JSON with a known subtopic and the frame's sysid.
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/mavlink.hpp"
#include "fuzz_target.hpp"

TB_FUZZ_TARGET(mavlink) {
    namespace t = tb::tools;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    t::MavStats stats;
    const auto frames = t::parse_mavlink(bytes, stats);
    TB_FUZZ_CHECK(stats.frames == frames.size());
    TB_FUZZ_CHECK(stats.errors[0] == 0);  // index 0 is not a reason
    if (!bytes.empty()) TB_FUZZ_CHECK(stats.frames + stats.errors_total() > 0);
    for (const auto& f : frames) {
        const t::MavMessageInfo* info = t::mav_message_info(f.msgid);
        TB_FUZZ_CHECK(info != nullptr);
        TB_FUZZ_CHECK(f.version == 1 || f.version == 2);
        TB_FUZZ_CHECK(f.version == 2 || f.msgid <= 0xFF);
        TB_FUZZ_CHECK(!f.is_signed || f.version == 2);
        TB_FUZZ_CHECK(f.payload.size() == info->max_length);

        // The decoded frame re-encodes to a frame that decodes identically (v2 truncates the
        // trailing zeros again; the signature is not re-created, so is_signed is not compared).
        const std::string again =
            t::encode_mavlink(f.version, f.seq, f.sysid, f.compid, f.msgid, f.payload);
        t::MavStats st2;
        const auto back = t::parse_mavlink(again, st2);
        TB_FUZZ_CHECK(back.size() == 1 && st2.errors_total() == 0);
        TB_FUZZ_CHECK(back[0].version == f.version && back[0].seq == f.seq &&
                      back[0].sysid == f.sysid && back[0].compid == f.compid &&
                      back[0].msgid == f.msgid && back[0].payload == f.payload);

        const t::DroneTelemetry tel = t::to_telemetry(f);
        TB_FUZZ_CHECK(tel.subtopic == "heartbeat" || tel.subtopic == "status" ||
                      tel.subtopic == "position" || tel.subtopic == "battery" ||
                      tel.subtopic == "odid");
        const auto j = nlohmann::json::parse(tel.json, nullptr, false);
        TB_FUZZ_CHECK(j.is_object() && j.value("sysid", -1) == f.sysid);
    }
    return 0;
}
