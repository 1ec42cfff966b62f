// loader/plugin_library.hpp: load a plugin .so through Boost.DLL and validate its descriptor.
//
// PluginLibrary owns the loaded library; it must outlive every instance created from it. Loading
// checks, in order: the file exists and is an ELF shared object; it exports tb_plugin_entry; the
// entry returns a descriptor; the descriptor's ABI major matches and its struct sizes are at
// least the 1.0 sizes; required callbacks are set; the manifest is complete and well-formed.
// Every refusal names the file, the plugin id (once known) and both ABI versions.
//
// Thread safety: load() and destruction only on the main thread (dlopen/dlclose are not
// reentrant with respect to our bookkeeping); const accessors are safe from any thread.
#pragma once

#include "common/result.hpp"

#include <testbed/plugin.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tb::host {

struct MetricInfo {
    std::string name, unit;
    tb_better better = TB_BETTER_NEITHER;
    std::string description;
};

struct ConfigKeyInfo {
    std::string name;
    tb_config_type type = TB_CONFIG_STRING;
    std::optional<std::string> default_value;
    std::string description;
};

// The manifest, copied out of the plugin into host-owned memory.
struct ManifestInfo {
    std::string id, version, organisation, contact, description, sdk_version;
    std::vector<std::string> reads, publishes;
    std::vector<MetricInfo> metrics;
    std::vector<ConfigKeyInfo> config_keys;
    uint32_t tick_interval_ms = 0;
    uint32_t abi_major = 0, abi_minor = 0;

    const MetricInfo* metric(std::string_view name) const;
    const ConfigKeyInfo* config_key(std::string_view name) const;
    nlohmann::json to_json() const;
};

class PluginLibrary {
   public:
    ~PluginLibrary();
    PluginLibrary(const PluginLibrary&) = delete;
    PluginLibrary& operator=(const PluginLibrary&) = delete;

    // Load and validate. The error message is complete and meant for the plugin author.
    static Result<std::shared_ptr<PluginLibrary>> load(const std::filesystem::path& file);

    const std::filesystem::path& file() const noexcept { return file_; }
    const std::string& sha256() const noexcept { return sha256_; }
    const tb_plugin_desc& desc() const noexcept { return *desc_; }
    const ManifestInfo& manifest() const noexcept { return manifest_; }

    // Minimum descriptor/manifest sizes this host accepts (the ABI 1.0 layouts).
    static std::size_t min_desc_size();
    static std::size_t min_manifest_size();

   private:
    PluginLibrary() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::filesystem::path file_;
    std::string sha256_;
    const tb_plugin_desc* desc_ = nullptr;
    ManifestInfo manifest_;
};

// Read and check a descriptor as tb_plugin_entry returned it (the part of load() after the
// library is open): ABI major, struct sizes, required callbacks, then the manifest copied into
// host memory and validated. `where` (the file) starts every message. Separate from load() so
// the descriptor fuzz target can feed it hand-made descriptors without a .so.
Result<ManifestInfo> read_descriptor(const tb_plugin_desc* desc, const std::string& where);

// Check a manifest's fields (ids, units, duplicates). `where` prefixes each message.
Status validate_manifest(const ManifestInfo& m, const std::string& where);

// Resolve a [[plugins]] library entry: a bare name is <plugin_dir>/<name>.so; anything with a
// '/' or ending in .so is a path relative to `base_dir`.
std::filesystem::path resolve_plugin_path(const std::string& library,
                                          const std::filesystem::path& plugin_dir,
                                          const std::filesystem::path& base_dir);

}  // namespace tb::host
