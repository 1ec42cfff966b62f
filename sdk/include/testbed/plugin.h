/*
 * testbed/plugin.h: the plugin ABI of the Enschede Innovation Testbed.
 *
 * This header is the contract between a testbed host and a plugin. It is plain C11 so that a
 * plugin can be built with any compiler (gcc, clang, C or C++) and keep loading in every host of
 * the same ABI major. Breaking a compiled plugin is a bug.
 *
 * Rules that keep the ABI stable (see docs/sdk/abi-policy.md):
 *  - Every struct that crosses the boundary starts with `uint32_t struct_size`, set by whoever
 *    fills the struct to sizeof() as that side compiled it. A reader only touches a field when
 *    `offsetof(field) + sizeof(field) <= struct_size` (TB_HAS_FIELD below).
 *  - Structs and enums are append-only. Nothing is ever removed, reordered or renumbered.
 *    Additions are marked "ABI 1.x+" and bump TB_ABI_MINOR.
 *  - No C++ types, exceptions or allocator ownership cross the boundary. Strings are UTF-8,
 *    NUL-terminated unless a length is given. Memory is always freed by the side that allocated it.
 *
 * The life of a plugin, as the host drives it (all on the host's main thread unless stated):
 *   1. dlopen; look up the one exported symbol "tb_plugin_entry" (type tb_plugin_entry_fn).
 *   2. tb_plugin_entry(host_info, &desc, &err): returns a pointer to static data only. It must
 *      not start threads, open files or allocate; tools call it to inspect a plugin.
 *   3. desc->create(host_api, host_ctx, config_json, &err) once per configured instance.
 *   4. desc->start(self, &err) (optional), then on_message / on_tick, serialised per instance.
 *   5. desc->stop(self, &err) (optional), then desc->destroy(self); dlclose after all instances.
 */
#ifndef TB_PLUGIN_H
#define TB_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions ------------------------------------------------------------------------------ */

/* Bumped only for an incompatible change. A host refuses plugins of another major. */
#define TB_ABI_MAJOR 1
/* Bumped when fields or functions are appended. A host serves every minor up to its own. */
#define TB_ABI_MINOR 1
/* The SDK release these headers come from (documentation only, not checked by the host). */
#define TB_SDK_VERSION "1.1.0"

/* Name of the one symbol every plugin exports. */
#define TB_PLUGIN_ENTRY_SYMBOL "tb_plugin_entry"

#if defined(_WIN32)
#define TB_EXPORT __declspec(dllexport)
#else
#define TB_EXPORT __attribute__((visibility("default")))
#endif

/* True when a struct received from the other side is large enough to hold `field`. */
#define TB_HAS_FIELD(ptr, type, field) \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---- Status codes -------------------------------------------------------------------------- */

/* TB_OK or one of TB_E_*. Values are never renumbered and never reused. */
typedef int32_t tb_status;
enum {
    TB_OK = 0,
    TB_E_INVALID_ARG = 1,  /* a parameter is null, malformed or out of range */
    TB_E_UNSUPPORTED = 2,  /* the other side does not implement this (check ABI minor) */
    TB_E_INTERNAL = 3,     /* a bug or an exception inside the callee */
    TB_E_DENIED = 4,       /* not permitted: topic outside the trial's grant, trial suspended */
    TB_E_BUSY = 5,         /* throttled or a bounded queue is full; the item was dropped */
    TB_E_NOT_FOUND = 6,    /* a config key or other named item does not exist */
    TB_E_BAD_DATA = 7,     /* an input payload could not be parsed; the plugin skipped it */
    TB_E_TOO_SMALL = 8     /* an output buffer is too small; the required size is reported */
};

/* Log levels for tb_host_api.log. Zero is never a valid value. */
typedef enum tb_log_level {
    TB_LOG_TRACE = 1,
    TB_LOG_DEBUG = 2,
    TB_LOG_INFO = 3,
    TB_LOG_WARN = 4,
    TB_LOG_ERROR = 5
} tb_log_level;

/* Event severities for tb_host_api.record_event. Zero is never a valid value. */
typedef enum tb_severity {
    TB_SEV_INFO = 1,
    TB_SEV_WARNING = 2,
    TB_SEV_MAJOR = 3,
    TB_SEV_CRITICAL = 4
} tb_severity;

/* Payload content types, the same numbers as the wire format (docs/wire-format.md). */
typedef enum tb_content_type {
    TB_CONTENT_SENML_JSON = 1, /* RFC 8428 SenML pack, JSON */
    TB_CONTENT_JSON = 2,       /* any other JSON document */
    TB_CONTENT_TEXT = 3,       /* UTF-8 text */
    TB_CONTENT_BINARY = 4      /* opaque bytes */
} tb_content_type;

/* Which direction of a metric counts as an improvement (used by evaluation reports). */
typedef enum tb_better {
    TB_BETTER_HIGHER = 1,
    TB_BETTER_LOWER = 2,
    TB_BETTER_NEITHER = 3 /* descriptive only; no verdict */
} tb_better;

/* Types of plugin configuration keys. */
typedef enum tb_config_type {
    TB_CONFIG_STRING = 1,
    TB_CONFIG_INT = 2,
    TB_CONFIG_DOUBLE = 3,
    TB_CONFIG_BOOL = 4
} tb_config_type;

/* Error detail filled by the callee. Owned by the caller; the callee writes at most
 * sizeof(message) bytes including the NUL. The caller sets struct_size. */
typedef struct tb_error {
    uint32_t struct_size;
    tb_status code;
    char message[512];
} tb_error;

/* ---- What the host passes in --------------------------------------------------------------- */

/* Describes the host to tb_plugin_entry. Owned by the host; valid during the call only. */
typedef struct tb_host_info {
    uint32_t struct_size;
    uint32_t abi_major;       /* TB_ABI_MAJOR the host was built with */
    uint32_t abi_minor;       /* TB_ABI_MINOR the host was built with */
    const char *host_version; /* e.g. "0.1.0" */
} tb_host_info;

/* One message delivered to a plugin. Owned by the host; every pointer is valid only until
 * on_message returns (copy what you keep). */
typedef struct tb_message {
    uint32_t struct_size;
    uint16_t content_type;   /* tb_content_type */
    uint16_t reserved;
    const char *topic;       /* NUL-terminated, e.g. "sensor/groundwater/GW-0042" */
    size_t topic_len;        /* strlen(topic) */
    const void *payload;     /* payload bytes, not NUL-terminated */
    size_t payload_size;
    uint64_t sequence;       /* publisher's sequence number for this topic */
    int64_t source_time_us;  /* when the source measured it, microseconds since the Unix epoch */
    int64_t receive_time_us; /* when the host received it, microseconds since the Unix epoch */
} tb_message;

/*
 * Functions the host offers a plugin. Owned by the host; valid from create() until destroy()
 * returns. Every function takes the host_ctx given to create() and is safe to call from any
 * thread, including threads the plugin starts itself. None of them blocks on disk or network
 * I/O: results are queued and written by the host's writer thread.
 */
typedef struct tb_host_api {
    uint32_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;

    /* Write a line to this plugin instance's log. `level` is a tb_log_level. Never fails. */
    void (*log)(void *host_ctx, int32_t level, const char *utf8_msg);

    /* Publish `size` bytes on `topic` (NUL-terminated). Returns TB_OK once queued for sending;
     * TB_E_DENIED when the topic is outside the plugin's declared or granted topics;
     * TB_E_BUSY when the plugin exceeds its publish budget (the message is dropped and counted);
     * TB_E_INVALID_ARG for a null/empty topic. `err` may be NULL. */
    tb_status (*publish)(void *host_ctx, const char *topic, const void *data, size_t size,
                         int32_t content_type, tb_error *err);

    /* Record one sample of a metric declared in the manifest. `subject` names what was measured
     * (e.g. a sensor id) and may be NULL. `time_us` is the sample time in microseconds since the
     * Unix epoch, or 0 for "now". The unit is the manifest's unit for `name`.
     * TB_E_NOT_FOUND when `name` is not declared; TB_E_BUSY when the store queue is full (the
     * sample is dropped and counted). `err` may be NULL. */
    tb_status (*record_metric)(void *host_ctx, const char *name, const char *subject,
                               double value, int64_t time_us, tb_error *err);

    /* Record an event. `severity` is a tb_severity; `kind` is a short machine-readable word
     * (e.g. "groundwater_high"); `subject` and `detail_json` may be NULL. Events are stored
     * and shown to municipal staff. TB_E_INVALID_ARG for a bad severity or empty kind. */
    tb_status (*record_event)(void *host_ctx, int32_t severity, const char *kind,
                              const char *subject, const char *message, const char *detail_json,
                              tb_error *err);

    /* Copy the value of config key `key` as text into `buf` (NUL-terminated). `*out_len` (may be
     * NULL) receives the length without the NUL. TB_E_NOT_FOUND when the key is neither set in
     * testbed.toml nor has a manifest default; TB_E_TOO_SMALL when buf is too small (*out_len
     * then holds the required length). */
    tb_status (*config_get)(void *host_ctx, const char *key, char *buf, size_t buf_size,
                            size_t *out_len, tb_error *err);

    /* ---- ABI 1.1+ (check TB_HAS_FIELD(host, tb_host_api, monotonic_ns) before calling) ---- */

    /* ABI 1.1+. The host's monotonic clock in nanoseconds: never jumps with wall-clock changes,
     * only meaningful as a difference between two calls (e.g. to time work or rate-limit).
     * Any thread. Never fails. A 1.0 host's table ends before this field: a plugin must check
     * TB_HAS_FIELD first (tb::Host::monotonic_ns() does, and throws TB_E_UNSUPPORTED). */
    int64_t (*monotonic_ns)(void *host_ctx);

    /* ABI 1.2+: append below this line only. */
} tb_host_api;

/* sizeof(tb_host_api) as ABI 1.0 laid it out: the table a 1.0 host hands to a plugin. */
#define TB_HOST_API_SIZE_1_0 offsetof(tb_host_api, monotonic_ns)

/* ---- What the plugin describes ------------------------------------------------------------- */

/* A metric the plugin records. Static storage inside the plugin. */
typedef struct tb_metric_desc {
    uint32_t struct_size;
    const char *name;        /* [a-z0-9_.]+, unique within the plugin */
    const char *unit;        /* UCUM / SenML unit, e.g. "m", "s", "%", "1" for a count */
    int32_t better;          /* tb_better */
    const char *description; /* one sentence for reports */
} tb_metric_desc;

/* A configuration key the plugin reads. Static storage inside the plugin. */
typedef struct tb_config_key {
    uint32_t struct_size;
    const char *name;
    int32_t type;              /* tb_config_type */
    const char *default_value; /* text form, or NULL when the key is required */
    const char *description;
} tb_config_key;

/*
 * The manifest: who made the plugin and what it may touch. Static storage inside the plugin,
 * readable without creating an instance. Lists are NULL-terminated arrays of pointers.
 */
typedef struct tb_manifest {
    uint32_t struct_size;
    const char *id;            /* [a-z][a-z0-9_]*, e.g. "groundwater_alert" */
    const char *version;       /* the plugin's own version, e.g. "0.3.0" */
    const char *organisation;  /* e.g. "Universiteit Twente, team Grondwater" */
    const char *contact;       /* e-mail address of the responsible person */
    const char *description;   /* one paragraph */
    const char *sdk_version;   /* TB_SDK_VERSION the plugin was built with */
    const char *const *reads;     /* topic prefixes it subscribes to, e.g. "sensor/groundwater/" */
    const char *const *publishes; /* topic prefixes it may publish on */
    const tb_metric_desc *const *metrics;
    const tb_config_key *const *config_keys;
    uint32_t tick_interval_ms; /* >0: the host calls on_tick this often; 0: never */
} tb_manifest;

/*
 * The plugin descriptor. Static storage inside the plugin. Callbacks for one instance are never
 * called concurrently (the host serialises them on one strand), so a plugin needs no locks for
 * its own state. Each callback returns TB_OK or fills `err` (never NULL here) and returns a code.
 */
typedef struct tb_plugin_desc {
    uint32_t struct_size;
    uint32_t abi_major; /* TB_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor; /* TB_ABI_MINOR the plugin was built with */
    const tb_manifest *manifest;

    /* Required. Create one instance. `host` and `host_ctx` stay valid until destroy(). The
     * `config_json` object holds this instance's config keys (valid during the call only).
     * Returns the instance, or NULL with `err` filled. Called on the host's main thread. */
    void *(*create)(const tb_host_api *host, void *host_ctx, const char *config_json,
                    tb_error *err);

    /* Optional (may be NULL). Called once after create, before the first message. */
    tb_status (*start)(void *self, tb_error *err);

    /* Required. One message from a feed the plugin reads. TB_E_BAD_DATA tells the host the
     * payload was malformed (counted, not an incident); other errors are counted and logged. */
    tb_status (*on_message)(void *self, const tb_message *msg, tb_error *err);

    /* Optional. Called every manifest->tick_interval_ms with the host's time in microseconds
     * since the Unix epoch. */
    tb_status (*on_tick)(void *self, int64_t now_us, tb_error *err);

    /* Optional. Called once before destroy; no callback follows it but destroy. */
    tb_status (*stop)(void *self, tb_error *err);

    /* Required. Free the instance. Called on the host's main thread. */
    void (*destroy)(void *self);

    /* ABI 1.1+: append below this line only. */
} tb_plugin_desc;

/*
 * The type of the plugin's only exported symbol, looked up by the name TB_PLUGIN_ENTRY_SYMBOL:
 *
 *   TB_EXPORT tb_status tb_plugin_entry(const tb_host_info *host, const tb_plugin_desc **out,
 *                                       tb_error *err);
 *
 * Stores a pointer to the plugin's static descriptor in *out and returns TB_OK. It may refuse a
 * host it cannot serve (e.g. a plugin that needs ABI 1.1 functions in a 1.0 host) by returning
 * TB_E_UNSUPPORTED with a message. It must do nothing else: tools call it to inspect plugins.
 */
typedef tb_status (*tb_plugin_entry_fn)(const tb_host_info *host, const tb_plugin_desc **out,
                                        tb_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TB_PLUGIN_H */
