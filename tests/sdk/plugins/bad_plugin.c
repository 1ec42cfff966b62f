/*
 * bad_plugin.c: hand-made descriptors the host must refuse (tests/host/loader/loader_test.cpp).
 *
 * Written in C so that each defect is one visible line of a static initialiser, exactly as a
 * careless or hostile author could write it. Built once per variant with -DTB_BAD_<VARIANT>:
 *   NO_ENTRY        exports a differently named symbol instead of tb_plugin_entry
 *   NEWER_MAJOR     abi_major = TB_ABI_MAJOR + 1
 *   SMALL_DESC      struct_size too small for the 1.0 descriptor (but large enough for the id)
 *   NULL_CALLBACKS  create and on_message are NULL
 *   MANIFEST_FIELDS version, organisation and contact are NULL
 *   CRASH_ON_EMPTY  loads fine, but aborts on an empty payload (for `testbed plugin check`)
 *   HANG_ON_EMPTY   loads fine, but never returns from an empty payload (ditto)
 *   LEAK_PER_MESSAGE loads and runs fine, but leaks 64 bytes per message (LeakSanitizer, ditto)
 * Thread safety: static data only.
 */
#define _POSIX_C_SOURCE 200809L /* pause() */
#include <testbed/plugin.h>

#include <stdlib.h>
#include <unistd.h>

#if !defined(TB_BAD_NULL_CALLBACKS)
static void *bad_create(const tb_host_api *host, void *host_ctx, const char *config_json,
                        tb_error *err) {
    (void)host;
    (void)host_ctx;
    (void)config_json;
    (void)err;
    static int instance;
    return &instance;
}

static tb_status bad_on_message(void *self, const tb_message *msg, tb_error *err) {
    (void)self;
    (void)err;
#if defined(TB_BAD_CRASH_ON_EMPTY)
    if (msg->payload_size == 0) abort();
#elif defined(TB_BAD_HANG_ON_EMPTY)
    while (msg->payload_size == 0) pause();
#elif defined(TB_BAD_LEAK_PER_MESSAGE)
    /* Allocated, written through a volatile pointer (so it is not optimised away), forgotten. */
    volatile char *lost = malloc(64);
    if (lost != NULL) lost[0] = (char)msg->payload_size;
#else
    (void)msg;
#endif
    return TB_OK;
}
#endif

static void bad_destroy(void *self) { (void)self; }

static const char *const kReads[] = {"sensor/test/", NULL};
static const char *const kNone[] = {NULL};
static const tb_metric_desc *const kNoMetrics[] = {NULL};
static const tb_config_key *const kNoKeys[] = {NULL};

#if defined(TB_BAD_MANIFEST_FIELDS)
#define BAD_VERSION NULL
#define BAD_ORG NULL
#define BAD_CONTACT NULL
#else
#define BAD_VERSION "0.0.1"
#define BAD_ORG "Testbed test suite"
#define BAD_CONTACT "tests@testbed.enschede.example"
#endif

static const tb_manifest kManifest = {
    sizeof(tb_manifest), TB_BAD_ID, BAD_VERSION, BAD_ORG, BAD_CONTACT,
    "A deliberately broken plugin.", TB_SDK_VERSION, kReads, kNone, kNoMetrics, kNoKeys, 0};

static const tb_plugin_desc kDesc = {
#if defined(TB_BAD_SMALL_DESC)
    /* Holds struct_size..create: the id is readable, but on_message/destroy are "missing". */
    (uint32_t)(offsetof(tb_plugin_desc, create) + sizeof(void *)),
#else
    sizeof(tb_plugin_desc),
#endif
#if defined(TB_BAD_NEWER_MAJOR)
    TB_ABI_MAJOR + 1,
#else
    TB_ABI_MAJOR,
#endif
    TB_ABI_MINOR,
    &kManifest,
#if defined(TB_BAD_NULL_CALLBACKS)
    NULL, NULL, NULL, NULL, NULL, bad_destroy
#else
    bad_create, NULL, bad_on_message, NULL, NULL, bad_destroy
#endif
};

#if defined(TB_BAD_NO_ENTRY)
#define BAD_ENTRY_NAME tb_plugin_entry_misspelt
#else
#define BAD_ENTRY_NAME tb_plugin_entry
#endif

TB_EXPORT tb_status BAD_ENTRY_NAME(const tb_host_info *host, const tb_plugin_desc **out,
                                   tb_error *err);
TB_EXPORT tb_status BAD_ENTRY_NAME(const tb_host_info *host, const tb_plugin_desc **out,
                                   tb_error *err) {
    (void)host;
    (void)err;
    *out = &kDesc;
    return TB_OK;
}
