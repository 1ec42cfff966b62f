// config/toml_guard.hpp: refuses the TOML text that would make toml++ 3.3.0 (Debian 12) run into
// undefined behaviour, before toml++ sees it.
//
// toml++ 3.3.0 classifies a code point as whitespace with a generated lookup that reaches
// __builtin_unreachable() for U+00A1..U+0499, U+2C5E..U+2FFF, U+3001..U+3057 and U+FB26..U+FEFE
// (marzer/tomlplusplus#190, fixed upstream in 3.4; found by our ttn_uplink fuzz target). It asks
// that question of every code point outside quotes and comments: between tokens, at the end of a
// bare value or a bare key, and right after a backslash in a """ string. So the guard allows
// non-ASCII bytes only where toml++ never asks: inside a quoted value or key and inside a
// comment, not as the first character after a backslash in a """ string. That rule is sound
// whatever toml++ then makes of the text (it only needs to know where a string may begin, and
// when unsure it says "not a string"), and costs valid TOML nothing.
// Thread safety: stateless.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tb::host {

struct TomlHazard {
    std::size_t line = 0;  // 1-based line of the refused byte
    std::string what;      // what is wrong and what to do, without the file name
};

// nullopt when the text is safe to hand to toml::parse; otherwise the first refused byte.
std::optional<TomlHazard> find_toml_hazard(std::string_view text);

}  // namespace tb::host
