// Fuzz target "manifest": a plugin manifest with arbitrary field contents (what a .so can hand the
// loader), through tb::host::validate_manifest and, when accepted, ManifestInfo::to_json() and
// its serialisation, exactly what the host does before recording the plugin in the database.
// Strings are arbitrary bytes: a plugin is not obliged to give us valid UTF-8.
#include "fuzz_target.hpp"

#include "loader/plugin_library.hpp"

TB_FUZZ_TARGET(manifest) {
    tb::fuzz::Bytes in(data, size);
    tb::host::ManifestInfo m;
    auto s = [&in] { return in.str(in.u8() % 48); };
    m.id = s();
    m.version = s();
    m.organisation = s();
    m.contact = s();
    m.description = s();
    m.sdk_version = s();
    for (int i = in.u8() % 4; i > 0; --i) m.reads.push_back(s());
    for (int i = in.u8() % 4; i > 0; --i) m.publishes.push_back(s());
    for (int i = in.u8() % 6; i > 0; --i) {
        tb::host::MetricInfo x;
        x.name = s();
        x.unit = s();
        x.better = static_cast<tb_better>(in.u8() % 4);  // within the enum's value range (0..3)
        x.description = s();
        m.metrics.push_back(x);
    }
    for (int i = in.u8() % 6; i > 0; --i) {
        tb::host::ConfigKeyInfo k;
        k.name = s();
        k.type = static_cast<tb_config_type>(in.u8() % 8);  // 0..7; raw ints are range-checked by the loader
        if (in.u8() & 1) k.default_value = s();
        k.description = s();
        m.config_keys.push_back(k);
    }
    m.tick_interval_ms = in.u32();
    const auto st = tb::host::validate_manifest(m, "fuzz.so");
    if (!st) {
        TB_FUZZ_CHECK(st.message().rfind("fuzz.so: ", 0) == 0);
        return 0;
    }
    TB_FUZZ_CHECK(!m.id.empty());
    for (const auto& x : m.metrics) TB_FUZZ_CHECK(m.metric(x.name) != nullptr);
    // The host stores manifest_json with dump(); it must not throw on what validation accepted.
    const std::string json = m.to_json().dump();
    TB_FUZZ_CHECK(!json.empty());
    return 0;
}
