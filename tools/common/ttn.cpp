#include "common/ttn.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/toml_guard.hpp"
#include "wire/wire.hpp"

namespace tb::tools {
namespace {

std::string line_of(const toml::node& n) { return std::to_string(n.source().begin.line); }

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

const nlohmann::json* find_path(const nlohmann::json& obj, const std::string& path) {
    const nlohmann::json* cur = &obj;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = path.find('.', start);
        const std::string key =
            path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(key);
        if (it == cur->end()) return nullptr;
        cur = &*it;
        if (dot == std::string::npos) return cur;
        start = dot + 1;
    }
}

TtnResult reject(TtnReject r, std::string detail) {
    TtnResult out;
    out.reason = r;
    out.detail = std::move(detail);
    return out;
}

}  // namespace

std::string_view to_string(TtnReject r) {
    switch (r) {
        case TtnReject::not_json:
            return "not_json";
        case TtnReject::not_uplink:
            return "not_uplink";
        case TtnReject::no_decoded_payload:
            return "no_decoded_payload";
        case TtnReject::unknown_device:
            return "unknown_device";
        case TtnReject::missing_field:
            return "missing_field";
        case TtnReject::wrong_type:
            return "wrong_type";
        case TtnReject::bad_time:
            return "bad_time";
    }
    return "unknown";
}

bool parse_rfc3339_us(std::string_view t, int64_t& out_us) {
    // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
    auto digits = [&](std::size_t pos, std::size_t n, int& v) {
        if (pos + n > t.size()) return false;
        v = 0;
        for (std::size_t i = pos; i < pos + n; ++i) {
            if (t[i] < '0' || t[i] > '9') return false;
            v = v * 10 + (t[i] - '0');
        }
        return true;
    };
    int y, mo, d, h, mi, s;
    if (!digits(0, 4, y) || t.size() < 20 || t[4] != '-' || !digits(5, 2, mo) || t[7] != '-' ||
        !digits(8, 2, d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !digits(11, 2, h) ||
        t[13] != ':' || !digits(14, 2, mi) || t[16] != ':' || !digits(17, 2, s)) {
        return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
    std::size_t pos = 19;
    int64_t frac_us = 0;
    if (pos < t.size() && t[pos] == '.') {
        ++pos;
        int n = 0;
        while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
            if (n < 6) frac_us = frac_us * 10 + (t[pos] - '0');
            ++n, ++pos;
        }
        if (n == 0) return false;
        for (int i = n; i < 6; ++i) frac_us *= 10;
    }
    int64_t offset_s = 0;
    if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
        ++pos;
    } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
        int oh, om;
        if (!digits(pos + 1, 2, oh) || pos + 3 >= t.size() || t[pos + 3] != ':' ||
            !digits(pos + 4, 2, om))
            return false;
        offset_s = (oh * 3600 + om * 60) * (t[pos] == '+' ? 1 : -1);
        pos += 6;
    } else {
        return false;
    }
    if (pos != t.size()) return false;
    const int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    const int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - offset_s;
    out_us = secs * 1'000'000 + frac_us;
    return true;
}

host::Result<TtnMapping> parse_ttn_mapping(std::string_view text, const std::string& where) {
    if (auto h = host::find_toml_hazard(text)) {
        return host::Error{where + ":" + std::to_string(h->line) + ": " + h->what, "toml"};
    }
    toml::table root;
    try {
        root = toml::parse(text, where);
    } catch (const toml::parse_error& e) {
        return host::Error{where + ":" + std::to_string(e.source().begin.line) + ": " +
                               std::string(e.description()),
                           "toml"};
    }
    TtnMapping m;
    auto err = [&](const toml::node& n, const std::string& what) {
        return host::Error{where + ":" + line_of(n) + ": " + what, "mapping"};
    };
    for (const auto& [k, v] : root) {
        if (k.str() != "types" && k.str() != "devices") {
            return err(v, "unknown key '" + std::string(k.str()) + "' (known: types, devices)");
        }
    }
    const auto* types = root["types"].as_table();
    if (types == nullptr)
        return host::Error{where + ": no [types.<name>] sensor types (see docs/feeds.md)",
                           "mapping"};
    for (const auto& [name, node] : *types) {
        const auto* t = node.as_table();
        if (t == nullptr) return err(node, "types." + std::string(name.str()) + " must be a table");
        TtnSensorType st;
        st.name = std::string(name.str());
        for (const auto& [k, v] : *t) {
            if (k.str() != "topic_prefix" && k.str() != "fields") {
                return err(v, "types." + st.name + ": unknown key '" + std::string(k.str()) +
                                  "' (known: topic_prefix, fields)");
            }
        }
        st.topic_prefix = (*t)["topic_prefix"].value_or(std::string());
        if (st.topic_prefix.empty() || st.topic_prefix.back() != '/') {
            return err(node, "types." + st.name +
                                 ": topic_prefix must be a string ending in '/', e.g. \"sensor/" +
                                 st.name + "/\"");
        }
        const auto* fields = (*t)["fields"].as_array();
        if (fields == nullptr || fields->empty()) {
            return err(
                node, "types." + st.name + ": needs at least one [[types." + st.name + ".fields]]");
        }
        for (const auto& fn : *fields) {
            const auto* f = fn.as_table();
            if (f == nullptr) return err(fn, "types." + st.name + ".fields entries must be tables");
            for (const auto& [k, v] : *f) {
                static const char* kKnown[] = {"field", "name",   "unit",
                                               "scale", "offset", "required"};
                bool known = false;
                for (const char* kk : kKnown) known = known || k.str() == kk;
                if (!known) {
                    return err(v, "types." + st.name + ".fields: unknown key '" +
                                      std::string(k.str()) +
                                      "' (known: field, name, unit, scale, offset, required)");
                }
            }
            TtnField x;
            x.field = (*f)["field"].value_or(std::string());
            x.name = (*f)["name"].value_or(x.field);
            x.unit = (*f)["unit"].value_or(std::string());
            x.scale = (*f)["scale"].value_or(1.0);
            x.offset = (*f)["offset"].value_or(0.0);
            x.required = (*f)["required"].value_or(true);
            if (x.field.empty())
                return err(fn, "types." + st.name +
                                   ".fields: 'field' (the decoded_payload key) is required");
            st.fields.push_back(std::move(x));
        }
        m.types.emplace(st.name, std::move(st));
    }
    if (const auto* devs = root["devices"].as_table()) {
        for (const auto& [id, node] : *devs) {
            const auto* d = node.as_table();
            if (d == nullptr)
                return err(node, "devices.\"" + std::string(id.str()) +
                                     "\" must be a table { sensor, type }");
            TtnDevice dev;
            dev.sensor = (*d)["sensor"].value_or(std::string());
            dev.type = (*d)["type"].value_or(std::string());
            if (dev.sensor.empty())
                return err(node, "device '" + std::string(id.str()) +
                                     "' needs sensor = \"<our sensor id>\"");
            if (!m.types.count(dev.type)) {
                std::string known;
                for (const auto& [n, _] : m.types) known += (known.empty() ? "" : ", ") + n;
                return err(node, "device '" + std::string(id.str()) + "' has type '" + dev.type +
                                     "' (known types: " + known + ")");
            }
            // The bridge publishes on prefix + sensor id; a topic the host refuses would be dropped
            // there, message after message (found by the ttn_uplink fuzz target).
            const std::string topic = m.types.at(dev.type).topic_prefix + dev.sensor;
            if (!wire::valid_topic(topic)) {
                return err(
                    node,
                    "device '" + std::string(id.str()) + "': topic '" + topic +
                        "' (topic_prefix + sensor) is not a valid feed topic: use 1..255 printable "
                        "characters without spaces");
            }
            m.devices.emplace(std::string(id.str()), std::move(dev));
        }
    }
    if (m.devices.empty())
        return host::Error{where + ": no [devices] entries: map each TTN device_id to a sensor",
                           "mapping"};
    return m;
}

host::Result<TtnMapping> load_ttn_mapping(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return host::Error{file.string() + ": cannot read the mapping file", "io"};
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_ttn_mapping(ss.str(), file.string());
}

TtnResult parse_ttn_uplink(std::string_view json, const TtnMapping& mapping,
                           int64_t fallback_time_us) {
    const auto doc = nlohmann::json::parse(json, nullptr, false);
    if (doc.is_discarded())
        return reject(TtnReject::not_json,
                      "payload of " + std::to_string(json.size()) + " bytes is not JSON");
    if (!doc.is_object()) return reject(TtnReject::not_uplink, "top level is not a JSON object");
    const auto* dev_id = find_path(doc, "end_device_ids.device_id");
    if (dev_id == nullptr || !dev_id->is_string() ||
        dev_id->get_ref<const std::string&>().empty()) {
        return reject(TtnReject::not_uplink, "no end_device_ids.device_id string");
    }
    const std::string& device_id = dev_id->get_ref<const std::string&>();
    const auto up = doc.find("uplink_message");
    if (up == doc.end() || !up->is_object())
        return reject(TtnReject::not_uplink,
                      "device '" + device_id + "': no uplink_message object");
    const auto dec = up->find("decoded_payload");
    if (dec == up->end() || !dec->is_object()) {
        return reject(
            TtnReject::no_decoded_payload,
            "device '" + device_id +
                "': uplink_message has no decoded_payload (set a payload formatter in TTS)");
    }
    const auto dev = mapping.devices.find(device_id);
    if (dev == mapping.devices.end()) {
        return reject(TtnReject::unknown_device,
                      "device '" + device_id + "' is not in the mapping file");
    }
    const TtnSensorType& type = mapping.types.at(dev->second.type);

    int64_t t_us = fallback_time_us;
    if (const auto ra = doc.find("received_at"); ra != doc.end()) {
        if (!ra->is_string() || !parse_rfc3339_us(ra->get_ref<const std::string&>(), t_us)) {
            return reject(TtnReject::bad_time,
                          "device '" + device_id + "': received_at is not an RFC 3339 time");
        }
    }

    nlohmann::json pack = nlohmann::json::array();
    const std::string base = "urn:dev:ttn:" + device_id + ":";
    for (const auto& f : type.fields) {
        const auto* v = find_path(*dec, f.field);
        if (v == nullptr || v->is_null()) {
            if (!f.required) continue;
            return reject(TtnReject::missing_field,
                          "device '" + device_id + "': decoded_payload has no '" + f.field + "'");
        }
        double x = 0;
        if (v->is_boolean()) {
            x = v->get<bool>() ? 1 : 0;
        } else if (v->is_number()) {
            x = v->get<double>();
        } else {
            return reject(TtnReject::wrong_type, "device '" + device_id + "': decoded_payload." +
                                                     f.field + " is " + v->type_name() +
                                                     ", expected a number");
        }
        x = x * f.scale + f.offset;
        if (!std::isfinite(x)) {
            return reject(TtnReject::wrong_type, "device '" + device_id + "': decoded_payload." +
                                                     f.field + " is not finite");
        }
        nlohmann::json r{{"n", f.name}, {"v", x}};
        if (!f.unit.empty()) r["u"] = f.unit;
        if (pack.empty()) {
            r["bn"] = base;
            r["bt"] = static_cast<double>(t_us) / 1e6;
        }
        pack.push_back(std::move(r));
    }
    if (pack.empty()) {
        return reject(
            TtnReject::missing_field,
            "device '" + device_id + "': none of the mapped fields is in decoded_payload");
    }
    // The best gateway's signal, useful to tell a dying sensor from a dry cellar.
    if (const auto* rx = find_path(*up, "rx_metadata");
        rx != nullptr && rx->is_array() && !pack.empty()) {
        double best = -1e9;
        for (const auto& g : *rx) {
            if (g.is_object() && g.contains("rssi") && g["rssi"].is_number())
                best = std::max(best, g["rssi"].get<double>());
        }
        if (best > -1e9)
            pack.push_back({{"n", "rssi"}, {"u", "dBW"}, {"v", best - 30.0}});  // dBm -> dBW
    }
    TtnResult out;
    out.ok = true;
    out.message.device_id = device_id;
    out.message.topic = type.topic_prefix + dev->second.sensor;
    out.message.payload = pack.dump();
    out.message.time_us = t_us;
    return out;
}

}  // namespace tb::tools
