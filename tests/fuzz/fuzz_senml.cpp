// Fuzz target "senml": the SDK's SenML reader (sdk/include/testbed/senml.hpp) on any payload.
// The reader may only throw tb::BadData, and every record it returns must be usable as-is: a
// name (n or bn), finite numbers (a plugin must never see inf/nan from a "valid" pack).
#include "fuzz_target.hpp"

#include <testbed/senml.hpp>

#include <cmath>

TB_FUZZ_TARGET(senml) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto pack = tb::senml::parse(text);
        for (const auto& r : pack) {
            TB_FUZZ_CHECK(r.value || r.string_value || r.bool_value || r.sum);
            if (r.value) TB_FUZZ_CHECK(std::isfinite(*r.value));
            if (r.sum) TB_FUZZ_CHECK(std::isfinite(*r.sum));
            TB_FUZZ_CHECK(std::isfinite(r.time));
        }
    } catch (const tb::BadData&) {
        // the documented way to refuse a payload
    }
    return 0;
}
