/*
 * abi_test.c: the ABI layout, frozen by the compiler. Compiled as C11 (no C++), twice: against
 * the current SDK headers (sdk_abi_test) and against the frozen ABI 1.0 copy in
 * tests/sdk/frozen/abi-1.0 (sdk_abi_frozen_test). Every size and offset below is the x86_64 /
 * aarch64 LP64 value that compiled plugins depend on; an accidental reorder, a removed field or
 * a changed type fails the build, not a user's plugin. Appending a field changes only the sizes
 * marked "grows with ABI 1.x" (update them together with TB_ABI_MINOR and CHANGELOG.md).
 * Both compilations asserting the same 1.0 offsets proves that 1.1 only appended.
 * The program also checks TB_HAS_FIELD at run time and prints the layout.
 * Thread safety: single-threaded test program.
 */
#include <testbed/plugin.h>

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define ASSERT_OFFSET(type, field, value) \
    static_assert(offsetof(type, field) == (value), #type "." #field " moved")
#define ASSERT_SIZE(type, value) static_assert(sizeof(type) == (value), "sizeof(" #type ") changed")

/* Constants never change meaning. */
static_assert(TB_ABI_MAJOR == 1, "ABI major changed: this is a new ABI, not a 1.x release");
static_assert(TB_OK == 0 && TB_E_INVALID_ARG == 1 && TB_E_UNSUPPORTED == 2 && TB_E_INTERNAL == 3 &&
                  TB_E_DENIED == 4 && TB_E_BUSY == 5 && TB_E_NOT_FOUND == 6 &&
                  TB_E_BAD_DATA == 7 && TB_E_TOO_SMALL == 8,
              "status codes renumbered");
static_assert(TB_LOG_TRACE == 1 && TB_LOG_DEBUG == 2 && TB_LOG_INFO == 3 && TB_LOG_WARN == 4 &&
                  TB_LOG_ERROR == 5,
              "log levels renumbered");
static_assert(TB_SEV_INFO == 1 && TB_SEV_WARNING == 2 && TB_SEV_MAJOR == 3 && TB_SEV_CRITICAL == 4,
              "severities renumbered");
static_assert(TB_CONTENT_SENML_JSON == 1 && TB_CONTENT_JSON == 2 && TB_CONTENT_TEXT == 3 &&
                  TB_CONTENT_BINARY == 4,
              "content types renumbered (they are also the wire format's numbers)");
static_assert(TB_BETTER_HIGHER == 1 && TB_BETTER_LOWER == 2 && TB_BETTER_NEITHER == 3,
              "tb_better renumbered");
static_assert(TB_CONFIG_STRING == 1 && TB_CONFIG_INT == 2 && TB_CONFIG_DOUBLE == 3 &&
                  TB_CONFIG_BOOL == 4,
              "config types renumbered");
static_assert(sizeof(tb_status) == 4, "tb_status is int32_t");

#if defined(__LP64__) || defined(_LP64)

ASSERT_OFFSET(tb_error, struct_size, 0);
ASSERT_OFFSET(tb_error, code, 4);
ASSERT_OFFSET(tb_error, message, 8);
ASSERT_SIZE(tb_error, 520);

ASSERT_OFFSET(tb_host_info, struct_size, 0);
ASSERT_OFFSET(tb_host_info, abi_major, 4);
ASSERT_OFFSET(tb_host_info, abi_minor, 8);
ASSERT_OFFSET(tb_host_info, host_version, 16);
ASSERT_SIZE(tb_host_info, 24);

ASSERT_OFFSET(tb_message, struct_size, 0);
ASSERT_OFFSET(tb_message, content_type, 4);
ASSERT_OFFSET(tb_message, reserved, 6);
ASSERT_OFFSET(tb_message, topic, 8);
ASSERT_OFFSET(tb_message, topic_len, 16);
ASSERT_OFFSET(tb_message, payload, 24);
ASSERT_OFFSET(tb_message, payload_size, 32);
ASSERT_OFFSET(tb_message, sequence, 40);
ASSERT_OFFSET(tb_message, source_time_us, 48);
ASSERT_OFFSET(tb_message, receive_time_us, 56);
ASSERT_SIZE(tb_message, 64);

ASSERT_OFFSET(tb_host_api, struct_size, 0);
ASSERT_OFFSET(tb_host_api, abi_major, 4);
ASSERT_OFFSET(tb_host_api, abi_minor, 8);
ASSERT_OFFSET(tb_host_api, log, 16);
ASSERT_OFFSET(tb_host_api, publish, 24);
ASSERT_OFFSET(tb_host_api, record_metric, 32);
ASSERT_OFFSET(tb_host_api, record_event, 40);
ASSERT_OFFSET(tb_host_api, config_get, 48);
#if TB_ABI_MINOR >= 1
ASSERT_OFFSET(tb_host_api, monotonic_ns, 56); /* ABI 1.1: appended at the 1.0 end */
static_assert(TB_HOST_API_SIZE_1_0 == 56, "the 1.0 host table size is fixed forever");
ASSERT_SIZE(tb_host_api, 64); /* grows with ABI 1.x */
#else
ASSERT_SIZE(tb_host_api, 56); /* the ABI 1.0 table */
#endif

ASSERT_OFFSET(tb_metric_desc, struct_size, 0);
ASSERT_OFFSET(tb_metric_desc, name, 8);
ASSERT_OFFSET(tb_metric_desc, unit, 16);
ASSERT_OFFSET(tb_metric_desc, better, 24);
ASSERT_OFFSET(tb_metric_desc, description, 32);
ASSERT_SIZE(tb_metric_desc, 40);

ASSERT_OFFSET(tb_config_key, struct_size, 0);
ASSERT_OFFSET(tb_config_key, name, 8);
ASSERT_OFFSET(tb_config_key, type, 16);
ASSERT_OFFSET(tb_config_key, default_value, 24);
ASSERT_OFFSET(tb_config_key, description, 32);
ASSERT_SIZE(tb_config_key, 40);

ASSERT_OFFSET(tb_manifest, struct_size, 0);
ASSERT_OFFSET(tb_manifest, id, 8);
ASSERT_OFFSET(tb_manifest, version, 16);
ASSERT_OFFSET(tb_manifest, organisation, 24);
ASSERT_OFFSET(tb_manifest, contact, 32);
ASSERT_OFFSET(tb_manifest, description, 40);
ASSERT_OFFSET(tb_manifest, sdk_version, 48);
ASSERT_OFFSET(tb_manifest, reads, 56);
ASSERT_OFFSET(tb_manifest, publishes, 64);
ASSERT_OFFSET(tb_manifest, metrics, 72);
ASSERT_OFFSET(tb_manifest, config_keys, 80);
ASSERT_OFFSET(tb_manifest, tick_interval_ms, 88);
ASSERT_SIZE(tb_manifest, 96); /* grows with ABI 1.x */

ASSERT_OFFSET(tb_plugin_desc, struct_size, 0);
ASSERT_OFFSET(tb_plugin_desc, abi_major, 4);
ASSERT_OFFSET(tb_plugin_desc, abi_minor, 8);
ASSERT_OFFSET(tb_plugin_desc, manifest, 16);
ASSERT_OFFSET(tb_plugin_desc, create, 24);
ASSERT_OFFSET(tb_plugin_desc, start, 32);
ASSERT_OFFSET(tb_plugin_desc, on_message, 40);
ASSERT_OFFSET(tb_plugin_desc, on_tick, 48);
ASSERT_OFFSET(tb_plugin_desc, stop, 56);
ASSERT_OFFSET(tb_plugin_desc, destroy, 64);
ASSERT_SIZE(tb_plugin_desc, 72); /* grows with ABI 1.x */

#else
#error "abi_test.c knows the LP64 layout only; add the values for this data model"
#endif

int main(void) {
    int failures = 0;
    tb_host_api api;
    memset(&api, 0, sizeof api);

    /* TB_HAS_FIELD is what every reader uses on a struct from the other side. */
    api.struct_size = (uint32_t)offsetof(tb_host_api, config_get);
    if (TB_HAS_FIELD(&api, tb_host_api, config_get)) {
        fprintf(stderr, "TB_HAS_FIELD claims config_get in a table that ends before it\n");
        ++failures;
    }
    api.struct_size = (uint32_t)(offsetof(tb_host_api, config_get) + sizeof(void *));
    if (!TB_HAS_FIELD(&api, tb_host_api, config_get)) {
        fprintf(stderr, "TB_HAS_FIELD misses config_get in a table that holds it\n");
        ++failures;
    }
#if TB_ABI_MINOR >= 1
    api.struct_size = (uint32_t)TB_HOST_API_SIZE_1_0;
    if (TB_HAS_FIELD(&api, tb_host_api, monotonic_ns)) {
        fprintf(stderr, "TB_HAS_FIELD claims monotonic_ns in a 1.0 table\n");
        ++failures;
    }
#endif
    printf("ABI %d.%d (SDK %s): host_api %u bytes, plugin_desc %u, manifest %u, message %u\n",
           TB_ABI_MAJOR, TB_ABI_MINOR, TB_SDK_VERSION, (unsigned)sizeof(tb_host_api),
           (unsigned)sizeof(tb_plugin_desc), (unsigned)sizeof(tb_manifest),
           (unsigned)sizeof(tb_message));
    return failures == 0 ? 0 : 1;
}
