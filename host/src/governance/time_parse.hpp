// governance/time_parse.hpp: the times staff type on the command line.
//
// Accepted: unix seconds ("1767225600", optionally with a fraction) and ISO 8601 date-times with
// an explicit zone: "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "2026-01-01 00:00Z",
// optional fractional seconds. A time without a zone is refused: a trial window must not depend
// on the machine's local time zone. Thread safety: pure functions.
#pragma once

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace tb::host::gov {

// Microseconds since the Unix epoch; the error names `what` (e.g. "--from").
Result<int64_t> parse_time(std::string_view text, const std::string& what);

// "2026-01-01T00:00:00Z" (UTC, whole seconds).
std::string format_time(int64_t t_us);

}  // namespace tb::host::gov
