#include "config/toml_guard.hpp"

#include <vector>

namespace tb::host {
namespace {

// Where the scanner is, in toml++'s terms. `line` is the start of a line in a table body, where
// a key, a [table] header or a comment may begin; `junk` is anywhere after something toml++
// rejects: from there on every non-ASCII byte is refused, which is always safe.
enum class At { line, key, bare_key, after_key, value, bare_value, after_value, junk };
// The enclosing construct: a table body, an array, an inline table, a [table] header.
enum class In { body, array, inline_table, header };

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
bool non_ascii(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool bare_key_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}
// toml++ reads a bare value (number, date, boolean) up to its "value terminator".
bool ends_bare_value(char c) {
    return blank(c) || c == '\n' || c == ',' || c == ']' || c == '}' || c == '#';
}

constexpr const char* kOutside =
    "non-ASCII character outside quotes or a comment: text such as a name with accents goes in a "
    "quoted value (\"...\"), or in a quoted key; the TOML reader (toml++ 3.3.0) cannot read it "
    "safely there";
constexpr const char* kAfterBackslash =
    "non-ASCII character right after a backslash in a \"\"\" string: a line continued with \\ must "
    "go on with an ASCII character (the TOML reader, toml++ 3.3.0, cannot read it safely there)";

class Scanner {
 public:
    explicit Scanner(std::string_view t) : t_(t) {}

    std::optional<TomlHazard> run() {
        if (t_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;  // a UTF-8 byte order mark
        while (i_ < t_.size()) {
            if (!step()) return hazard_;
        }
        return std::nullopt;
    }

 private:
    char at(std::size_t k) const { return k < t_.size() ? t_[k] : '\0'; }
    bool starts(std::string_view s) const { return t_.substr(i_, s.size()) == s; }
    In in() const { return stack_.back(); }
    static bool digit(char c) { return c >= '0' && c <= '9'; }
    bool date_so_far(std::size_t start) const {
        return i_ - start == 10 && t_[start + 4] == '-' && t_[start + 7] == '-';
    }

    bool refuse(const char* what) {
        hazard_ = TomlHazard{line_, what};
        return false;
    }
    bool refuse_after_junk() {
        hazard_ = TomlHazard{line_, "non-ASCII character after a TOML syntax error on line " +
                                        std::to_string(junk_line_) + ": correct line " +
                                        std::to_string(junk_line_) + " first"};
        return false;
    }
    void to_junk() {
        if (at_ != At::junk) junk_line_ = line_;
        at_ = At::junk;
    }
    void newline() {
        ++line_;
        ++i_;
    }

    // A comment runs to the end of the line; anything may be in it. Stops at the '\n'.
    void comment() {
        while (i_ < t_.size() && t_[i_] != '\n') ++i_;
    }

    // One step: consumes at least one byte, or changes state without consuming. False on a hazard.
    bool step() {
        const char c = t_[i_];
        switch (at_) {
            case At::junk:
                if (non_ascii(c)) return refuse_after_junk();
                if (c == '\n')
                    newline();
                else
                    ++i_;
                return true;
            case At::line:
                if (c == '[') {
                    array_header_ = at(i_ + 1) == '[';
                    i_ += array_header_ ? 2 : 1;
                    stack_.push_back(In::header);
                    at_ = At::key;
                    return true;
                }
                if (c == '\n') return newline(), true;
                if (c == '#') return comment(), true;
                return key_start(c);
            case At::key:
                if (c == '}' && in() == In::inline_table) {
                    stack_.pop_back();
                    at_ = At::after_value;
                    return ++i_, true;
                }
                if (c == '\n' || c == '#') return to_junk(), true;
                return key_start(c);
            case At::bare_key:
                while (i_ < t_.size() && bare_key_char(t_[i_])) ++i_;
                at_ = At::after_key;
                return true;
            case At::after_key:
                return after_key(c);
            case At::value:
                return value_start(c);
            case At::bare_value: {
                const std::size_t start = i_;
                while (i_ < t_.size()) {
                    if (non_ascii(t_[i_])) return refuse(kOutside);
                    if (!ends_bare_value(t_[i_])) {
                        ++i_;
                    } else if (t_[i_] == ' ' && date_so_far(start) && digit(at(i_ + 1))) {
                        ++i_;  // `1979-05-27 07:32:00`: TOML allows a space between date and time
                    } else {
                        break;
                    }
                }
                at_ = At::after_value;
                return true;
            }
            case At::after_value:
                return after_value(c);
        }
        return true;
    }

    bool key_start(char c) {
        if (blank(c)) return ++i_, true;
        if (non_ascii(c)) return refuse(kOutside);
        if (c == '"' || c == '\'') return single_line(c, At::after_key);
        if (bare_key_char(c)) {
            at_ = At::bare_key;
            return true;
        }
        return to_junk(), true;
    }

    bool after_key(char c) {
        if (blank(c)) return ++i_, true;
        if (non_ascii(c)) return refuse(kOutside);
        if (c == '.') {
            at_ = At::key;
            return ++i_, true;
        }
        if (c == '=' && in() != In::header) {
            at_ = At::value;
            return ++i_, true;
        }
        if (c == ']' && in() == In::header) {
            if (array_header_ && at(i_ + 1) != ']') return to_junk(), true;
            i_ += array_header_ ? 2 : 1;
            stack_.pop_back();
            at_ = At::after_value;
            return true;
        }
        return to_junk(), true;
    }

    bool value_start(char c) {
        if (blank(c)) return ++i_, true;
        if (non_ascii(c)) return refuse(kOutside);
        if (c == '\n' || c == '#') {
            if (in() != In::array) return to_junk(), true;
            if (c == '#') return comment(), true;
            return newline(), true;
        }
        if (c == '"')
            return starts("\"\"\"") ? multi_line_basic() : single_line('"', At::after_value);
        if (c == '\'')
            return starts("'''") ? multi_line_literal() : single_line('\'', At::after_value);
        if (c == '[') {
            stack_.push_back(In::array);
            return ++i_, true;
        }
        if (c == '{') {
            stack_.push_back(In::inline_table);
            at_ = At::key;
            return ++i_, true;
        }
        if (c == ']' && in() == In::array) {  // an empty array, or a trailing comma
            stack_.pop_back();
            at_ = At::after_value;
            return ++i_, true;
        }
        at_ = At::bare_value;
        return true;
    }

    bool after_value(char c) {
        if (blank(c)) return ++i_, true;
        if (non_ascii(c)) return refuse(kOutside);
        const In here = in();
        if (c == '\n') {
            if (here == In::inline_table) return to_junk(), true;
            if (here == In::body) at_ = At::line;
            return newline(), true;
        }
        if (c == '#') {
            if (here == In::inline_table) return to_junk(), true;
            return comment(), true;  // the '\n' after it ends the line as above
        }
        if (c == ',' && (here == In::array || here == In::inline_table)) {
            at_ = here == In::array ? At::value : At::key;
            return ++i_, true;
        }
        if ((c == ']' && here == In::array) || (c == '}' && here == In::inline_table)) {
            stack_.pop_back();
            return ++i_, true;
        }
        return to_junk(), true;
    }

    // "..." or '...', a value or a key (`next` says which): anything but a line break. toml++
    // classifies nothing inside, not even in a key (it records a key's quoted part whitespace and
    // all). In "..." a backslash escapes the next byte (toml++ refuses a non-ASCII one as an
    // unknown escape; refused here all the same).
    bool single_line(char quote, At next) {
        ++i_;
        while (i_ < t_.size()) {
            const char c = t_[i_];
            if (c == '\n') return to_junk(), true;
            if (c == quote) {
                ++i_;
                at_ = next;
                return true;
            }
            if (quote == '"' && c == '\\') {
                if (non_ascii(at(i_ + 1))) return refuse(kAfterBackslash);
                if (at(i_ + 1) == '\n') return ++i_, to_junk(), true;
                i_ += 2;
                continue;
            }
            ++i_;
        }
        return true;
    }

    // After a closing """ or ''', up to two more quotes still belong to the string.
    void close_multi_line(char quote) {
        i_ += 3;
        for (int k = 0; k < 2 && at(i_) == quote; ++k) ++i_;
        at_ = At::after_value;
    }

    bool multi_line_basic() {
        i_ += 3;
        while (i_ < t_.size()) {
            const char c = t_[i_];
            if (starts("\"\"\"")) return close_multi_line('"'), true;
            if (c == '\n') {
                newline();
                continue;
            }
            if (c != '\\') {
                ++i_;
                continue;
            }
            // toml++ asks whether the byte after the backslash is whitespace.
            std::size_t j = i_ + 1;
            if (non_ascii(at(j))) return refuse(kAfterBackslash);
            if (!blank(at(j)) && at(j) != '\n') {  // an escape sequence
                i_ = j + 1;
                continue;
            }
            // A line-ending backslash: toml++ classifies each byte up to the line break, then
            // every byte of the blank lines after it, up to the first that is not blank.
            while (j < t_.size() && blank(t_[j])) ++j;
            if (non_ascii(at(j))) return refuse(kAfterBackslash);
            if (at(j) != '\n') {
                i_ = j;
                return to_junk(), true;
            }
            while (j < t_.size() && (blank(t_[j]) || t_[j] == '\n')) {
                if (t_[j] == '\n') ++line_;
                ++j;
            }
            if (non_ascii(at(j))) return refuse(kAfterBackslash);
            i_ = j;
        }
        return true;
    }

    bool multi_line_literal() {
        i_ += 3;
        while (i_ < t_.size()) {
            if (starts("'''")) return close_multi_line('\''), true;
            if (t_[i_] == '\n')
                newline();
            else
                ++i_;
        }
        return true;
    }

    std::string_view t_;
    std::size_t i_ = 0;
    std::size_t line_ = 1;
    std::size_t junk_line_ = 0;
    At at_ = At::line;
    std::vector<In> stack_{In::body};
    bool array_header_ = false;
    std::optional<TomlHazard> hazard_;
};

}  // namespace

std::optional<TomlHazard> find_toml_hazard(std::string_view text) { return Scanner(text).run(); }

}  // namespace tb::host
