// wire/json_check.cpp: valid_json(), the receiver's check that a JSON/SenML payload is
// well-formed (docs/wire-format.md, docs/performance.md).
//
// The feed receiver runs this on every JSON payload, so it is on the hot path of every workload:
// nlohmann::json::accept spent most of its time building token strings and converting every
// number with strtod, which a yes/no answer does not need. This is a single-pass scanner that
// accepts exactly the language nlohmann::json::accept (3.11, comments off) accepts: RFC 8259
// JSON, an optional UTF-8 BOM at the very start, a NUL byte read as the end of the input,
// strict UTF-8 in strings (no overlongs, no surrogates, nothing above U+10FFFF), \u escapes
// with paired surrogates, and numbers whose value is finite as a double (nlohmann rejects 1e400
// as "number overflow"). It only calls strtod for the rare number that could overflow.
// tests/host/wire/json_check_test.cpp compares both on hand-written edge cases and on bounded
// random mutations; tests/fuzz/fuzz_wire.cpp does the same.
// Thread safety: stateless; no allocation unless nesting is deeper than 256.
#include "wire/wire.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace tb::wire {
namespace {

class Scanner {
   public:
    // nlohmann's lexer reads a NUL byte as the end of the input wherever a token may start (in
    // a string or a literal it is an error either way), so "[1]\0junk" is accepted: scanning up
    // to the first NUL gives the same answers in every case.
    explicit Scanner(std::string_view s)
        : p_(reinterpret_cast<const unsigned char*>(s.data())), end_(p_ + s.size()) {
        if (const void* nul = std::memchr(p_, 0, s.size()))
            end_ = static_cast<const unsigned char*>(nul);
    }

    bool document() {
        if (end_ - p_ >= 1 && p_[0] == 0xEF) {
            if (end_ - p_ < 3 || p_[1] != 0xBB || p_[2] != 0xBF) return false;
            p_ += 3;
        }
        if (!value()) return false;
        skip_ws();
        return p_ == end_;
    }

   private:
    const unsigned char* p_;
    const unsigned char* end_;
    // Open containers: true = array, false = object. Fixed storage for the usual depths.
    static constexpr std::size_t kInline = 256;
    bool inline_stack_[kInline] = {};
    std::vector<bool> deep_stack_;
    std::size_t depth_ = 0;

    void push(bool array) {
        if (depth_ < kInline)
            inline_stack_[depth_] = array;
        else
            deep_stack_.push_back(array);
        ++depth_;
    }
    bool top() const { return depth_ <= kInline ? inline_stack_[depth_ - 1] : deep_stack_.back(); }
    void pop() {
        if (depth_ > kInline) deep_stack_.pop_back();
        --depth_;
    }

    void skip_ws() {
        while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
    }
    bool eat(unsigned char c) {
        skip_ws();
        if (p_ != end_ && *p_ == c) {
            ++p_;
            return true;
        }
        return false;
    }
    bool literal(const char* word, std::size_t n) {
        if (static_cast<std::size_t>(end_ - p_) < n) return false;
        for (std::size_t i = 0; i < n; ++i) {
            if (p_[i] != static_cast<unsigned char>(word[i])) return false;
        }
        p_ += n;
        return true;
    }

    // One value, iteratively (arrays and objects via the explicit stack, so no recursion limit
    // and no stack overflow on deep input, as in nlohmann's parser).
    bool value() {
        for (;;) {
            skip_ws();
            if (p_ == end_) return false;
            bool scalar = true;
            switch (*p_) {
                case '[':
                    ++p_;
                    if (eat(']')) break;
                    push(true);
                    scalar = false;
                    break;
                case '{':
                    ++p_;
                    if (eat('}')) break;
                    if (!eat('"') || !string_rest() || !eat(':')) return false;
                    push(false);
                    scalar = false;
                    break;
                case '"':
                    ++p_;
                    if (!string_rest()) return false;
                    break;
                case 't':
                    if (!literal("true", 4)) return false;
                    break;
                case 'f':
                    if (!literal("false", 5)) return false;
                    break;
                case 'n':
                    if (!literal("null", 4)) return false;
                    break;
                default:
                    if (!number()) return false;
            }
            if (!scalar) continue;  // parse the first element/member value
            // After a value: close containers or move to the next element/member.
            for (;;) {
                if (depth_ == 0) return true;
                if (top()) {
                    if (eat(',')) break;
                    if (!eat(']')) return false;
                } else {
                    if (eat(',')) {
                        if (!eat('"') || !string_rest() || !eat(':')) return false;
                        break;
                    }
                    if (!eat('}')) return false;
                }
                pop();
            }
        }
    }

    static int hex(unsigned char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    bool u4(unsigned& out) {
        if (end_ - p_ < 4) return false;
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const int h = hex(p_[i]);
            if (h < 0) return false;
            out = out << 4 | static_cast<unsigned>(h);
        }
        p_ += 4;
        return true;
    }
    bool in(unsigned char lo, unsigned char hi) {
        if (p_ == end_ || *p_ < lo || *p_ > hi) return false;
        ++p_;
        return true;
    }

    // After the opening quote: up to and including the closing quote.
    bool string_rest() {
        for (;;) {
            // Fast path: plain printable ASCII.
            while (p_ != end_ && *p_ >= 0x20 && *p_ < 0x80 && *p_ != '"' && *p_ != '\\') ++p_;
            if (p_ == end_) return false;
            const unsigned char c = *p_++;
            if (c == '"') return true;
            if (c == '\\') {
                if (p_ == end_) return false;
                switch (*p_++) {
                    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
                    case 't':
                        continue;
                    case 'u': {
                        unsigned cp = 0;
                        if (!u4(cp)) return false;
                        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // lone low surrogate
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                            unsigned lo = 0;
                            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
                            p_ += 2;
                            if (!u4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
                        }
                        continue;
                    }
                    default:
                        return false;
                }
            }
            if (c < 0x20) return false;  // control characters must be escaped
            // UTF-8 (the byte ranges of RFC 3629, as nlohmann's lexer checks them).
            bool ok = false;
            if (c >= 0xC2 && c <= 0xDF) {
                ok = in(0x80, 0xBF);
            } else if (c == 0xE0) {
                ok = in(0xA0, 0xBF) && in(0x80, 0xBF);
            } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
                ok = in(0x80, 0xBF) && in(0x80, 0xBF);
            } else if (c == 0xED) {
                ok = in(0x80, 0x9F) && in(0x80, 0xBF);
            } else if (c == 0xF0) {
                ok = in(0x90, 0xBF) && in(0x80, 0xBF) && in(0x80, 0xBF);
            } else if (c >= 0xF1 && c <= 0xF3) {
                ok = in(0x80, 0xBF) && in(0x80, 0xBF) && in(0x80, 0xBF);
            } else if (c == 0xF4) {
                ok = in(0x80, 0x8F) && in(0x80, 0xBF) && in(0x80, 0xBF);
            }
            if (!ok) return false;
        }
    }

    static bool digit(unsigned char c) { return c >= '0' && c <= '9'; }

    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? whose value is finite as a double.
    bool number() {
        const unsigned char* start = p_;
        if (*p_ == '-') ++p_;
        if (p_ == end_ || !digit(*p_)) return false;
        long long int_digits = 0;
        if (*p_ == '0') {
            ++p_;
            int_digits = 1;
        } else {
            while (p_ != end_ && digit(*p_)) ++p_, ++int_digits;
        }
        if (p_ != end_ && *p_ == '.') {
            ++p_;
            if (p_ == end_ || !digit(*p_)) return false;
            while (p_ != end_ && digit(*p_)) ++p_;
        }
        long long exp = 0;
        if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            bool negative = false;
            if (p_ != end_ && (*p_ == '+' || *p_ == '-')) negative = *p_++ == '-';
            if (p_ == end_ || !digit(*p_)) return false;
            while (p_ != end_ && digit(*p_)) {
                if (exp < 1'000'000) exp = exp * 10 + (*p_ - '0');
                ++p_;
            }
            if (negative) exp = -exp;
        }
        // |value| < 10^(int_digits + exp): at most 10^307 is below DBL_MAX, so finite. Only a
        // number that might overflow is converted (underflow to 0 or a subnormal is accepted).
        if (int_digits + exp <= 307) return true;
        const std::string text(reinterpret_cast<const char*>(start),
                               static_cast<std::size_t>(p_ - start));
        return std::isfinite(std::strtod(text.c_str(), nullptr));
    }
};

}  // namespace

bool valid_json(std::string_view payload) { return Scanner(payload).document(); }

}  // namespace tb::wire
