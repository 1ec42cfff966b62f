/*
 * c11_probe.c: a plugin written in plain C11, no C++ anywhere (tests/sdk/abi_compat_test.cpp):
 * proof that the plugin boundary is plain C.
 *
 * Input:  any message on sensor/test/<subject>.
 * Output: metric "bytes" (payload size) per message with the subject; metric "scale" with the
 *         config key "scale" (default "2") read through config_get; an INFO log line for the
 *         first message; a copy of the payload on probe/c11_probe/<subject>.
 * Bad input: an empty payload is rejected as TB_E_BAD_DATA.
 * Thread safety: the host serialises callbacks per instance; the instance holds its own state.
 */
#include <testbed/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct c11_probe {
    const tb_host_api *host;
    void *ctx;
    double scale;
    unsigned long messages;
} c11_probe;

static const char *const kReads[] = {"sensor/test/", NULL};
static const char *const kPublishes[] = {"probe/c11_probe/", NULL};
static const tb_metric_desc kBytes = {sizeof(tb_metric_desc), "bytes", "By", TB_BETTER_NEITHER,
                                      "Payload size of each message"};
static const tb_metric_desc kScale = {sizeof(tb_metric_desc), "scale", "1", TB_BETTER_NEITHER,
                                      "The configured scale"};
static const tb_metric_desc *const kMetrics[] = {&kBytes, &kScale, NULL};
static const tb_config_key kScaleKey = {sizeof(tb_config_key), "scale", TB_CONFIG_DOUBLE, "2",
                                        "A number echoed as metric 'scale'"};
static const tb_config_key *const kKeys[] = {&kScaleKey, NULL};

static const tb_manifest kManifest = {sizeof(tb_manifest),
                                      "c11_probe",
                                      "1.0.0",
                                      "Testbed test suite",
                                      "tests@testbed.enschede.example",
                                      "A plugin in plain C11",
                                      TB_SDK_VERSION,
                                      kReads,
                                      kPublishes,
                                      kMetrics,
                                      kKeys,
                                      0};

static void set_err(tb_error *err, tb_status code, const char *msg) {
    if (err != NULL && err->struct_size >= sizeof(tb_error)) {
        err->code = code;
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
}

static void *probe_create(const tb_host_api *host, void *ctx, const char *config_json,
                          tb_error *err) {
    char buf[64];
    size_t len = 0;
    c11_probe *p;
    (void)config_json;
    p = (c11_probe *)calloc(1, sizeof *p);
    if (p == NULL) {
        set_err(err, TB_E_INTERNAL, "c11_probe: out of memory");
        return NULL;
    }
    p->host = host;
    p->ctx = ctx;
    p->scale = 2.0;
    if (host->config_get(ctx, "scale", buf, sizeof buf, &len, NULL) == TB_OK) {
        p->scale = strtod(buf, NULL);
    }
    return p;
}

static tb_status probe_on_message(void *self, const tb_message *msg, tb_error *err) {
    c11_probe *p = (c11_probe *)self;
    const char *subject = strrchr(msg->topic, '/');
    char topic[256];
    subject = subject != NULL ? subject + 1 : msg->topic;
    if (msg->payload_size == 0) {
        set_err(err, TB_E_BAD_DATA, "c11_probe: empty payload");
        return TB_E_BAD_DATA;
    }
    if (p->messages++ == 0) p->host->log(p->ctx, TB_LOG_INFO, "c11_probe: first message");
    p->host->record_metric(p->ctx, "bytes", subject, (double)msg->payload_size, 0, NULL);
    p->host->record_metric(p->ctx, "scale", NULL, p->scale, 0, NULL);
    snprintf(topic, sizeof topic, "probe/c11_probe/%s", subject);
    return p->host->publish(p->ctx, topic, msg->payload, msg->payload_size, msg->content_type, err);
}

static void probe_destroy(void *self) { free(self); }

static const tb_plugin_desc kDesc = {sizeof(tb_plugin_desc), TB_ABI_MAJOR, TB_ABI_MINOR,
                                     &kManifest, probe_create, NULL, probe_on_message, NULL,
                                     NULL, probe_destroy};

TB_EXPORT tb_status tb_plugin_entry(const tb_host_info *host, const tb_plugin_desc **out,
                                    tb_error *err);
TB_EXPORT tb_status tb_plugin_entry(const tb_host_info *host, const tb_plugin_desc **out,
                                    tb_error *err) {
    (void)host;
    if (out == NULL) {
        set_err(err, TB_E_INVALID_ARG, "tb_plugin_entry: out is null");
        return TB_E_INVALID_ARG;
    }
    *out = &kDesc;
    return TB_OK;
}
