#include "loader/plugin_library.hpp"

#include "common/sha256.hpp"

#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

namespace tb::host {
namespace fs = std::filesystem;

struct PluginLibrary::Impl {
    boost::dll::shared_library lib;
};

PluginLibrary::~PluginLibrary() = default;

namespace {

std::string abi_string(uint32_t major, uint32_t minor) {
    return std::to_string(major) + "." + std::to_string(minor);
}

const std::string kHostAbi = abi_string(TB_ABI_MAJOR, TB_ABI_MINOR);

uint64_t read_le(const unsigned char* p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// Describe what the first bytes of a file look like, for "is not a shared library" errors. A
// shared object whose header tables point past the end of the file is reported as truncated
// here, because dlopen's own message for it ("file too short") does not say what happened.
std::string sniff(const fs::path& file, bool& is_elf_shared) {
    is_elf_shared = false;
    std::ifstream in(file, std::ios::binary);
    unsigned char b[64] = {};
    in.read(reinterpret_cast<char*>(b), sizeof b);
    const auto n = in.gcount();
    if (n == 0) return "an empty file";
    const bool magic = n >= 4 && b[0] == 0x7F && b[1] == 'E' && b[2] == 'L' && b[3] == 'F';
    if (!magic) {
        if (n >= 2 && b[0] == '#' && b[1] == '!') return "a script";
        bool text = true;
        for (std::streamsize i = 0; i < n; ++i) {
            text = text && ((b[i] >= 0x20 && b[i] < 0x7F) || b[i] == '\n' || b[i] == '\r' || b[i] == '\t');
        }
        return text ? "a text file" : "not an ELF file (no ELF magic bytes)";
    }
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (b[4] != 2) return "a 32-bit ELF file, not a 64-bit shared library";
    if (n < 64) return "a truncated ELF file (" + std::to_string(size) + " bytes, shorter than an ELF header)";
    const unsigned type = static_cast<unsigned>(read_le(b + 16, 2));  // e_type, little-endian on our targets
    if (type == 1) return "an ELF relocatable object file (.o), not a shared library";
    if (type == 2) return "an ELF executable, not a shared library";
    if (type != 3) return "an ELF file of type " + std::to_string(type);  // 3 = ET_DYN
    const uint64_t ph_end = read_le(b + 32, 8) + read_le(b + 56, 2) * read_le(b + 54, 2);
    const uint64_t sh_end = read_le(b + 40, 8) + read_le(b + 60, 2) * read_le(b + 58, 2);
    const uint64_t need = std::max(ph_end, sh_end);
    if (!ec && size < need) {
        return "a truncated ELF shared object (" + std::to_string(size) + " bytes, but its headers describe " +
               std::to_string(need) + "; was the copy or download cut short?)";
    }
    is_elf_shared = true;
    return "an ELF shared object";
}

std::string str_or_empty(const char* s) { return s ? std::string(s) : std::string(); }

// Text from the plugin quoted in an error message before it was validated: printable ASCII as
// is, every other byte as \xNN, at most 64 bytes. Load errors end up in events, the audit log and
// API JSON, which need UTF-8 (found by the descriptor fuzz target: an id of 0xFF broke it).
std::string shown(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < 64; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
        } else {
            static const char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    if (s.size() > 64) out += "...";
    return out;
}

bool valid_id(const std::string& id) {
    if (id.empty() || id.size() > 64 || !(id[0] >= 'a' && id[0] <= 'z')) return false;
    for (char c : id) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

// Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF): manifest strings end
// up in JSON (the database, logs, the API), and nlohmann::json::dump() throws on anything else.
bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        int n = 0;
        uint32_t cp = 0;
        if (c < 0x80) { ++i; continue; }
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1Fu; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0Fu; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07u; }
        else return false;
        if (i + static_cast<std::size_t>(n) >= s.size()) return false;
        for (int k = 1; k <= n; ++k) {
            const auto d = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
            if ((d & 0xC0u) != 0x80u) return false;
            cp = (cp << 6) | (d & 0x3Fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += static_cast<std::size_t>(n) + 1;
    }
    return true;
}

bool valid_metric_name(const std::string& n) {
    if (n.empty() || n.size() > 64) return false;
    for (char c : n) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return false;
    }
    return true;
}

}  // namespace

std::size_t PluginLibrary::min_desc_size() {
    return offsetof(tb_plugin_desc, destroy) + sizeof(tb_plugin_desc::destroy);
}
std::size_t PluginLibrary::min_manifest_size() {
    return offsetof(tb_manifest, tick_interval_ms) + sizeof(tb_manifest::tick_interval_ms);
}

const MetricInfo* ManifestInfo::metric(std::string_view name) const {
    for (const auto& m : metrics) if (m.name == name) return &m;
    return nullptr;
}

const ConfigKeyInfo* ManifestInfo::config_key(std::string_view name) const {
    for (const auto& k : config_keys) if (k.name == name) return &k;
    return nullptr;
}

nlohmann::json ManifestInfo::to_json() const {
    static const char* kBetter[] = {"?", "higher", "lower", "neither"};
    static const char* kTypes[] = {"?", "string", "int", "double", "bool"};
    nlohmann::json j{{"id", id},
                     {"version", version},
                     {"organisation", organisation},
                     {"contact", contact},
                     {"description", description},
                     {"sdk_version", sdk_version},
                     {"abi", abi_string(abi_major, abi_minor)},
                     {"reads", reads},
                     {"publishes", publishes},
                     {"tick_interval_ms", tick_interval_ms}};
    j["metrics"] = nlohmann::json::array();
    for (const auto& m : metrics) {
        j["metrics"].push_back({{"name", m.name},
                                {"unit", m.unit},
                                {"better", kBetter[m.better >= 1 && m.better <= 3 ? m.better : 0]},
                                {"description", m.description}});
    }
    j["config"] = nlohmann::json::array();
    for (const auto& k : config_keys) {
        nlohmann::json c{{"name", k.name},
                         {"type", kTypes[k.type >= 1 && k.type <= 4 ? k.type : 0]},
                         {"description", k.description}};
        c["default"] = k.default_value ? nlohmann::json(*k.default_value) : nlohmann::json(nullptr);
        j["config"].push_back(std::move(c));
    }
    return j;
}

Status validate_manifest(const ManifestInfo& m, const std::string& where) {
    auto fail = [&](const std::string& what) { return Status(Error{where + ": " + what, "manifest"}); };
    if (!valid_id(m.id)) {
        return fail("manifest id '" + shown(m.id) + "' is invalid (use lower-case letters, digits and '_', starting with a letter)");
    }
    std::string missing;
    if (m.version.empty()) missing += " version";
    if (m.organisation.empty()) missing += " organisation";
    if (m.contact.empty()) missing += " contact";
    if (!missing.empty()) {
        return fail("manifest of plugin '" + m.id + "' is missing required field(s):" + missing +
                    " (set them in tb::Manifest, e.g. .organisation(\"...\").contact(\"you@example.org\"))");
    }
    // Every string must be UTF-8 (found by the manifest fuzz target: a byte like 0x03 after a
    // lead byte passed validation and then made the JSON serialisation throw in the host).
    {
        std::vector<std::pair<std::string, const std::string*>> texts{
            {"version", &m.version}, {"organisation", &m.organisation}, {"contact", &m.contact},
            {"description", &m.description}, {"sdk_version", &m.sdk_version}};
        for (const auto& r : m.reads) texts.emplace_back("reads", &r);
        for (const auto& p : m.publishes) texts.emplace_back("publishes", &p);
        for (const auto& x : m.metrics) {
            texts.emplace_back("metric name", &x.name);
            texts.emplace_back("metric unit", &x.unit);
            texts.emplace_back("metric description", &x.description);
        }
        for (const auto& k : m.config_keys) {
            texts.emplace_back("config key name", &k.name);
            texts.emplace_back("config key description", &k.description);
            if (k.default_value) texts.emplace_back("config key default", &*k.default_value);
        }
        for (const auto& [field, text] : texts) {
            if (!valid_utf8(*text)) {
                return fail("plugin '" + m.id + "': manifest " + field + " is not valid UTF-8 (use UTF-8 text in the manifest)");
            }
        }
    }
    for (const auto& r : m.reads) {
        if (r.empty()) return fail("plugin '" + m.id + "' declares an empty read prefix (use e.g. \"sensor/parking/\")");
    }
    for (const auto& p : m.publishes) {
        if (p.empty()) return fail("plugin '" + m.id + "' declares an empty publish prefix");
    }
    std::set<std::string> seen;
    for (const auto& x : m.metrics) {
        if (!valid_metric_name(x.name)) return fail("plugin '" + m.id + "' declares metric '" + x.name + "' with an invalid name (use [a-z0-9_.])");
        if (!seen.insert(x.name).second) return fail("plugin '" + m.id + "' declares metric '" + x.name + "' twice");
        if (x.unit.empty()) return fail("plugin '" + m.id + "' metric '" + x.name + "' has no unit (use \"1\" for a plain count)");
        if (x.better < TB_BETTER_HIGHER || x.better > TB_BETTER_NEITHER) return fail("plugin '" + m.id + "' metric '" + x.name + "' has an invalid 'better' value");
    }
    seen.clear();
    for (const auto& k : m.config_keys) {
        if (k.name.empty() || !seen.insert(k.name).second) return fail("plugin '" + m.id + "' declares config key '" + k.name + "' twice or empty");
        if (k.type < TB_CONFIG_STRING || k.type > TB_CONFIG_BOOL) return fail("plugin '" + m.id + "' config key '" + k.name + "' has an invalid type");
    }
    return {};
}

Result<ManifestInfo> read_descriptor(const tb_plugin_desc* desc, const std::string& where) {
    if (desc == nullptr) return Error{where + ": tb_plugin_entry returned TB_OK but no descriptor", "descriptor"};

    // The first three fields exist in every ABI; read them before trusting anything else.
    const std::string plugin_abi = abi_string(desc->abi_major, desc->abi_minor);
    std::string id = "(id unknown: the descriptor holds no readable manifest)";
    if (desc->struct_size >= offsetof(tb_plugin_desc, manifest) + sizeof(desc->manifest) && desc->manifest != nullptr &&
        desc->manifest->struct_size >= offsetof(tb_manifest, id) + sizeof(desc->manifest->id) && desc->manifest->id) {
        id = "'" + shown(desc->manifest->id) + "'";
    }
    const std::string who = where + ": plugin " + id + " (plugin ABI " + plugin_abi + ", host ABI " + kHostAbi + ")";
    if (desc->abi_major > TB_ABI_MAJOR) {
        return Error{who + " was built for a newer ABI major; this host cannot run it (use a host that serves ABI " +
                         std::to_string(desc->abi_major) + ".x, or rebuild the plugin against SDK " +
                         std::to_string(TB_ABI_MAJOR) + ".x)",
                     "abi_major"};
    }
    if (desc->abi_major < TB_ABI_MAJOR) {
        return Error{who + " was built for an older ABI major that this host no longer serves (rebuild it against SDK " +
                         std::to_string(TB_ABI_MAJOR) + ".x)",
                     "abi_major"};
    }
    if (desc->struct_size < PluginLibrary::min_desc_size()) {
        return Error{who + ": descriptor struct_size " + std::to_string(desc->struct_size) + " is smaller than the ABI 1.0 minimum " +
                         std::to_string(PluginLibrary::min_desc_size()) + " (corrupt or hand-made descriptor; build with the SDK headers)",
                     "struct_size"};
    }
    std::string null_cbs;
    if (desc->create == nullptr) null_cbs += " create";
    if (desc->on_message == nullptr) null_cbs += " on_message";
    if (desc->destroy == nullptr) null_cbs += " destroy";
    if (!null_cbs.empty()) return Error{who + ": required callback(s) are null:" + null_cbs, "callbacks"};
    if (desc->manifest == nullptr) return Error{who + ": descriptor has no manifest", "manifest"};
    const tb_manifest& m = *desc->manifest;
    if (m.struct_size < PluginLibrary::min_manifest_size()) {
        return Error{who + ": manifest struct_size " + std::to_string(m.struct_size) + " is smaller than the ABI 1.0 minimum " +
                         std::to_string(PluginLibrary::min_manifest_size()),
                     "struct_size"};
    }
    ManifestInfo mi;
    mi.id = str_or_empty(m.id);
    mi.version = str_or_empty(m.version);
    mi.organisation = str_or_empty(m.organisation);
    mi.contact = str_or_empty(m.contact);
    mi.description = str_or_empty(m.description);
    mi.sdk_version = str_or_empty(m.sdk_version);
    mi.abi_major = desc->abi_major;
    mi.abi_minor = desc->abi_minor;
    mi.tick_interval_ms = m.tick_interval_ms;
    constexpr int kMaxItems = 1024;  // guards against a missing NULL terminator
    // The bound is checked before the element is read, so an array of kMaxItems entries without
    // a terminator is not read past its end.
    for (int i = 0; m.reads && i < kMaxItems && m.reads[i]; ++i) mi.reads.emplace_back(m.reads[i]);
    for (int i = 0; m.publishes && i < kMaxItems && m.publishes[i]; ++i) mi.publishes.emplace_back(m.publishes[i]);
    for (int i = 0; m.metrics && i < kMaxItems && m.metrics[i]; ++i) {
        const tb_metric_desc* d = m.metrics[i];
        if (d->struct_size < offsetof(tb_metric_desc, description) + sizeof(d->description)) {
            return Error{who + ": metric #" + std::to_string(i) + " has struct_size " + std::to_string(d->struct_size) + ", too small", "struct_size"};
        }
        // Range-check the raw int32 before converting: an out-of-range value in a C enum is
        // undefined behaviour in C++ (found by the manifest fuzz target under UBSan).
        if (d->better < TB_BETTER_HIGHER || d->better > TB_BETTER_NEITHER) {
            return Error{who + ": metric '" + shown(str_or_empty(d->name)) + "' has an invalid 'better' value " +
                             std::to_string(d->better) + " (use tb::Better / TB_BETTER_*)",
                         "manifest"};
        }
        mi.metrics.push_back({str_or_empty(d->name), str_or_empty(d->unit), static_cast<tb_better>(d->better), str_or_empty(d->description)});
    }
    for (int i = 0; m.config_keys && i < kMaxItems && m.config_keys[i]; ++i) {
        const tb_config_key* k = m.config_keys[i];
        if (k->struct_size < offsetof(tb_config_key, description) + sizeof(k->description)) {
            return Error{who + ": config key #" + std::to_string(i) + " has struct_size " + std::to_string(k->struct_size) + ", too small", "struct_size"};
        }
        if (k->type < TB_CONFIG_STRING || k->type > TB_CONFIG_BOOL) {
            return Error{who + ": config key '" + shown(str_or_empty(k->name)) + "' has an invalid type " + std::to_string(k->type) +
                             " (use tb::ConfigType / TB_CONFIG_*)",
                         "manifest"};
        }
        ConfigKeyInfo c{str_or_empty(k->name), static_cast<tb_config_type>(k->type), std::nullopt, str_or_empty(k->description)};
        if (k->default_value) c.default_value = k->default_value;
        mi.config_keys.push_back(std::move(c));
    }
    if (auto s = validate_manifest(mi, who); !s) return s.error();
    return mi;
}

Result<std::shared_ptr<PluginLibrary>> PluginLibrary::load(const fs::path& file) {
    const std::string where = file.string();
    std::error_code fec;
    if (!fs::exists(file, fec)) {
        return Error{where + ": plugin file does not exist (check the path, or build the plugin first; host ABI " +
                         kHostAbi + ")",
                     "not_found"};
    }
    if (!fs::is_regular_file(file, fec)) {
        return Error{where + ": is not a regular file (a plugin is a .so built with testbed_add_plugin(); host ABI " +
                         kHostAbi + ")",
                     "not_a_library"};
    }
    bool is_elf = false;
    const std::string kind = sniff(file, is_elf);
    if (!is_elf) {
        return Error{where + ": is not a plugin library: found " + kind +
                         " (a plugin is a .so built with testbed_add_plugin(); host ABI " + kHostAbi + ")",
                     "not_a_library"};
    }
    auto sha = sha256_file(file);
    if (!sha) return sha.error();

    std::shared_ptr<PluginLibrary> lib(new PluginLibrary());
    lib->impl_ = std::make_unique<Impl>();
    lib->file_ = file;
    lib->sha256_ = *sha;
    boost::dll::fs::error_code ec;
    lib->impl_->lib.load(boost::dll::fs::path(file.string()), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec) {
        return Error{where + ": the dynamic loader refused it: " + ec.message() +
                         " (missing dependency or undefined symbol? try `ldd -r " + where + "`; host ABI " + kHostAbi + ")",
                     "dlopen"};
    }
    if (!lib->impl_->lib.has(TB_PLUGIN_ENTRY_SYMBOL)) {
        return Error{where + ": does not export '" TB_PLUGIN_ENTRY_SYMBOL "' (is TB_PLUGIN(YourClass) in your source, "
                         "and is the symbol visible? check with `nm -D " + where + "`; host ABI " + kHostAbi +
                         ", plugin ABI unknown without the entry)",
                     "no_entry"};
    }
    auto& entry = lib->impl_->lib.get<tb_status(const tb_host_info*, const tb_plugin_desc**, tb_error*)>(TB_PLUGIN_ENTRY_SYMBOL);
    tb_host_info info{};
    info.struct_size = sizeof info;
    info.abi_major = TB_ABI_MAJOR;
    info.abi_minor = TB_ABI_MINOR;
    info.host_version = "0.1.0";
    tb_error err{};
    err.struct_size = sizeof err;
    const tb_plugin_desc* desc = nullptr;
    const tb_status rc = entry(&info, &desc, &err);
    err.message[sizeof err.message - 1] = '\0';
    if (rc != TB_OK) {
        return Error{where + ": tb_plugin_entry refused this host (host ABI " + kHostAbi + "): " + err.message + " (code " +
                         std::to_string(rc) + ")",
                     "entry_refused"};
    }
    auto mi = read_descriptor(desc, where);
    if (!mi) return mi.error();
    lib->manifest_ = std::move(mi.value());
    lib->desc_ = desc;
    return lib;
}

fs::path resolve_plugin_path(const std::string& library, const fs::path& plugin_dir, const fs::path& base_dir) {
    const bool is_path = library.find('/') != std::string::npos ||
                         (library.size() > 3 && library.compare(library.size() - 3, 3, ".so") == 0);
    if (is_path) {
        fs::path p(library);
        return p.is_absolute() ? p : base_dir / p;
    }
    return plugin_dir / (library + ".so");
}

}  // namespace tb::host
