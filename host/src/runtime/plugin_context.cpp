#include "runtime/plugin_context.hpp"

#include "bus/publisher.hpp"
#include "common/clock.hpp"
#include "common/logging.hpp"
#include "wire/wire.hpp"

#include <algorithm>
#include <cstring>

namespace tb::host {

void fill_error(tb_error* err, tb_status code, std::string_view msg) {
    if (err == nullptr || err->struct_size < sizeof(tb_error)) return;
    err->code = code;
    const std::size_t n = std::min(msg.size(), sizeof(err->message) - 1);
    std::memcpy(err->message, msg.data(), n);
    err->message[n] = '\0';
}

namespace {

PluginContext* self(void* ctx) { return static_cast<PluginContext*>(ctx); }
std::string_view sv(const char* s) { return s ? std::string_view(s) : std::string_view(); }

void c_log(void* ctx, int32_t level, const char* msg) { self(ctx)->log(level, sv(msg)); }

tb_status c_publish(void* ctx, const char* topic, const void* data, size_t size, int32_t content_type, tb_error* err) {
    if (topic == nullptr || (data == nullptr && size > 0)) {
        fill_error(err, TB_E_INVALID_ARG, "publish: topic is null, or data is null with a non-zero size");
        return TB_E_INVALID_ARG;
    }
    std::string why;
    const tb_status rc = self(ctx)->publish(topic, std::string_view(static_cast<const char*>(data), size), content_type, why);
    if (rc != TB_OK) fill_error(err, rc, why);
    return rc;
}

tb_status c_record_metric(void* ctx, const char* name, const char* subject, double value, int64_t time_us, tb_error* err) {
    if (name == nullptr) {
        fill_error(err, TB_E_INVALID_ARG, "record_metric: name is null");
        return TB_E_INVALID_ARG;
    }
    std::string why;
    const tb_status rc = self(ctx)->record_metric(name, sv(subject), value, time_us, why);
    if (rc != TB_OK) fill_error(err, rc, why);
    return rc;
}

tb_status c_record_event(void* ctx, int32_t severity, const char* kind, const char* subject, const char* message,
                         const char* detail_json, tb_error* err) {
    std::string why;
    const tb_status rc = self(ctx)->record_event(severity, sv(kind), sv(subject), sv(message), sv(detail_json), why);
    if (rc != TB_OK) fill_error(err, rc, why);
    return rc;
}

tb_status c_config_get(void* ctx, const char* key, char* buf, size_t buf_size, size_t* out_len, tb_error* err) {
    if (key == nullptr) {
        fill_error(err, TB_E_INVALID_ARG, "config_get: key is null");
        return TB_E_INVALID_ARG;
    }
    std::string value, why;
    const tb_status rc = self(ctx)->config_get(key, value, why);
    if (rc != TB_OK) {
        fill_error(err, rc, why);
        return rc;
    }
    if (out_len) *out_len = value.size();
    if (buf == nullptr || buf_size < value.size() + 1) {
        fill_error(err, TB_E_TOO_SMALL, "config_get: buffer too small for '" + std::string(key) + "', need " +
                                            std::to_string(value.size() + 1) + " bytes");
        return TB_E_TOO_SMALL;
    }
    std::memcpy(buf, value.data(), value.size());
    buf[value.size()] = '\0';
    return TB_OK;
}

// ABI 1.1: the same clock the host uses for its own budgets (common/clock.hpp).
int64_t c_monotonic_ns(void* /*ctx*/) { return mono_ns(); }

const tb_host_api kApi = [] {
    tb_host_api a{};
    a.struct_size = sizeof(tb_host_api);
    a.abi_major = TB_ABI_MAJOR;
    a.abi_minor = TB_ABI_MINOR;
    a.log = &c_log;
    a.publish = &c_publish;
    a.record_metric = &c_record_metric;
    a.record_event = &c_record_event;
    a.config_get = &c_config_get;
    a.monotonic_ns = &c_monotonic_ns;
    return a;
}();

bool has_prefix(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

const tb_host_api* PluginContext::api() { return &kApi; }

PluginContext::PluginContext(PluginContextOptions opt, ResultStore* store, Publisher* publisher)
    : opt_(std::move(opt)), store_(store), publisher_(publisher), log_(logger("plugin." + opt_.instance)) {
    tokens_ = opt_.publish_budget_per_s;
    tokens_at_ns_ = mono_ns();
    record_tokens_ = opt_.record_budget_per_s;
    record_tokens_at_ns_ = tokens_at_ns_;
}

PluginContext::~PluginContext() = default;

void PluginContext::set_record(PluginRecord rec) { record_ = std::move(rec); }

void PluginContext::set_publish_policy(TopicPolicy policy) {
    std::lock_guard lock(mu_);
    policy_ = std::move(policy);
}

void PluginContext::log(int32_t level, std::string_view msg) {
    counters_.log_lines.fetch_add(1, std::memory_order_relaxed);
    switch (level) {
        case TB_LOG_TRACE: log_->trace("{}", msg); break;
        case TB_LOG_DEBUG: log_->debug("{}", msg); break;
        case TB_LOG_INFO: log_->info("{}", msg); break;
        case TB_LOG_WARN: log_->warn("{}", msg); break;
        default: log_->error("{}", msg); break;
    }
    std::lock_guard lock(mu_);
    tail_.emplace_back(msg);
    while (tail_.size() > opt_.log_tail_lines) tail_.pop_front();
}

std::vector<std::string> PluginContext::log_tail() const {
    std::lock_guard lock(mu_);
    return {tail_.begin(), tail_.end()};
}

bool PluginContext::take_publish_token() {
    if (opt_.publish_budget_per_s <= 0) return true;
    std::lock_guard lock(mu_);
    const int64_t now = mono_ns();
    tokens_ = std::min(opt_.publish_budget_per_s,
                       tokens_ + static_cast<double>(now - tokens_at_ns_) * 1e-9 * opt_.publish_budget_per_s);
    tokens_at_ns_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

bool PluginContext::take_record_token() {
    const double budget = opt_.record_budget_per_s;
    if (budget <= 0) return true;
    std::lock_guard lock(mu_);
    const int64_t now = mono_ns();
    record_tokens_ = std::min(budget, record_tokens_ + static_cast<double>(now - record_tokens_at_ns_) * 1e-9 * budget);
    record_tokens_at_ns_ = now;
    if (record_tokens_ < 1) return false;
    record_tokens_ -= 1;
    return true;
}

tb_status PluginContext::publish(std::string_view topic, std::string_view data, int32_t content_type, std::string& why) {
    if (!wire::valid_topic(topic)) {
        why = "publish: topic '" + std::string(topic) + "' is empty, too long or contains spaces/control characters";
        return TB_E_INVALID_ARG;
    }
    if (content_type < TB_CONTENT_SENML_JSON || content_type > TB_CONTENT_BINARY) {
        why = "publish: content_type " + std::to_string(content_type) + " is not a tb_content_type";
        return TB_E_INVALID_ARG;
    }
    const auto& pubs = opt_.manifest.publishes;
    const bool declared = std::any_of(pubs.begin(), pubs.end(), [&](const std::string& p) { return has_prefix(topic, p); });
    bool granted = declared;
    if (declared) {
        std::lock_guard lock(mu_);
        if (policy_) granted = policy_(topic);
    }
    if (!granted) {
        const uint64_t n = counters_.publish_denied.fetch_add(1, std::memory_order_relaxed);
        why = declared ? "publish on '" + std::string(topic) + "' is outside this plugin's trial grant"
                       : "publish on '" + std::string(topic) + "' is outside the topics the manifest declares";
        if (n < 10 || n % 1000 == 0) {
            host_event(TB_SEV_WARNING, "publish_denied", why, nlohmann::json{{"topic", topic}, {"count", n + 1}}.dump());
        }
        return TB_E_DENIED;
    }
    if (!take_publish_token()) {
        counters_.publish_dropped.fetch_add(1, std::memory_order_relaxed);
        why = "publish budget of " + std::to_string(opt_.publish_budget_per_s) + " messages/s exceeded; message dropped";
        return TB_E_BUSY;
    }
    if (publisher_ != nullptr && !publisher_->publish(topic, data, static_cast<wire::ContentType>(content_type))) {
        counters_.publish_dropped.fetch_add(1, std::memory_order_relaxed);
        why = "the host's output queue is full; message dropped";
        return TB_E_BUSY;
    }
    counters_.published.fetch_add(1, std::memory_order_relaxed);
    return TB_OK;
}

tb_status PluginContext::record_metric(std::string_view name, std::string_view subject, double value, int64_t time_us,
                                       std::string& why) {
    const auto it = record_.series_ids.find(std::string(name));
    if (it == record_.series_ids.end()) {
        counters_.metrics_rejected.fetch_add(1, std::memory_order_relaxed);
        why = "record_metric: metric '" + std::string(name) + "' is not declared in the manifest of '" + opt_.manifest.id + "'";
        return TB_E_NOT_FOUND;
    }
    if (!std::isfinite(value)) {
        counters_.metrics_rejected.fetch_add(1, std::memory_order_relaxed);
        why = "record_metric: value of '" + std::string(name) + "' is not a finite number";
        return TB_E_INVALID_ARG;
    }
    if (!take_record_token()) {
        counters_.metrics_rejected.fetch_add(1, std::memory_order_relaxed);
        counters_.record_throttled.fetch_add(1, std::memory_order_relaxed);
        why = "record budget of " + std::to_string(opt_.record_budget_per_s) + " records/s exceeded; sample dropped";
        return TB_E_BUSY;
    }
    if (store_ == nullptr || !store_->add_metric({it->second, std::string(subject), value, time_us ? time_us : now_us()})) {
        counters_.metrics_rejected.fetch_add(1, std::memory_order_relaxed);
        why = "record_metric: the store queue is full; sample dropped";
        return TB_E_BUSY;
    }
    counters_.metrics.fetch_add(1, std::memory_order_relaxed);
    return TB_OK;
}

tb_status PluginContext::record_event(int32_t severity, std::string_view kind, std::string_view subject,
                                      std::string_view message, std::string_view detail_json, std::string& why) {
    if (severity < TB_SEV_INFO || severity > TB_SEV_CRITICAL) {
        counters_.events_rejected.fetch_add(1, std::memory_order_relaxed);
        why = "record_event: severity " + std::to_string(severity) + " is not a tb_severity (1..4)";
        return TB_E_INVALID_ARG;
    }
    if (kind.empty()) {
        counters_.events_rejected.fetch_add(1, std::memory_order_relaxed);
        why = "record_event: kind is empty";
        return TB_E_INVALID_ARG;
    }
    if (!detail_json.empty() && !wire::valid_json(detail_json)) {
        counters_.events_rejected.fetch_add(1, std::memory_order_relaxed);
        why = "record_event: detail_json is not valid JSON";
        return TB_E_INVALID_ARG;
    }
    if (!take_record_token()) {
        counters_.events_rejected.fetch_add(1, std::memory_order_relaxed);
        counters_.record_throttled.fetch_add(1, std::memory_order_relaxed);
        why = "record budget of " + std::to_string(opt_.record_budget_per_s) + " records/s exceeded; event dropped";
        return TB_E_BUSY;
    }
    EventRow row{opt_.run_id, record_.plugin_row, severity, std::string(kind), std::string(subject),
                 std::string(message), std::string(detail_json), now_us()};
    if (store_ == nullptr || !store_->add_event(std::move(row))) {
        counters_.events_rejected.fetch_add(1, std::memory_order_relaxed);
        why = "record_event: the store queue is full; event dropped";
        return TB_E_BUSY;
    }
    counters_.events.fetch_add(1, std::memory_order_relaxed);
    return TB_OK;
}

void PluginContext::host_event(int32_t severity, const std::string& kind, const std::string& message,
                               const std::string& detail_json) {
    if (store_ != nullptr) {
        store_->add_event({opt_.run_id, record_.plugin_row, severity, kind, {}, message, detail_json, now_us()});
    }
}

tb_status PluginContext::config_get(std::string_view key, std::string& value, std::string& why) const {
    const std::string k(key);
    if (opt_.config.contains(k)) {
        const auto& v = opt_.config[k];
        value = v.is_string() ? v.get<std::string>() : v.dump();
        return TB_OK;
    }
    if (const auto* decl = opt_.manifest.config_key(k); decl && decl->default_value) {
        value = *decl->default_value;
        return TB_OK;
    }
    why = "config key '" + k + "' is not set for plugin '" + opt_.instance + "' and has no default";
    return TB_E_NOT_FOUND;
}

}  // namespace tb::host
