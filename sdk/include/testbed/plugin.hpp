// testbed/plugin.hpp: the header-only C++ layer over testbed/plugin.h.
//
// A plugin author writes one class and one macro line:
//
//   class GroundwaterAlert final : public tb::Plugin {
//    public:
//     static tb::Manifest manifest() {
//       return tb::Manifest("groundwater_alert", "0.3.0")
//           .organisation("Universiteit Twente").contact("team@example.org")
//           .reads("sensor/groundwater/").publishes("alert/groundwater/")
//           .metric("level", "m", tb::Better::higher, "Groundwater level relative to surface");
//     }
//     explicit GroundwaterAlert(tb::Host& host) : tb::Plugin(host) {}
//     void on_message(const tb::Message& msg) override { ... }
//   };
//   TB_PLUGIN(GroundwaterAlert)
//
// Exceptions never cross the ABI: every callback runs inside detail::guarded(), which turns
// tb::BadData into TB_E_BAD_DATA, tb::Error into its code and anything else into TB_E_INTERNAL,
// with the exception's message. Requires C++17.
//
// Thread safety: the host calls one instance's callbacks one at a time, so the plugin needs no
// locks for its own state. tb::Host methods may be called from any thread.
#ifndef TB_PLUGIN_HPP
#define TB_PLUGIN_HPP

#include <testbed/plugin.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tb {

enum class LogLevel : int32_t {
    trace = TB_LOG_TRACE,
    debug = TB_LOG_DEBUG,
    info = TB_LOG_INFO,
    warn = TB_LOG_WARN,
    error = TB_LOG_ERROR
};
enum class Severity : int32_t {
    info = TB_SEV_INFO,
    warning = TB_SEV_WARNING,
    major = TB_SEV_MAJOR,
    critical = TB_SEV_CRITICAL
};
enum class ContentType : int32_t {
    senml_json = TB_CONTENT_SENML_JSON,
    json = TB_CONTENT_JSON,
    text = TB_CONTENT_TEXT,
    binary = TB_CONTENT_BINARY
};
enum class Better : int32_t {
    higher = TB_BETTER_HIGHER,
    lower = TB_BETTER_LOWER,
    neither = TB_BETTER_NEITHER
};
enum class ConfigType : int32_t {
    string = TB_CONFIG_STRING,
    integer = TB_CONFIG_INT,
    number = TB_CONFIG_DOUBLE,
    boolean = TB_CONFIG_BOOL
};

// An error with an ABI status code. Throw it from a callback to return that code.
class Error : public std::runtime_error {
   public:
    Error(tb_status code, const std::string& what) : std::runtime_error(what), code_(code) {}
    tb_status code() const noexcept { return code_; }

   private:
    tb_status code_;
};

// Throw from on_message when the payload is malformed: the host counts it, it is no incident.
class BadData : public Error {
   public:
    explicit BadData(const std::string& what) : Error(TB_E_BAD_DATA, what) {}
};

// The result of a host call: TB_OK or a code with the host's message.
class Status {
   public:
    Status() = default;
    Status(tb_status code, std::string message) : code_(code), message_(std::move(message)) {}
    bool ok() const noexcept { return code_ == TB_OK; }
    explicit operator bool() const noexcept { return ok(); }
    tb_status code() const noexcept { return code_; }
    const std::string& message() const noexcept { return message_; }

   private:
    tb_status code_ = TB_OK;
    std::string message_;
};

// One message from a feed. Views are valid only during on_message.
struct Message {
    std::string_view topic;
    std::string_view payload;
    ContentType content_type = ContentType::senml_json;
    uint64_t sequence = 0;
    int64_t source_time_us = 0;
    int64_t receive_time_us = 0;

    // The last path segment of the topic: "GW-0042" for "sensor/groundwater/GW-0042".
    std::string_view subject() const noexcept {
        const auto slash = topic.rfind('/');
        return slash == std::string_view::npos ? topic : topic.substr(slash + 1);
    }
    static Message from_c(const tb_message& m) {
        Message out;
        out.topic = std::string_view(m.topic, m.topic_len);
        out.payload = std::string_view(static_cast<const char*>(m.payload), m.payload_size);
        out.content_type = static_cast<ContentType>(m.content_type);
        out.sequence = m.sequence;
        out.source_time_us = m.source_time_us;
        out.receive_time_us = m.receive_time_us;
        return out;
    }
};

// The plugin's manifest, built fluently. It is compiled into the plugin and read by the host
// and by `testbed plugin inspect` without creating an instance.
class Manifest {
   public:
    struct MetricSpec {
        std::string name, unit;
        Better better;
        std::string description;
    };
    struct ConfigSpec {
        std::string name;
        ConfigType type;
        std::optional<std::string> default_value;
        std::string description;
    };

    Manifest(std::string id, std::string version) : id_(std::move(id)), version_(std::move(version)) {}
    Manifest& organisation(std::string v) { organisation_ = std::move(v); return *this; }
    Manifest& contact(std::string v) { contact_ = std::move(v); return *this; }
    Manifest& description(std::string v) { description_ = std::move(v); return *this; }
    Manifest& reads(std::string topic_prefix) { reads_.push_back(std::move(topic_prefix)); return *this; }
    Manifest& publishes(std::string topic_prefix) { publishes_.push_back(std::move(topic_prefix)); return *this; }
    Manifest& metric(std::string name, std::string unit, Better better, std::string description) {
        metrics_.push_back({std::move(name), std::move(unit), better, std::move(description)});
        return *this;
    }
    // A config key with a default (std::nullopt: the key is required).
    Manifest& config(std::string name, ConfigType type, std::optional<std::string> default_value,
                     std::string description) {
        config_.push_back({std::move(name), type, std::move(default_value), std::move(description)});
        return *this;
    }
    Manifest& tick_interval(std::chrono::milliseconds interval) {
        tick_interval_ms_ = static_cast<uint32_t>(interval.count());
        return *this;
    }

   private:
    template <class T>
    friend class detail_descriptor;
    std::string id_, version_, organisation_, contact_, description_;
    std::vector<std::string> reads_, publishes_;
    std::vector<MetricSpec> metrics_;
    std::vector<ConfigSpec> config_;
    uint32_t tick_interval_ms_ = 0;
};

// The host as a plugin sees it. Cheap to copy; valid until the plugin is destroyed.
// Every method is thread-safe and never blocks on I/O.
class Host {
   public:
    Host(const tb_host_api* api, void* ctx, std::string config_json)
        : api_(api), ctx_(ctx), config_json_(std::move(config_json)) {}

    // ABI minor of the host, to check before using functions marked "ABI 1.x+".
    uint32_t abi_minor() const noexcept { return api_->abi_minor; }

    // True when the host's table has monotonic_ns (ABI 1.1+).
    bool has_monotonic_ns() const noexcept {
        return TB_HAS_FIELD(api_, tb_host_api, monotonic_ns) && api_->monotonic_ns != nullptr;
    }
    // ABI 1.1+. The host's monotonic clock in nanoseconds (only differences are meaningful).
    // Throws tb::Error(TB_E_UNSUPPORTED) in a 1.0 host, so a callback that uses it fails with a
    // clear message instead of calling through a pointer the host never provided.
    int64_t monotonic_ns() const {
        if (!has_monotonic_ns()) {
            throw Error(TB_E_UNSUPPORTED, "monotonic_ns needs host ABI >= 1.1 (host has " +
                                              std::to_string(api_->abi_major) + "." +
                                              std::to_string(api_->abi_minor) + ")");
        }
        return api_->monotonic_ns(ctx_);
    }

    void log(LogLevel level, const std::string& msg) const {
        api_->log(ctx_, static_cast<int32_t>(level), msg.c_str());
    }
    void debug(const std::string& msg) const { log(LogLevel::debug, msg); }
    void info(const std::string& msg) const { log(LogLevel::info, msg); }
    void warn(const std::string& msg) const { log(LogLevel::warn, msg); }
    void error(const std::string& msg) const { log(LogLevel::error, msg); }

    Status publish(const std::string& topic, std::string_view data,
                   ContentType type = ContentType::json) const {
        tb_error err = make_error();
        const tb_status rc = api_->publish(ctx_, topic.c_str(), data.data(), data.size(),
                                           static_cast<int32_t>(type), &err);
        return {rc, rc == TB_OK ? std::string() : std::string(err.message)};
    }
    // time_us = 0 means "now"; use the message's source_time_us to align with the feed.
    Status record_metric(const std::string& name, double value, const std::string& subject = {},
                         int64_t time_us = 0) const {
        tb_error err = make_error();
        const tb_status rc = api_->record_metric(ctx_, name.c_str(),
                                                 subject.empty() ? nullptr : subject.c_str(), value,
                                                 time_us, &err);
        return {rc, rc == TB_OK ? std::string() : std::string(err.message)};
    }
    Status record_event(Severity severity, const std::string& kind, const std::string& message,
                        const std::string& subject = {}, const std::string& detail_json = {}) const {
        tb_error err = make_error();
        const tb_status rc = api_->record_event(
            ctx_, static_cast<int32_t>(severity), kind.c_str(),
            subject.empty() ? nullptr : subject.c_str(), message.c_str(),
            detail_json.empty() ? nullptr : detail_json.c_str(), &err);
        return {rc, rc == TB_OK ? std::string() : std::string(err.message)};
    }

    // The value of a config key as text (testbed.toml value, else the manifest default).
    std::optional<std::string> config(const std::string& key) const {
        std::string buf(128, '\0');
        for (int attempt = 0; attempt < 2; ++attempt) {
            size_t len = 0;
            tb_error err = make_error();
            const tb_status rc = api_->config_get(ctx_, key.c_str(), buf.data(), buf.size(), &len, &err);
            if (rc == TB_OK) {
                buf.resize(len);
                return buf;
            }
            if (rc != TB_E_TOO_SMALL) return std::nullopt;
            buf.assign(len + 1, '\0');
        }
        return std::nullopt;
    }
    std::string config_string(const std::string& key, std::string fallback = {}) const {
        auto v = config(key);
        return v ? *v : std::move(fallback);
    }
    double config_double(const std::string& key, double fallback) const {
        auto v = config(key);
        if (!v) return fallback;
        try {
            return std::stod(*v);
        } catch (const std::exception&) {
            throw Error(TB_E_INVALID_ARG, "config key '" + key + "' must be a number, got '" + *v + "'");
        }
    }
    int64_t config_int(const std::string& key, int64_t fallback) const {
        auto v = config(key);
        if (!v) return fallback;
        try {
            return std::stoll(*v);
        } catch (const std::exception&) {
            throw Error(TB_E_INVALID_ARG, "config key '" + key + "' must be an integer, got '" + *v + "'");
        }
    }
    bool config_bool(const std::string& key, bool fallback) const {
        auto v = config(key);
        if (!v) return fallback;
        if (*v == "true") return true;
        if (*v == "false") return false;
        throw Error(TB_E_INVALID_ARG, "config key '" + key + "' must be true or false, got '" + *v + "'");
    }
    // The instance's whole config as a JSON object (as given to create()).
    const std::string& config_json() const noexcept { return config_json_; }

    const tb_host_api* c_api() const noexcept { return api_; }
    void* c_context() const noexcept { return ctx_; }

   private:
    static tb_error make_error() {
        tb_error err{};
        err.struct_size = sizeof(tb_error);
        return err;
    }
    const tb_host_api* api_;
    void* ctx_;
    std::string config_json_;
};

// Base class of every C++ plugin. One object per configured instance.
class Plugin {
   public:
    explicit Plugin(Host& host) : host_(host) {}
    virtual ~Plugin() = default;
    Plugin(const Plugin&) = delete;
    Plugin& operator=(const Plugin&) = delete;

    // Called once before the first message.
    virtual void start() {}
    // One message from a feed the plugin reads. Throw tb::BadData for a malformed payload.
    virtual void on_message(const Message& msg) = 0;
    // Called every manifest tick_interval with the host's current time.
    virtual void on_tick(int64_t /*now_us*/) {}
    // Called once before destruction.
    virtual void stop() {}

   protected:
    Host& host() const noexcept { return host_; }

   private:
    Host& host_;
};

namespace detail {

inline tb_status set_error(tb_error* err, tb_status code, const char* message) noexcept {
    if (err != nullptr && err->struct_size >= sizeof(tb_error)) {
        err->code = code;
        std::strncpy(err->message, message, sizeof(err->message) - 1);
        err->message[sizeof(err->message) - 1] = '\0';
    }
    return code;
}

// The ABI firewall: no exception leaves a plugin.
template <class Fn>
tb_status guarded(tb_error* err, Fn&& fn) noexcept {
    try {
        std::forward<Fn>(fn)();
        return TB_OK;
    } catch (const Error& e) {
        return set_error(err, e.code(), e.what());
    } catch (const std::exception& e) {
        return set_error(err, TB_E_INTERNAL, e.what());
    } catch (...) {
        return set_error(err, TB_E_INTERNAL, "unknown exception");
    }
}

template <class T>
struct Instance {
    Host host;
    std::unique_ptr<T> plugin;
};

}  // namespace detail

// Builds and owns the static C descriptor for plugin class T.
template <class T>
class detail_descriptor {
   public:
    static const tb_plugin_desc* get() {
        static const detail_descriptor instance(T::manifest());
        return &instance.desc_;
    }

   private:
    explicit detail_descriptor(Manifest m) : m_(std::move(m)) {
        for (const auto& r : m_.reads_) reads_.push_back(r.c_str());
        reads_.push_back(nullptr);
        for (const auto& p : m_.publishes_) publishes_.push_back(p.c_str());
        publishes_.push_back(nullptr);
        metric_storage_.reserve(m_.metrics_.size());
        for (const auto& x : m_.metrics_) {
            metric_storage_.push_back({static_cast<uint32_t>(sizeof(tb_metric_desc)), x.name.c_str(),
                                       x.unit.c_str(), static_cast<int32_t>(x.better),
                                       x.description.c_str()});
        }
        for (const auto& x : metric_storage_) metrics_.push_back(&x);
        metrics_.push_back(nullptr);
        config_storage_.reserve(m_.config_.size());
        for (const auto& x : m_.config_) {
            config_storage_.push_back({static_cast<uint32_t>(sizeof(tb_config_key)), x.name.c_str(),
                                       static_cast<int32_t>(x.type),
                                       x.default_value ? x.default_value->c_str() : nullptr,
                                       x.description.c_str()});
        }
        for (const auto& x : config_storage_) config_.push_back(&x);
        config_.push_back(nullptr);

        manifest_ = tb_manifest{};
        manifest_.struct_size = sizeof(tb_manifest);
        manifest_.id = m_.id_.c_str();
        manifest_.version = m_.version_.c_str();
        manifest_.organisation = m_.organisation_.c_str();
        manifest_.contact = m_.contact_.c_str();
        manifest_.description = m_.description_.c_str();
        manifest_.sdk_version = TB_SDK_VERSION;
        manifest_.reads = reads_.data();
        manifest_.publishes = publishes_.data();
        manifest_.metrics = metrics_.data();
        manifest_.config_keys = config_.data();
        manifest_.tick_interval_ms = m_.tick_interval_ms_;

        desc_ = tb_plugin_desc{};
        desc_.struct_size = sizeof(tb_plugin_desc);
        desc_.abi_major = TB_ABI_MAJOR;
        desc_.abi_minor = TB_ABI_MINOR;
        desc_.manifest = &manifest_;
        desc_.create = &create;
        desc_.start = &start;
        desc_.on_message = &on_message;
        desc_.on_tick = &on_tick;
        desc_.stop = &stop;
        desc_.destroy = &destroy;
    }

    static void* create(const tb_host_api* api, void* ctx, const char* config_json, tb_error* err) {
        detail::Instance<T>* inst = nullptr;
        const tb_status rc = detail::guarded(err, [&] {
            auto owned = std::make_unique<detail::Instance<T>>(
                detail::Instance<T>{Host(api, ctx, config_json ? config_json : "{}"), nullptr});
            owned->plugin = std::make_unique<T>(owned->host);
            inst = owned.release();
        });
        return rc == TB_OK ? inst : nullptr;
    }
    static T& self(void* p) { return *static_cast<detail::Instance<T>*>(p)->plugin; }
    static tb_status start(void* p, tb_error* err) {
        return detail::guarded(err, [&] { self(p).start(); });
    }
    static tb_status on_message(void* p, const tb_message* msg, tb_error* err) {
        return detail::guarded(err, [&] { self(p).on_message(Message::from_c(*msg)); });
    }
    static tb_status on_tick(void* p, int64_t now_us, tb_error* err) {
        return detail::guarded(err, [&] { self(p).on_tick(now_us); });
    }
    static tb_status stop(void* p, tb_error* err) {
        return detail::guarded(err, [&] { self(p).stop(); });
    }
    static void destroy(void* p) noexcept {
        try {
            delete static_cast<detail::Instance<T>*>(p);
        } catch (...) {  // a throwing destructor must not cross the ABI
        }
    }

    Manifest m_;
    std::vector<const char*> reads_, publishes_;
    std::vector<tb_metric_desc> metric_storage_;
    std::vector<const tb_metric_desc*> metrics_;
    std::vector<tb_config_key> config_storage_;
    std::vector<const tb_config_key*> config_;
    tb_manifest manifest_{};
    tb_plugin_desc desc_{};
};

namespace detail {
template <class T>
tb_status entry(const tb_host_info* host, const tb_plugin_desc** out, tb_error* err) noexcept {
    if (out == nullptr) return set_error(err, TB_E_INVALID_ARG, "tb_plugin_entry: out is null");
    (void)host;
    return guarded(err, [&] { *out = detail_descriptor<T>::get(); });
}
}  // namespace detail

}  // namespace tb

// Emits the plugin's exported entry symbol for class `Class`. Use once per plugin library.
// `Class` needs `static tb::Manifest manifest()` and a constructor taking `tb::Host&`.
#define TB_PLUGIN(Class)                                                                     \
    extern "C" TB_EXPORT tb_status tb_plugin_entry(const tb_host_info* host,                \
                                                   const tb_plugin_desc** out, tb_error* err) { \
        return ::tb::detail::entry<Class>(host, out, err);                                  \
    }

#endif  // TB_PLUGIN_HPP
