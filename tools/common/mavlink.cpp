#include "common/mavlink.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <type_traits>

namespace tb::tools {
namespace {

constexpr uint8_t kStxV1 = 0xFE;
constexpr uint8_t kStxV2 = 0xFD;
constexpr std::size_t kV1Header = 6;   // stx len seq sys comp msgid
constexpr std::size_t kV2Header = 10;  // stx len incompat compat seq sys comp msgid[3]
constexpr std::size_t kSignature = 13;
constexpr uint8_t kIncompatSigned = 0x01;

// Values from the MAVLink common dialect (common.xml); CRC_EXTRA is the checksum of each
// message's name and field layout, so a mismatch means "not the message we think it is".
constexpr MavMessageInfo kMessages[] = {
    {0, "HEARTBEAT", 50, 9, 9},
    {1, "SYS_STATUS", 124, 31, 43},
    {33, "GLOBAL_POSITION_INT", 104, 28, 28},
    {147, "BATTERY_STATUS", 154, 36, 54},
    {12900, "OPEN_DRONE_ID_BASIC_ID", 114, 44, 44},
    {12901, "OPEN_DRONE_ID_LOCATION", 254, 59, 59},
};

template <class T>
T le(const std::string& p, std::size_t off) {
    // Little-endian on the wire; payloads are zero-extended so `off` is always in range.
    T v{};
    std::array<unsigned char, sizeof(T)> b{};
    for (std::size_t i = 0; i < sizeof(T); ++i) b[i] = static_cast<unsigned char>(p[off + i]);
    if constexpr (std::is_floating_point_v<T>) {
        uint32_t u = 0;
        for (std::size_t i = 0; i < 4; ++i) u |= static_cast<uint32_t>(b[i]) << (8 * i);
        std::memcpy(&v, &u, sizeof v);
    } else {
        using U = std::make_unsigned_t<T>;
        U u = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i) u = static_cast<U>(u | static_cast<U>(static_cast<U>(b[i]) << (8 * i)));
        v = static_cast<T>(u);
    }
    return v;
}

std::string printable(const std::string& p, std::size_t off, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = p[off + i];
        if (c == '\0') break;
        s.push_back(c >= 0x20 && c < 0x7F ? c : '?');
    }
    return s;
}

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

std::string_view to_string(MavError e) {
    switch (e) {
        case MavError::garbage: return "garbage";
        case MavError::truncated: return "truncated";
        case MavError::bad_crc: return "bad_crc";
        case MavError::unknown_id: return "unknown_id";
        case MavError::bad_length: return "bad_length";
        case MavError::bad_flags: return "bad_flags";
    }
    return "unknown";
}

uint64_t MavStats::errors_total() const {
    uint64_t n = 0;
    for (auto e : errors) n += e;
    return n;
}

uint16_t mav_crc(std::string_view bytes, uint16_t crc) {
    for (const char ch : bytes) {
        auto tmp = static_cast<uint8_t>(static_cast<uint8_t>(ch) ^ static_cast<uint8_t>(crc & 0xFF));
        tmp = static_cast<uint8_t>(tmp ^ static_cast<uint8_t>(tmp << 4));
        crc = static_cast<uint16_t>((crc >> 8) ^ (tmp << 8) ^ (tmp << 3) ^ (tmp >> 4));
    }
    return crc;
}

const MavMessageInfo* mav_message_info(uint32_t msgid) {
    for (const auto& m : kMessages) {
        if (m.id == msgid) return &m;
    }
    return nullptr;
}

std::vector<MavFrame> parse_mavlink(std::string_view b, MavStats& st) {
    std::vector<MavFrame> out;
    std::size_t pos = 0;
    bool in_garbage = false;
    auto err = [&](MavError e) { ++st.errors[static_cast<int>(e)]; };
    while (pos < b.size()) {
        const auto stx = static_cast<uint8_t>(b[pos]);
        if (stx != kStxV1 && stx != kStxV2) {
            if (!in_garbage) err(MavError::garbage);
            in_garbage = true;
            ++pos;
            continue;
        }
        in_garbage = false;
        const bool v2 = stx == kStxV2;
        const std::size_t hdr = v2 ? kV2Header : kV1Header;
        if (b.size() - pos < hdr) {
            err(MavError::truncated);
            break;
        }
        const auto len = static_cast<uint8_t>(b[pos + 1]);
        uint8_t incompat = 0;
        MavFrame f;
        f.version = v2 ? 2 : 1;
        if (v2) {
            incompat = static_cast<uint8_t>(b[pos + 2]);
            f.seq = static_cast<uint8_t>(b[pos + 4]);
            f.sysid = static_cast<uint8_t>(b[pos + 5]);
            f.compid = static_cast<uint8_t>(b[pos + 6]);
            f.msgid = static_cast<uint32_t>(static_cast<uint8_t>(b[pos + 7])) |
                      static_cast<uint32_t>(static_cast<uint8_t>(b[pos + 8])) << 8 |
                      static_cast<uint32_t>(static_cast<uint8_t>(b[pos + 9])) << 16;
        } else {
            f.seq = static_cast<uint8_t>(b[pos + 2]);
            f.sysid = static_cast<uint8_t>(b[pos + 3]);
            f.compid = static_cast<uint8_t>(b[pos + 4]);
            f.msgid = static_cast<uint8_t>(b[pos + 5]);
        }
        f.is_signed = (incompat & kIncompatSigned) != 0;
        const std::size_t total = hdr + len + 2 + (f.is_signed ? kSignature : 0);
        if (b.size() - pos < total) {
            err(MavError::truncated);
            break;
        }
        if ((incompat & ~kIncompatSigned) != 0) {
            err(MavError::bad_flags);
            ++pos;  // resynchronise: this may not have been a frame at all
            continue;
        }
        const MavMessageInfo* info = mav_message_info(f.msgid);
        if (info == nullptr) {
            // Cannot validate without CRC_EXTRA; trust the length to skip it (a real frame of a
            // message we do not decode is the usual case: PX4 and ArduPilot send dozens).
            err(MavError::unknown_id);
            pos += total;
            continue;
        }
        const auto want = static_cast<uint16_t>(static_cast<uint8_t>(b[pos + hdr + len]) |
                                                static_cast<uint8_t>(b[pos + hdr + len + 1]) << 8);
        uint16_t crc = mav_crc(b.substr(pos + 1, hdr - 1 + len));
        crc = mav_crc(std::string_view(reinterpret_cast<const char*>(&info->crc_extra), 1), crc);
        if (crc != want) {
            err(MavError::bad_crc);
            // Resynchronise from the next byte; the rest of this frame is not counted again as garbage.
            in_garbage = true;
            ++pos;
            continue;
        }
        // MAVLink 1 has no truncation, but senders differ on whether extension fields are sent
        // (node-mavlink sends them), so anything from the base length to the full one is valid.
        if (len > info->max_length || (!v2 && len < info->min_length)) {
            err(MavError::bad_length);
            pos += total;
            continue;
        }
        f.payload.assign(b.data() + pos + hdr, len);
        f.payload.resize(info->max_length, '\0');
        ++st.frames;
        out.push_back(std::move(f));
        pos += total;
    }
    return out;
}

std::string encode_mavlink(uint8_t version, uint8_t seq, uint8_t sysid, uint8_t compid, uint32_t msgid,
                           std::string_view payload) {
    std::string p(payload);
    std::string f;
    if (version == 1) {
        f = {static_cast<char>(kStxV1), static_cast<char>(p.size()), static_cast<char>(seq), static_cast<char>(sysid),
             static_cast<char>(compid), static_cast<char>(msgid & 0xFF)};
    } else {
        while (p.size() > 1 && p.back() == '\0') p.pop_back();  // v2 trailing-zero truncation
        f = {static_cast<char>(kStxV2), static_cast<char>(p.size()), 0, 0, static_cast<char>(seq), static_cast<char>(sysid),
             static_cast<char>(compid), static_cast<char>(msgid & 0xFF), static_cast<char>((msgid >> 8) & 0xFF),
             static_cast<char>((msgid >> 16) & 0xFF)};
    }
    f += p;
    uint16_t crc = mav_crc(std::string_view(f).substr(1));
    if (const auto* info = mav_message_info(msgid)) {
        crc = mav_crc(std::string_view(reinterpret_cast<const char*>(&info->crc_extra), 1), crc);
    }
    f.push_back(static_cast<char>(crc & 0xFF));
    f.push_back(static_cast<char>(crc >> 8));
    return f;
}

DroneTelemetry to_telemetry(const MavFrame& f) {
    const std::string& p = f.payload;
    nlohmann::json j{{"sysid", f.sysid}, {"compid", f.compid}};
    DroneTelemetry t;
    switch (f.msgid) {
        case 0: {  // HEARTBEAT
            t.subtopic = "heartbeat";
            const auto base_mode = le<uint8_t>(p, 6);
            j["custom_mode"] = le<uint32_t>(p, 0);
            j["type"] = le<uint8_t>(p, 4);
            j["autopilot"] = le<uint8_t>(p, 5);
            j["base_mode"] = base_mode;
            j["armed"] = (base_mode & 0x80) != 0;  // MAV_MODE_FLAG_SAFETY_ARMED
            j["system_status"] = le<uint8_t>(p, 7);
            j["mavlink_version"] = le<uint8_t>(p, 8);
            break;
        }
        case 1: {  // SYS_STATUS
            t.subtopic = "status";
            const auto mv = le<uint16_t>(p, 14);
            const auto ca = le<int16_t>(p, 16);
            const auto rem = le<int8_t>(p, 30);
            j["sensors_present"] = le<uint32_t>(p, 0);
            j["sensors_enabled"] = le<uint32_t>(p, 4);
            j["sensors_health"] = le<uint32_t>(p, 8);
            j["load_pct"] = le<uint16_t>(p, 12) / 10.0;                               // d% -> %
            j["voltage_v"] = mv == UINT16_MAX ? nlohmann::json() : nlohmann::json(mv / 1000.0);  // mV -> V
            j["current_a"] = ca == -1 ? nlohmann::json() : nlohmann::json(ca / 100.0);         // cA -> A
            j["battery_remaining_pct"] = rem == -1 ? nlohmann::json() : nlohmann::json(rem);
            j["drop_rate_comm_pct"] = le<uint16_t>(p, 18) / 100.0;                    // c% -> %
            j["errors_comm"] = le<uint16_t>(p, 20);
            break;
        }
        case 33: {  // GLOBAL_POSITION_INT
            t.subtopic = "position";
            const auto hdg = le<uint16_t>(p, 26);
            j["time_boot_ms"] = le<uint32_t>(p, 0);
            j["lat_deg"] = le<int32_t>(p, 4) / 1e7;       // degE7 -> deg
            j["lon_deg"] = le<int32_t>(p, 8) / 1e7;
            j["alt_m"] = le<int32_t>(p, 12) / 1000.0;     // mm -> m, above mean sea level
            j["rel_alt_m"] = le<int32_t>(p, 16) / 1000.0; // mm -> m, above home
            j["vx_mps"] = le<int16_t>(p, 20) / 100.0;     // cm/s -> m/s, north
            j["vy_mps"] = le<int16_t>(p, 22) / 100.0;     // east
            j["vz_mps"] = le<int16_t>(p, 24) / 100.0;     // down
            j["hdg_deg"] = hdg == UINT16_MAX ? nlohmann::json() : nlohmann::json(hdg / 100.0);  // cdeg -> deg
            break;
        }
        case 147: {  // BATTERY_STATUS
            t.subtopic = "battery";
            nlohmann::json cells = nlohmann::json::array();
            double total_v = 0;
            for (int i = 0; i < 14; ++i) {
                const std::size_t off = i < 10 ? 10 + 2 * static_cast<std::size_t>(i) : 41 + 2 * static_cast<std::size_t>(i - 10);
                const auto mv = le<uint16_t>(p, off);
                // UINT16_MAX: no cell; in voltages_ext 0 also means "not sent".
                if (mv == UINT16_MAX || (i >= 10 && mv == 0)) continue;
                cells.push_back(mv / 1000.0);
                total_v += mv / 1000.0;
            }
            const auto ca = le<int16_t>(p, 30);
            const auto mah = le<int32_t>(p, 0);
            const auto hj = le<int32_t>(p, 4);
            const auto cdeg = le<int16_t>(p, 8);
            const auto rem = le<int8_t>(p, 35);
            const auto tr = le<int32_t>(p, 36);
            j["id"] = le<uint8_t>(p, 32);
            j["voltage_v"] = cells.empty() ? nlohmann::json() : nlohmann::json(total_v);
            j["cell_voltages_v"] = cells;
            j["current_a"] = ca == -1 ? nlohmann::json() : nlohmann::json(ca / 100.0);
            j["consumed_mah"] = mah == -1 ? nlohmann::json() : nlohmann::json(mah);
            j["energy_j"] = hj == -1 ? nlohmann::json() : nlohmann::json(static_cast<int64_t>(hj) * 100);  // hJ -> J
            j["temperature_c"] = cdeg == INT16_MAX ? nlohmann::json() : nlohmann::json(cdeg / 100.0);   // cdegC -> degC
            j["remaining_pct"] = rem == -1 ? nlohmann::json() : nlohmann::json(rem);
            j["time_remaining_s"] = tr == 0 ? nlohmann::json() : nlohmann::json(tr);
            j["charge_state"] = le<uint8_t>(p, 40);
            break;
        }
        case 12900: {  // OPEN_DRONE_ID_BASIC_ID
            t.subtopic = "odid";
            j["kind"] = "basic_id";
            j["id_type"] = le<uint8_t>(p, 22);
            j["ua_type"] = le<uint8_t>(p, 23);
            j["uas_id"] = printable(p, 24, 20);
            break;
        }
        case 12901: {  // OPEN_DRONE_ID_LOCATION
            t.subtopic = "odid";
            j["kind"] = "location";
            const auto lat = le<int32_t>(p, 0), lon = le<int32_t>(p, 4);
            const auto baro = le<float>(p, 8), geo = le<float>(p, 12), h = le<float>(p, 16), ts = le<float>(p, 20);
            const auto dir = le<uint16_t>(p, 24), sh = le<uint16_t>(p, 26);
            const auto sv = le<int16_t>(p, 28);
            j["status"] = le<uint8_t>(p, 52);
            j["lat_deg"] = lat == 0 && lon == 0 ? nlohmann::json() : nlohmann::json(lat / 1e7);
            j["lon_deg"] = lat == 0 && lon == 0 ? nlohmann::json() : nlohmann::json(lon / 1e7);
            j["alt_baro_m"] = baro == -1000.0F ? nlohmann::json() : finite_or_null(baro);  // -1000: unknown
            j["alt_geo_m"] = geo == -1000.0F ? nlohmann::json() : finite_or_null(geo);
            j["height_m"] = h == -1000.0F ? nlohmann::json() : finite_or_null(h);
            j["height_reference"] = le<uint8_t>(p, 53);
            j["direction_deg"] = dir > 36000 ? nlohmann::json() : nlohmann::json(dir / 100.0);  // 36100: unknown
            j["speed_h_mps"] = sh == 25500 ? nlohmann::json() : nlohmann::json(sh / 100.0);      // 25500: unknown
            j["speed_v_mps"] = sv == 6300 ? nlohmann::json() : nlohmann::json(sv / 100.0);       // 6300: unknown
            j["timestamp_s"] = ts == 0xFFFF ? nlohmann::json() : finite_or_null(ts);  // s after the full hour
            break;
        }
        default:
            t.subtopic = "unknown";
    }
    t.json = j.dump();
    return t;
}

}  // namespace tb::tools
