// common/sha256.hpp: SHA-256 of files and strings (libsodium), as lower-case hex.
// Thread safety: reentrant.
#pragma once

#include "common/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace tb::host {

Result<std::string> sha256_file(const std::filesystem::path& file);
std::string sha256_hex(std::string_view data);
std::string to_hex(const unsigned char* data, std::size_t size);

}  // namespace tb::host
