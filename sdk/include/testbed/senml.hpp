// testbed/senml.hpp: read and write SenML JSON packs (RFC 8428) without dependencies.
//
// City sensor feeds carry SenML JSON (docs/wire-format.md). This header gives plugins a strict,
// allocation-light reader for the subset the testbed uses: a JSON array of flat objects whose
// values are strings, numbers or booleans. Base fields (bn, bt, bu, bv) are applied as RFC 8428
// section 4.6 says, so each resolved record carries its full name, unit and absolute time.
//
//   auto pack = tb::senml::parse(msg.payload);          // throws tb::BadData when malformed
//   for (const auto& r : pack) if (r.value) use(r.name, *r.value, r.unit, r.time);
//
// Header-only, C++17, no exceptions other than tb::BadData. Thread safety: stateless functions.
#ifndef TB_SENML_HPP
#define TB_SENML_HPP

#include <testbed/plugin.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tb::senml {

struct Record {
    std::string name;  // bn + n
    std::string unit;  // u, else bu
    std::optional<double> value;
    std::optional<std::string> string_value;
    std::optional<bool> bool_value;
    double time = 0;  // bt + t, seconds since the Unix epoch (0 when neither was given)
    std::optional<double> sum;
};

namespace detail {

class Reader {
   public:
    explicit Reader(std::string_view text) : s_(text) {}

    std::vector<Record> pack() {
        std::vector<Record> out;
        skip_ws();
        expect('[');
        skip_ws();
        std::string bn, bu;
        double bt = 0, bv = 0;
        if (peek() == ']') {
            ++i_;
        } else {
            for (;;) {
                read_record(out, bn, bu, bt, bv);
                skip_ws();
                const char c = next();
                if (c == ']') break;
                if (c != ',') fail("expected ',' or ']' between records");
                skip_ws();
            }
        }
        skip_ws();
        if (i_ != s_.size()) fail("unexpected data after the SenML array");
        return out;
    }

   private:
    void read_record(std::vector<Record>& out, std::string& bn, std::string& bu, double& bt,
                     double& bv) {
        expect('{');
        Record r;
        std::string n;
        double t = 0;
        bool has_name = false;
        skip_ws();
        if (peek() == '}') {
            ++i_;
        } else {
            for (;;) {
                skip_ws();
                const std::string key = read_string();
                skip_ws();
                expect(':');
                skip_ws();
                if (key == "bn") bn = read_string();
                else if (key == "bu") bu = read_string();
                else if (key == "bt") bt = read_number();
                else if (key == "bv") bv = read_number();
                else if (key == "n") { n = read_string(); has_name = true; }
                else if (key == "u") r.unit = read_string();
                else if (key == "v") r.value = read_number();
                else if (key == "vs") r.string_value = read_string();
                else if (key == "vd") r.string_value = read_string();
                else if (key == "vb") r.bool_value = read_bool();
                else if (key == "s") r.sum = read_number();
                else if (key == "t") t = read_number();
                else if (key == "bver" || key == "ut" || key == "bs") (void)read_number();
                else skip_value();  // RFC 8428: unknown fields that do not end in '_' may be ignored
                skip_ws();
                const char c = next();
                if (c == '}') break;
                if (c != ',') fail("expected ',' or '}' in a record");
            }
        }
        const bool has_value = r.value || r.string_value || r.bool_value || r.sum;
        if (!has_value) return;  // a record that only sets base fields
        if (!has_name && bn.empty()) fail("a record has a value but no name (n or bn)");
        r.name = bn + n;
        if (r.unit.empty()) r.unit = bu;
        if (r.value) *r.value += bv;
        r.time = bt + t;
        out.push_back(std::move(r));
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw BadData("SenML: " + what + " at byte " + std::to_string(i_));
    }
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    char next() {
        if (i_ >= s_.size()) fail("unexpected end of payload");
        return s_[i_++];
    }
    void expect(char c) {
        if (next() != c) {
            --i_;
            fail(std::string("expected '") + c + "'");
        }
    }
    void skip_ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
    }
    std::string read_string() {
        expect('"');
        std::string out;
        for (;;) {
            // Copy a run of plain characters at once (the common case: no escapes).
            std::size_t j = i_;
            while (j < s_.size() && s_[j] != '"' && s_[j] != '\\' && static_cast<unsigned char>(s_[j]) >= 0x20) ++j;
            out.append(s_.data() + i_, j - i_);
            i_ = j;
            char c = next();
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
            if (c == '\\') {
                c = next();
                switch (c) {
                    case '"': case '\\': case '/': out += c; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': {
                        unsigned cp = 0;
                        for (int k = 0; k < 4; ++k) {
                            const char h = next();
                            cp <<= 4;
                            if (h >= '0' && h <= '9') cp |= unsigned(h - '0');
                            else if (h >= 'a' && h <= 'f') cp |= unsigned(h - 'a' + 10);
                            else if (h >= 'A' && h <= 'F') cp |= unsigned(h - 'A' + 10);
                            else fail("bad \\u escape");
                        }
                        // Names and units are ASCII in practice; keep BMP code points as UTF-8.
                        if (cp < 0x80) out += static_cast<char>(cp);
                        else if (cp < 0x800) {
                            out += static_cast<char>(0xC0 | (cp >> 6));
                            out += static_cast<char>(0x80 | (cp & 0x3F));
                        } else {
                            out += static_cast<char>(0xE0 | (cp >> 12));
                            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                            out += static_cast<char>(0x80 | (cp & 0x3F));
                        }
                        break;
                    }
                    default: fail("bad escape in a string");
                }
            } else {
                out += c;
            }
        }
    }
    double read_number() {
        const size_t start = i_;
        if (peek() == '-') ++i_;
        if (!(peek() >= '0' && peek() <= '9')) fail("expected a number");
        while ((peek() >= '0' && peek() <= '9') || peek() == '.' || peek() == 'e' || peek() == 'E' ||
               peek() == '+' || peek() == '-')
            ++i_;
        // strtod needs a terminated string; short numbers (all real ones) use a stack buffer.
        const std::string_view text = s_.substr(start, i_ - start);
        char small[64];
        std::string large;
        const char* c_text = small;
        if (text.size() < sizeof small) {
            text.copy(small, text.size());
            small[text.size()] = '\0';
        } else {
            large.assign(text);
            c_text = large.c_str();
        }
        char* end = nullptr;
        const double v = std::strtod(c_text, &end);
        if (end != c_text + text.size() || !std::isfinite(v)) {
            i_ = start;
            fail("malformed number '" + std::string(text) + "'");
        }
        return v;
    }
    bool read_bool() {
        if (s_.substr(i_, 4) == "true") { i_ += 4; return true; }
        if (s_.substr(i_, 5) == "false") { i_ += 5; return false; }
        fail("expected true or false");
    }
    void skip_value() {
        const char c = peek();
        if (c == '"') (void)read_string();
        else if (c == 't' || c == 'f') (void)read_bool();
        else if (s_.substr(i_, 4) == "null") i_ += 4;
        else (void)read_number();  // nested objects/arrays are not SenML; reject them
    }

    std::string_view s_;
    size_t i_ = 0;
};

}  // namespace detail

// Parse a SenML JSON pack. Throws tb::BadData (naming the byte offset) when it is malformed.
inline std::vector<Record> parse(std::string_view payload) { return detail::Reader(payload).pack(); }

// Write one numeric record as a SenML pack: [{"bn":"<base>","n":"<name>","u":"<unit>","v":..,"t":..}]
inline std::string format_value(std::string_view base_name, std::string_view name,
                                std::string_view unit, double value, double time_s) {
    char num[64];
    std::string out = "[{\"bn\":\"";
    out += base_name;
    out += "\",\"n\":\"";
    out += name;
    out += "\",\"u\":\"";
    out += unit;
    out += "\",\"v\":";
    std::snprintf(num, sizeof num, "%.10g", value);
    out += num;
    out += ",\"t\":";
    std::snprintf(num, sizeof num, "%.3f", time_s);
    out += num;
    out += "}]";
    return out;
}

}  // namespace tb::senml

#endif  // TB_SENML_HPP
