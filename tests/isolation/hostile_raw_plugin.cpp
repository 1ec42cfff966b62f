// tb_test_hostile_raw: a plugin written against the raw C ABI (no C++ layer, so no exception
// firewall) whose on_message throws on the first message. In-process this would unwind into the
// host; in a runner it must end as an "uncaught_exception" incident.
#include <testbed/plugin.h>

#include <cstdlib>
#include <stdexcept>

namespace {

const char* const kReads[] = {"sensor/", nullptr};
const char* const kNone[] = {nullptr};
const tb_metric_desc* const kMetrics[] = {nullptr};
const tb_config_key* const kKeys[] = {nullptr};

const tb_manifest kManifest = {sizeof(tb_manifest), "tb_test_hostile_raw", "1.0.0", "Testbed tests",
                               "tests@testbed.example", "Throws through the C ABI (isolation tests).",
                               TB_SDK_VERSION, kReads, kNone, kMetrics, kKeys, 0};

int g_instance = 0;

void* create(const tb_host_api*, void*, const char*, tb_error*) { return &g_instance; }
tb_status on_message(void*, const tb_message*, tb_error*) {
    throw std::runtime_error("raw plugin threw through its C callback");
}
void destroy(void*) {}

const tb_plugin_desc kDesc = {sizeof(tb_plugin_desc), TB_ABI_MAJOR, TB_ABI_MINOR, &kManifest, &create, nullptr,
                              &on_message, nullptr, nullptr, &destroy};

}  // namespace

extern "C" TB_EXPORT tb_status tb_plugin_entry(const tb_host_info*, const tb_plugin_desc** out, tb_error*) {
    *out = &kDesc;
    return TB_OK;
}
