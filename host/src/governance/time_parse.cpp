#include "governance/time_parse.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <regex>

namespace tb::host::gov {
namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm), so that
// parsing never depends on the process time zone (timegm is not standard C++).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

Result<int64_t> parse_time(std::string_view text, const std::string& what) {
    const std::string s(text);
    const std::string hint = " (use ISO 8601 with a zone, e.g. 2026-01-01T09:00:00Z or 2026-01-01T10:00:00+01:00, "
                             "or unix seconds)";
    static const std::regex kUnix(R"(^\d{1,12}(\.\d{1,6})?$)");
    if (std::regex_match(s, kUnix)) {
        const double v = std::stod(s);
        return static_cast<int64_t>(std::llround(v * 1e6));
    }
    static const std::regex kIso(
        R"(^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})$)");
    std::smatch m;
    if (!std::regex_match(s, m, kIso)) {
        static const std::regex kNoZone(R"(^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$)");
        if (std::regex_match(s, kNoZone)) {
            return Error{what + " '" + s + "' has no time zone; add 'Z' for UTC or an offset such as +01:00", "time"};
        }
        return Error{what + " '" + s + "' is not a time" + hint, "time"};
    }
    const int y = std::stoi(m[1]), mo = std::stoi(m[2]), d = std::stoi(m[3]), h = std::stoi(m[4]),
              mi = std::stoi(m[5]);
    const int sec = m[6].matched ? std::stoi(m[6]) : 0;
    static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 ||
        sec > 60) {
        return Error{what + " '" + s + "' is not a valid calendar date and time" + hint, "time"};
    }
    int64_t frac_us = 0;
    if (m[7].matched) {
        std::string f = m[7].str();
        f.resize(6, '0');
        frac_us = std::stoll(f);
    }
    int64_t offset_s = 0;
    const std::string z = m[8].str();
    if (z != "Z" && z != "z") {
        std::string digits;
        for (char c : z) {
            if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
        }
        const int oh = std::stoi(digits.substr(0, 2)), om = std::stoi(digits.substr(2, 2));
        if (oh > 14 || om > 59) return Error{what + " '" + s + "' has an impossible UTC offset" + hint, "time"};
        offset_s = (oh * 3600 + om * 60) * (z[0] == '-' ? -1 : 1);
    }
    const int64_t secs = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
                         mi * 60 + sec - offset_s;
    return secs * 1'000'000 + frac_us;
}

std::string format_time(int64_t t_us) {
    const std::time_t t = static_cast<std::time_t>(t_us >= 0 ? t_us / 1'000'000 : (t_us - 999'999) / 1'000'000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace tb::host::gov
