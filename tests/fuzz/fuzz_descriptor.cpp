// Fuzz target "descriptor": the plugin descriptor and manifest exactly as tb_plugin_entry hands
// them to the loader, through tb::host::read_descriptor (the descriptor half of
// PluginLibrary::load, without a .so). The input builds fake structs: arbitrary struct_size
// values (0, the ABI 1.0 minimum, the real size, anything), raw ABI numbers, raw int32 enum
// values, null pointers anywhere, lists with or without their NULL terminator (an unterminated
// list is exactly kMaxItems = 1024 pointers long, so reading one more is an ASan error), and
// strings of arbitrary bytes. What a plugin cannot fake is memory: every pointer points at a
// real object of the real size, and strings are NUL-terminated (reading an unterminated C string
// is undefined for any reader).
// Invariants: a refusal names the file and is valid UTF-8 (load errors end up in events, the
// audit log and API JSON); an accepted descriptor had the required callbacks, the host's ABI
// major and a manifest, its manifest passes validate_manifest again, serialises to JSON, and
// holds exactly the list entries before the terminator.
#include <deque>
#include <nlohmann/json.hpp>
#include <vector>

#include "fuzz_target.hpp"
#include "loader/plugin_library.hpp"

namespace {

void* fake_create(const tb_host_api*, void*, const char*, tb_error*) { return nullptr; }
tb_status fake_on_message(void*, const tb_message*, tb_error*) { return TB_OK; }
void fake_destroy(void*) {}

constexpr std::size_t kUnterminated = 1024;  // the loader's kMaxItems

bool utf8_ok(const std::string& s) {
    try {
        (void)nlohmann::json(s).dump();
        return true;
    } catch (const nlohmann::json::exception&) {
        return false;
    }
}

// A struct_size as a plugin might claim it: mostly plausible values, sometimes anything.
uint32_t claimed_size(tb::fuzz::Bytes& in, std::size_t real, std::size_t minimum) {
    switch (in.u8() % 6) {
        case 0:
            return static_cast<uint32_t>(real);
        case 1:
            return static_cast<uint32_t>(minimum);
        case 2:
            return static_cast<uint32_t>(minimum - 1);
        case 3:
            return 0;
        case 4:
            return static_cast<uint32_t>(real + in.u8());
        default:
            return in.u32();
    }
}

struct Storage {
    std::deque<std::string> strings;
    std::deque<tb_metric_desc> metrics;
    std::deque<tb_config_key> keys;
    std::deque<std::vector<const void*>> lists;
};

}  // namespace

TB_FUZZ_TARGET(descriptor) {
    tb::fuzz::Bytes in(data, size);
    Storage st;
    // A string field: null, or up to 63 arbitrary bytes (an embedded NUL simply ends it early).
    auto text = [&]() -> const char* {
        const uint8_t k = in.u8();
        if (k == 0) return nullptr;
        st.strings.push_back(in.str(k % 64u));
        return st.strings.back().c_str();
    };
    // A NULL-terminated list of `make()` pointers, or an unterminated one of exactly 1024.
    // Returns the list and how many entries precede the terminator (what the loader must read).
    auto list = [&](auto make, std::size_t& entries) -> const void* const* {
        const uint8_t k = in.u8();
        entries = 0;
        if (k == 0) return nullptr;
        auto& v = st.lists.emplace_back();
        if (k == 0xFF) {
            const void* one = make();
            v.assign(kUnterminated, one);
            entries = one ? kUnterminated : 0;
            return v.data();
        }
        for (int i = 0; i < k % 6; ++i) {
            v.push_back(make());
            if (v.back() == nullptr) break;  // an early terminator: the rest is never read
            ++entries;
        }
        if (v.empty() || v.back() != nullptr) v.push_back(nullptr);
        return v.data();
    };

    const uint8_t flags = in.u8();
    tb_plugin_desc d{};
    d.struct_size = claimed_size(in, sizeof d, tb::host::PluginLibrary::min_desc_size());
    d.abi_major = (flags & 0x01) ? in.u32() : TB_ABI_MAJOR;
    d.abi_minor = (flags & 0x02) ? in.u32() : TB_ABI_MINOR;
    if (!(flags & 0x04)) d.create = &fake_create;
    if (!(flags & 0x08)) d.on_message = &fake_on_message;
    if (!(flags & 0x10)) d.destroy = &fake_destroy;

    tb_manifest m{};
    m.struct_size = claimed_size(in, sizeof m, tb::host::PluginLibrary::min_manifest_size());
    m.id = text();
    m.version = text();
    m.organisation = text();
    m.contact = text();
    m.description = text();
    m.sdk_version = text();
    std::size_t n_reads = 0, n_publishes = 0, n_metrics = 0, n_keys = 0;
    m.reads = reinterpret_cast<const char* const*>(
        list([&]() -> const void* { return text(); }, n_reads));
    m.publishes = reinterpret_cast<const char* const*>(
        list([&]() -> const void* { return text(); }, n_publishes));
    m.metrics = reinterpret_cast<const tb_metric_desc* const*>(list(
        [&]() -> const void* {
            if (in.u8() == 0) return nullptr;
            tb_metric_desc x{};
            x.struct_size = claimed_size(
                in, sizeof x, offsetof(tb_metric_desc, description) + sizeof(x.description));
            x.name = text();
            x.unit = text();
            x.better = static_cast<int32_t>(in.u8() < 0xF0 ? in.u8() % 5 : in.u32());
            x.description = text();
            return &st.metrics.emplace_back(x);
        },
        n_metrics));
    m.config_keys = reinterpret_cast<const tb_config_key* const*>(list(
        [&]() -> const void* {
            if (in.u8() == 0) return nullptr;
            tb_config_key x{};
            x.struct_size = claimed_size(
                in, sizeof x, offsetof(tb_config_key, description) + sizeof(x.description));
            x.name = text();
            x.type = static_cast<int32_t>(in.u8() < 0xF0 ? in.u8() % 6 : in.u32());
            x.default_value = text();
            x.description = text();
            return &st.keys.emplace_back(x);
        },
        n_keys));
    m.tick_interval_ms = in.u32();
    if (!(flags & 0x20)) d.manifest = &m;

    const auto r = tb::host::read_descriptor((flags & 0x40) ? nullptr : &d, "fuzz.so");
    if (!r) {
        const std::string& msg = r.error().message;
        TB_FUZZ_CHECK(msg.rfind("fuzz.so: ", 0) == 0);
        TB_FUZZ_CHECK(!r.error().reason.empty());
        TB_FUZZ_CHECK(utf8_ok(msg));
        return 0;
    }
    const tb::host::ManifestInfo& mi = r.value();
    TB_FUZZ_CHECK(!(flags & 0x40) && d.manifest != nullptr);
    TB_FUZZ_CHECK(d.abi_major == TB_ABI_MAJOR &&
                  d.struct_size >= tb::host::PluginLibrary::min_desc_size());
    TB_FUZZ_CHECK(d.create && d.on_message && d.destroy);
    TB_FUZZ_CHECK(m.struct_size >= tb::host::PluginLibrary::min_manifest_size());
    TB_FUZZ_CHECK(m.id != nullptr && mi.id == m.id);
    TB_FUZZ_CHECK(mi.abi_major == d.abi_major && mi.abi_minor == d.abi_minor);
    TB_FUZZ_CHECK(mi.tick_interval_ms == m.tick_interval_ms);
    TB_FUZZ_CHECK(mi.reads.size() == n_reads && mi.publishes.size() == n_publishes);
    TB_FUZZ_CHECK(mi.metrics.size() == n_metrics && mi.config_keys.size() == n_keys);
    for (const auto& x : mi.metrics)
        TB_FUZZ_CHECK(x.better >= TB_BETTER_HIGHER && x.better <= TB_BETTER_NEITHER);
    for (const auto& k : mi.config_keys)
        TB_FUZZ_CHECK(k.type >= TB_CONFIG_STRING && k.type <= TB_CONFIG_BOOL);
    TB_FUZZ_CHECK(tb::host::validate_manifest(mi, "again"));
    TB_FUZZ_CHECK(!mi.to_json().dump().empty());
    return 0;
}
