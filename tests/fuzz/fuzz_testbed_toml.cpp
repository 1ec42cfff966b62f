// Fuzz target "testbed_toml": tb::host::parse_testbed on any text, as if it were the city-centre
// testbed.toml (so a valid zone = "zones/city-centre.geojson" reaches the zone checks). It must
// return a Result, never throw or crash, and what it accepts must satisfy the documented rules.
#include "fuzz_target.hpp"

#include "config/testbed_config.hpp"

#include <set>

TB_FUZZ_TARGET(testbed_toml) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    static const std::filesystem::path file =
        std::filesystem::path(TB_SOURCE_DIR) / "testbeds" / "city-centre" / "testbed.toml";
    auto cfg = tb::host::parse_testbed(text, file);
    if (!cfg) {
        TB_FUZZ_CHECK(!cfg.error().message.empty());
        return 0;
    }
    TB_FUZZ_CHECK(!cfg->id.empty());
    std::set<std::string> names;
    for (const auto& p : cfg->plugins) {
        TB_FUZZ_CHECK(!p.name.empty());
        TB_FUZZ_CHECK(names.insert(p.name).second);
        TB_FUZZ_CHECK(p.inbox_capacity > 0);
    }
    for (const auto& g : cfg->sensors) TB_FUZZ_CHECK(g.count >= 0);
    return 0;
}
