// Fuzz target "geojson_zone": a testbed's zone file, parsed as the config loader does and given to
// tb::host::validate_zone, which must answer with a Status and never throw (nlohmann::json throws
// on a wrong-type access, so every access in the validator must be checked first).
#include "fuzz_target.hpp"

#include "config/testbed_config.hpp"

TB_FUZZ_TARGET(geojson_zone) {
    const auto j = nlohmann::json::parse(data, data + size, nullptr, false);
    if (j.is_discarded()) return 0;
    const auto s = tb::host::validate_zone(j, "zone.geojson");
    if (!s) TB_FUZZ_CHECK(s.message().rfind("zone.geojson", 0) == 0);
    return 0;
}
