// testbed/testkit.hpp: unit-test a plugin without a host process or ZeroMQ.
//
// The test kit plays the host: it loads a plugin file (dlopen) or takes a plugin class linked
// into the test, hands it a fake tb_host_api that captures everything the plugin publishes,
// records and logs, serves config values, feeds it messages (with SenML helpers) and drives
// on_tick from a fake clock that only moves when the test says so.
//
//   tb::testkit::Options opt;
//   opt.config = {{"alert_level_m", "-0.3"}};
//   tb::testkit::Harness h("build/groundwater_alert.so", opt);
//   auto r = h.send("sensor/groundwater/GW-1", tb::testkit::senml_value("level", "m", -0.2));
//   EXPECT_TRUE(r.ok()) << r.message;
//   EXPECT_EQ(h.events("groundwater_high").size(), 1u);
//   h.advance(std::chrono::seconds(10));   // on_tick once per manifest tick interval
//
//   class MyPlugin : public tb::Plugin {...};          // linked directly, no .so needed:
//   auto h2 = tb::testkit::Harness::of<MyPlugin>(opt);
//
// Like the real host, the fake host refuses metrics the manifest does not declare
// (TB_E_NOT_FOUND) and publications outside the declared topics (TB_E_DENIED), so a test sees
// the same errors the testbed would give. Options::host_abi_minor = 0 presents an ABI 1.0 host
// table, to test that a plugin copes with an older host.
//
// Header-only, C++17, POSIX (dlopen); links nothing but the SDK (and libdl on old glibc).
// Thread safety: the fake host API may be called from any thread (like the real one); the
// Harness itself (send, advance, accessors) is meant for the test's thread.
#ifndef TB_TESTKIT_HPP
#define TB_TESTKIT_HPP

#include <testbed/plugin.hpp>

#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tb::testkit {

// ---- What the plugin did ---------------------------------------------------------------------

struct Published {
    std::string topic;
    std::string data;
    ContentType content_type = ContentType::json;
};
struct MetricSample {
    std::string name;
    std::string subject;  // empty when the plugin gave none
    double value = 0;
    int64_t time_us = 0;  // as given by the plugin; 0 was replaced by the fake clock's now
};
struct Event {
    Severity severity = Severity::info;
    std::string kind, subject, message, detail_json;
};
struct LogLine {
    LogLevel level = LogLevel::info;
    std::string text;
};
// A host call the fake host refused, as the real host would (undeclared metric, topic, ...).
struct Refusal {
    std::string call;  // "publish", "record_metric", "record_event", "config_get"
    tb_status code = TB_OK;
    std::string message;
};

// The outcome of one callback (create, on_message, on_tick).
struct CallResult {
    tb_status code = TB_OK;
    std::string message;
    bool ok() const noexcept { return code == TB_OK; }
    explicit operator bool() const noexcept { return ok(); }
};

struct Options {
    // Config values as text, as testbed.toml would give them ({"alert_level_m", "-0.3"}).
    std::map<std::string, std::string> config;
    // The ABI minor the fake host claims. 0 presents the 1.0 table (no monotonic_ns).
    uint32_t host_abi_minor = TB_ABI_MINOR;
    // The fake wall clock at the start, microseconds since the Unix epoch (2026-01-01T00:00Z).
    int64_t start_time_us = 1767225600LL * 1000000LL;
};

// ---- SenML helpers ---------------------------------------------------------------------------

namespace detail {
inline std::string json_number(double v) {
    if (!std::isfinite(v)) return "null";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}
inline std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}
}  // namespace detail

struct SenmlRecord {
    std::string name;
    std::string unit;
    double value = 0;
    double time_s = 0;  // seconds since the Unix epoch; 0 leaves "t" out
};

// A SenML JSON pack (RFC 8428) of numeric records.
inline std::string senml_pack(const std::vector<SenmlRecord>& records) {
    std::string out = "[";
    for (const auto& r : records) {
        if (out.size() > 1) out += ",";
        out += "{\"n\":" + detail::json_string(r.name);
        if (!r.unit.empty()) out += ",\"u\":" + detail::json_string(r.unit);
        out += ",\"v\":" + detail::json_number(r.value);
        if (r.time_s != 0) out += ",\"t\":" + detail::json_number(r.time_s);
        out += "}";
    }
    return out + "]";
}

// A pack with one numeric record: senml_value("level", "m", -0.42).
inline std::string senml_value(const std::string& name, const std::string& unit, double value,
                               double time_s = 0) {
    return senml_pack({{name, unit, value, time_s}});
}

// ---- The fake host ---------------------------------------------------------------------------

class FakeHost {
   public:
    FakeHost(const tb_manifest* manifest, Options opt)
        : manifest_(manifest), opt_(std::move(opt)), now_us_(opt_.start_time_us) {
        api_ = tb_host_api{};
        api_.struct_size = opt_.host_abi_minor >= 1 ? static_cast<uint32_t>(sizeof(tb_host_api))
                                                    : static_cast<uint32_t>(TB_HOST_API_SIZE_1_0);
        api_.abi_major = TB_ABI_MAJOR;
        api_.abi_minor = opt_.host_abi_minor;
        api_.log = &c_log;
        api_.publish = &c_publish;
        api_.record_metric = &c_record_metric;
        api_.record_event = &c_record_event;
        api_.config_get = &c_config_get;
        // A 1.0 host has no such field; a null pointer past struct_size makes misuse crash
        // loudly in tests rather than silently work.
        if (opt_.host_abi_minor >= 1) api_.monotonic_ns = &c_monotonic_ns;
    }
    FakeHost(const FakeHost&) = delete;
    FakeHost& operator=(const FakeHost&) = delete;

    const tb_host_api* api() const noexcept { return &api_; }
    void* ctx() noexcept { return this; }

    // The instance's config as the JSON object create() receives.
    std::string config_json() const {
        std::string out = "{";
        for (const auto& [k, v] : opt_.config) {
            if (out.size() > 1) out += ",";
            out += detail::json_string(k) + ":" + detail::json_string(v);
        }
        return out + "}";
    }

    int64_t now_us() const {
        std::lock_guard<std::mutex> lock(mu_);
        return now_us_;
    }
    void set_now_us(int64_t t) {
        std::lock_guard<std::mutex> lock(mu_);
        now_us_ = t;
    }

    std::vector<Published> published() const { return locked(published_); }
    std::vector<MetricSample> metrics() const { return locked(metrics_); }
    std::vector<Event> events() const { return locked(events_); }
    std::vector<LogLine> logs() const { return locked(logs_); }
    std::vector<Refusal> refusals() const { return locked(refusals_); }
    void clear() {
        std::lock_guard<std::mutex> lock(mu_);
        published_.clear();
        metrics_.clear();
        events_.clear();
        logs_.clear();
        refusals_.clear();
    }

   private:
    template <class T>
    std::vector<T> locked(const std::vector<T>& v) const {
        std::lock_guard<std::mutex> lock(mu_);
        return v;
    }
    static FakeHost* self(void* ctx) { return static_cast<FakeHost*>(ctx); }
    static std::string str(const char* s) { return s ? std::string(s) : std::string(); }

    tb_status refuse(const char* call, tb_status code, const std::string& msg, tb_error* err) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            refusals_.push_back({call, code, msg});
        }
        ::tb::detail::set_error(err, code, msg.c_str());
        return code;
    }

    template <class List>
    static bool has_prefix_in(const List* list, std::string_view s) {
        constexpr int kMaxItems = 1024;  // a missing NULL terminator must not run away
        for (int i = 0; list != nullptr && list[i] != nullptr && i < kMaxItems; ++i) {
            if (s.substr(0, std::strlen(list[i])) == list[i]) return true;
        }
        return false;
    }
    bool metric_declared(const std::string& name) const {
        constexpr int kMaxItems = 1024;
        for (int i = 0; manifest_->metrics && manifest_->metrics[i] && i < kMaxItems; ++i) {
            if (manifest_->metrics[i]->name && name == manifest_->metrics[i]->name) return true;
        }
        return false;
    }

    static void c_log(void* ctx, int32_t level, const char* msg) {
        std::lock_guard<std::mutex> lock(self(ctx)->mu_);
        self(ctx)->logs_.push_back({static_cast<LogLevel>(level), str(msg)});
    }
    static tb_status c_publish(void* ctx, const char* topic, const void* data, size_t size,
                               int32_t content_type, tb_error* err) {
        FakeHost* h = self(ctx);
        if (topic == nullptr || *topic == '\0' || (data == nullptr && size > 0)) {
            return h->refuse("publish", TB_E_INVALID_ARG,
                             "publish: topic is null or empty, or data is null", err);
        }
        if (content_type < TB_CONTENT_SENML_JSON || content_type > TB_CONTENT_BINARY) {
            return h->refuse("publish", TB_E_INVALID_ARG,
                             "publish: content_type " + std::to_string(content_type) +
                                 " is not a tb_content_type",
                             err);
        }
        if (!has_prefix_in(h->manifest_->publishes, topic)) {
            return h->refuse("publish", TB_E_DENIED,
                             "publish on '" + std::string(topic) +
                                 "' is outside the topics the manifest declares",
                             err);
        }
        std::lock_guard<std::mutex> lock(h->mu_);
        h->published_.push_back({topic, std::string(static_cast<const char*>(data), size),
                                 static_cast<ContentType>(content_type)});
        return TB_OK;
    }
    static tb_status c_record_metric(void* ctx, const char* name, const char* subject, double value,
                                     int64_t time_us, tb_error* err) {
        FakeHost* h = self(ctx);
        if (name == nullptr)
            return h->refuse("record_metric", TB_E_INVALID_ARG, "record_metric: name is null", err);
        if (!h->metric_declared(name)) {
            return h->refuse(
                "record_metric", TB_E_NOT_FOUND,
                "record_metric: metric '" + std::string(name) + "' is not declared in the manifest",
                err);
        }
        if (!std::isfinite(value)) {
            return h->refuse(
                "record_metric", TB_E_INVALID_ARG,
                "record_metric: value of '" + std::string(name) + "' is not a finite number", err);
        }
        std::lock_guard<std::mutex> lock(h->mu_);
        h->metrics_.push_back({name, str(subject), value, time_us != 0 ? time_us : h->now_us_});
        return TB_OK;
    }
    static tb_status c_record_event(void* ctx, int32_t severity, const char* kind,
                                    const char* subject, const char* message,
                                    const char* detail_json, tb_error* err) {
        FakeHost* h = self(ctx);
        if (severity < TB_SEV_INFO || severity > TB_SEV_CRITICAL) {
            return h->refuse("record_event", TB_E_INVALID_ARG,
                             "record_event: severity " + std::to_string(severity) +
                                 " is not a tb_severity (1..4)",
                             err);
        }
        if (kind == nullptr || *kind == '\0')
            return h->refuse("record_event", TB_E_INVALID_ARG, "record_event: kind is empty", err);
        std::lock_guard<std::mutex> lock(h->mu_);
        h->events_.push_back(
            {static_cast<Severity>(severity), kind, str(subject), str(message), str(detail_json)});
        return TB_OK;
    }
    static tb_status c_config_get(void* ctx, const char* key, char* buf, size_t buf_size,
                                  size_t* out_len, tb_error* err) {
        FakeHost* h = self(ctx);
        if (key == nullptr)
            return h->refuse("config_get", TB_E_INVALID_ARG, "config_get: key is null", err);
        std::string value;
        bool found = false;
        if (auto it = h->opt_.config.find(key); it != h->opt_.config.end()) {
            value = it->second;
            found = true;
        } else {
            constexpr int kMaxItems = 1024;
            const auto* keys = h->manifest_->config_keys;
            for (int i = 0; keys && keys[i] && i < kMaxItems; ++i) {
                if (keys[i]->name && std::strcmp(keys[i]->name, key) == 0 &&
                    keys[i]->default_value) {
                    value = keys[i]->default_value;
                    found = true;
                }
            }
        }
        if (!found) {
            // Not a refusal worth recording: plugins probe optional keys this way.
            ::tb::detail::set_error(
                err, TB_E_NOT_FOUND,
                ("config key '" + std::string(key) + "' is not set and has no default").c_str());
            return TB_E_NOT_FOUND;
        }
        if (out_len) *out_len = value.size();
        if (buf == nullptr || buf_size < value.size() + 1) {
            ::tb::detail::set_error(err, TB_E_TOO_SMALL, "config_get: buffer too small");
            return TB_E_TOO_SMALL;
        }
        std::memcpy(buf, value.data(), value.size());
        buf[value.size()] = '\0';
        return TB_OK;
    }
    static int64_t c_monotonic_ns(void* ctx) {
        // The fake clock: monotonic time moves exactly with advance().
        return (self(ctx)->now_us() - self(ctx)->opt_.start_time_us) * 1000 + 1'000'000'000LL;
    }

    const tb_manifest* manifest_;
    Options opt_;
    tb_host_api api_{};
    mutable std::mutex mu_;
    int64_t now_us_;                     // guarded by mu_
    std::vector<Published> published_;   // guarded by mu_
    std::vector<MetricSample> metrics_;  // guarded by mu_
    std::vector<Event> events_;          // guarded by mu_
    std::vector<LogLine> logs_;          // guarded by mu_
    std::vector<Refusal> refusals_;      // guarded by mu_
};

// ---- A loaded plugin file --------------------------------------------------------------------

// dlopen()s a plugin and reads its descriptor (calls only tb_plugin_entry). Throws
// std::runtime_error naming the file and the problem.
class Library {
   public:
    explicit Library(const std::string& file, uint32_t host_abi_minor = TB_ABI_MINOR)
        : file_(file) {
        handle_ = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle_ == nullptr) {
            const char* why = ::dlerror();
            throw std::runtime_error(file +
                                     ": cannot be loaded: " + (why ? why : "unknown dlopen error"));
        }
        void* sym = ::dlsym(handle_, TB_PLUGIN_ENTRY_SYMBOL);
        if (sym == nullptr) {
            ::dlclose(handle_);
            throw std::runtime_error(file + ": does not export '" TB_PLUGIN_ENTRY_SYMBOL
                                            "' (is TB_PLUGIN(...) in the source?)");
        }
        tb_plugin_entry_fn entry = nullptr;
        static_assert(sizeof entry == sizeof sym, "function and object pointers differ in size");
        std::memcpy(&entry, &sym, sizeof entry);  // POSIX guarantees this conversion works
        tb_host_info info{};
        info.struct_size = sizeof info;
        info.abi_major = TB_ABI_MAJOR;
        info.abi_minor = host_abi_minor;
        info.host_version = "testkit";
        tb_error err{};
        err.struct_size = sizeof err;
        const tb_status rc = entry(&info, &desc_, &err);
        err.message[sizeof err.message - 1] = '\0';
        if (rc != TB_OK || desc_ == nullptr) {
            ::dlclose(handle_);
            throw std::runtime_error(file + ": tb_plugin_entry failed (code " + std::to_string(rc) +
                                     "): " + err.message);
        }
    }
    ~Library() {
        if (handle_ != nullptr) ::dlclose(handle_);
    }
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;

    const tb_plugin_desc* desc() const noexcept { return desc_; }
    const std::string& file() const noexcept { return file_; }

   private:
    std::string file_;
    void* handle_ = nullptr;
    const tb_plugin_desc* desc_ = nullptr;
};

// ---- The harness -----------------------------------------------------------------------------

// One plugin instance driven by a fake host. Creates (and starts) the instance in the
// constructor and stops and destroys it in the destructor, like the host. Not copyable or
// movable (the plugin holds a pointer to the fake host); Harness::of<T>() relies on C++17
// guaranteed copy elision.
class Harness {
   public:
    // Load `plugin_file` (a .so) and create one instance. Throws std::runtime_error when the
    // file cannot be loaded, its descriptor is unusable, or create()/start() fails.
    explicit Harness(const std::string& plugin_file, Options opt = {})
        : library_(std::make_unique<Library>(plugin_file, opt.host_abi_minor)),
          desc_(library_->desc()),
          host_(check(desc_, plugin_file), std::move(opt)) {
        create();
    }

    // Drive a descriptor directly (a plugin linked into the test binary).
    explicit Harness(const tb_plugin_desc* desc, Options opt = {})
        : desc_(desc), host_(check(desc, "descriptor"), std::move(opt)) {
        create();
    }

    // A plugin class linked into the test: Harness::of<MyPlugin>({{"key", "value"}}).
    template <class T>
    static Harness of(Options opt = {}) {
        return Harness(::tb::detail_descriptor<T>::get(), std::move(opt));
    }

    ~Harness() {
        if (self_ != nullptr) {
            tb_error err = make_error();
            if (desc_->stop) desc_->stop(self_, &err);
            desc_->destroy(self_);
        }
    }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;
    Harness(Harness&&) = delete;
    Harness& operator=(Harness&&) = delete;

    // Deliver one message, as the host would after receiving it now.
    CallResult send(const std::string& topic, std::string_view payload,
                    ContentType type = ContentType::senml_json) {
        const uint64_t seq = ++sequence_[topic];
        const int64_t now = host_.now_us();
        tb_message m{};
        m.struct_size = sizeof m;
        m.content_type = static_cast<uint16_t>(type);
        m.topic = topic.c_str();
        m.topic_len = topic.size();
        m.payload = payload.data();
        m.payload_size = payload.size();
        m.sequence = seq;
        m.source_time_us = now;
        m.receive_time_us = now;
        tb_error err = make_error();
        const tb_status rc = desc_->on_message(self_, &m, &err);
        return result(rc, err);
    }

    // Move the fake clock forward; on_tick runs once per elapsed manifest tick interval (at the
    // tick's time). Returns the first failing tick's result, or OK.
    CallResult advance(std::chrono::microseconds by) {
        const int64_t target = host_.now_us() + by.count();
        CallResult first_error;
        const uint32_t interval_ms = tick_interval_ms();
        if (interval_ms > 0 && desc_->on_tick != nullptr) {
            const int64_t step = static_cast<int64_t>(interval_ms) * 1000;
            while (next_tick_us_ <= target) {  // bounded: next_tick_us_ grows by step > 0
                host_.set_now_us(next_tick_us_);
                tb_error err = make_error();
                const CallResult r = result(desc_->on_tick(self_, next_tick_us_, &err), err);
                if (!r.ok() && first_error.ok()) first_error = r;
                next_tick_us_ += step;
            }
        }
        host_.set_now_us(target);
        return first_error;
    }

    const tb_manifest& manifest() const noexcept { return *desc_->manifest; }
    const tb_plugin_desc& descriptor() const noexcept { return *desc_; }
    FakeHost& host() noexcept { return host_; }
    int64_t now_us() const { return host_.now_us(); }

    std::vector<Published> published() const { return host_.published(); }
    std::vector<MetricSample> metrics() const { return host_.metrics(); }
    std::vector<MetricSample> metrics(const std::string& name) const {
        std::vector<MetricSample> out;
        for (auto& m : host_.metrics()) {
            if (m.name == name) out.push_back(std::move(m));
        }
        return out;
    }
    std::vector<Event> events() const { return host_.events(); }
    std::vector<Event> events(const std::string& kind) const {
        std::vector<Event> out;
        for (auto& e : host_.events()) {
            if (e.kind == kind) out.push_back(std::move(e));
        }
        return out;
    }
    std::vector<LogLine> logs() const { return host_.logs(); }
    std::vector<Refusal> refusals() const { return host_.refusals(); }
    // Forget everything captured so far (the clock keeps its time).
    void clear() { host_.clear(); }

   private:
    static tb_error make_error() {
        tb_error err{};
        err.struct_size = sizeof err;
        return err;
    }
    static CallResult result(tb_status rc, tb_error& err) {
        err.message[sizeof err.message - 1] = '\0';
        return {rc, rc == TB_OK ? std::string() : std::string(err.message)};
    }
    // Validate a descriptor the way the host's loader does, before anything dereferences it.
    static const tb_manifest* check(const tb_plugin_desc* d, const std::string& what) {
        if (d == nullptr) throw std::runtime_error(what + ": no descriptor");
        if (d->abi_major != TB_ABI_MAJOR) {
            throw std::runtime_error(what + ": plugin ABI major " + std::to_string(d->abi_major) +
                                     ", test kit ABI " + std::to_string(TB_ABI_MAJOR));
        }
        if (d->struct_size < offsetof(tb_plugin_desc, destroy) + sizeof(d->destroy)) {
            throw std::runtime_error(what + ": descriptor struct_size " +
                                     std::to_string(d->struct_size) +
                                     " is smaller than the ABI 1.0 descriptor");
        }
        if (d->create == nullptr || d->on_message == nullptr || d->destroy == nullptr) {
            throw std::runtime_error(what + ": create, on_message and destroy are required");
        }
        if (d->manifest == nullptr) throw std::runtime_error(what + ": descriptor has no manifest");
        return d->manifest;
    }
    uint32_t tick_interval_ms() const {
        const tb_manifest* m = desc_->manifest;
        return TB_HAS_FIELD(m, tb_manifest, tick_interval_ms) ? m->tick_interval_ms : 0;
    }
    void create() {
        const std::string config = host_.config_json();
        tb_error err = make_error();
        self_ = desc_->create(host_.api(), host_.ctx(), config.c_str(), &err);
        if (self_ == nullptr) {
            err.message[sizeof err.message - 1] = '\0';
            throw std::runtime_error(std::string("create failed: ") + err.message);
        }
        if (desc_->start != nullptr) {
            err = make_error();
            if (desc_->start(self_, &err) != TB_OK) {
                err.message[sizeof err.message - 1] = '\0';
                const std::string why = err.message;
                desc_->destroy(self_);
                self_ = nullptr;
                throw std::runtime_error("start failed: " + why);
            }
        }
        next_tick_us_ = host_.now_us() + static_cast<int64_t>(tick_interval_ms()) * 1000;
    }

    std::unique_ptr<Library> library_;  // declared first: outlives the instance
    const tb_plugin_desc* desc_;
    FakeHost host_;
    void* self_ = nullptr;
    int64_t next_tick_us_ = 0;
    std::map<std::string, uint64_t> sequence_;
};

}  // namespace tb::testkit

#endif  // TB_TESTKIT_HPP
