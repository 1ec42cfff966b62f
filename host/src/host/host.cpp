#include "host/host.hpp"

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "bus/curve.hpp"
#include "bus/feed_receiver.hpp"
#include "bus/publisher.hpp"
#include "common/clock.hpp"
#include "common/logging.hpp"
#include "governance/governor.hpp"
#include "isolation/incidents.hpp"
#include "isolation/process_instance.hpp"
#include "loader/plugin_library.hpp"
#include "router/router.hpp"
#include "runtime/executor.hpp"
#include "runtime/in_process.hpp"
#include "store/sqlite_store.hpp"

namespace tb::host {
namespace fs = std::filesystem;

struct Host::Impl {
    HostOptions opt;
    TestbedConfig cfg;
    std::shared_ptr<spdlog::logger> log = logger("host");
    std::unique_ptr<SqliteStore> store;
    zmq::context_t zctx{1};
    std::unique_ptr<Executor> executor;
    std::unique_ptr<Publisher> publisher;
    std::unique_ptr<FeedReceiver> receiver;
    Router router;
    std::map<std::string, std::shared_ptr<PluginLibrary>> libraries;  // by file path
    std::vector<std::unique_ptr<PluginInstance>> instances;  // --dev: ungoverned [[plugins]]
    std::unique_ptr<Governor> governor;                      // trial plugins

    std::vector<PluginInstance*> all_instances() const {
        std::vector<PluginInstance*> out;
        for (const auto& i : instances) out.push_back(i.get());
        if (governor) {
            for (auto* i : governor->instances()) out.push_back(i);
        }
        return out;
    }
    int64_t run_id = 0;
    int64_t started_us = 0;
    int64_t started_mono_ns = 0;
    std::function<void(const FeedMessagePtr&)> feed_observer;
    bool started = false;
    bool stopped = false;
    nlohmann::json summary;

    // Feed health: stale checks (every 250 ms) and periodic persistence, off the receive path.
    std::thread health_thread;
    std::mutex health_mu;
    std::condition_variable health_cv;
    bool health_stop = false;  // guarded by health_mu

    void record_stale_changes() {
        const auto changes = receiver->check_stale(now_us());
        // Every change is an event; the log names the first few and sums up the rest, so a testbed
        // whose 1,000 configured sensors are all silent does not write 1,000 log lines at once.
        constexpr std::size_t kLogged = 10;
        std::size_t logged = 0, not_logged = 0;
        for (const auto& c : changes) {
            EventRow e;
            e.run_id = run_id;
            e.severity = c.stale ? TB_SEV_WARNING : TB_SEV_INFO;
            e.kind = c.stale ? "feed_stale" : "feed_recovered";
            e.subject = c.source;
            const std::string silent = std::to_string(c.silent_us / 1'000'000);
            const std::string limit = " (stale after " + std::to_string(c.stale_after_s) + " s)";
            if (c.stale && c.never_heard) {
                e.message = "feed '" + c.source + "' is configured but has sent nothing in the " +
                            silent + " s since the host started" + limit +
                            "; check the sensor or its bridge";
            } else if (c.stale) {
                e.message = "feed '" + c.source + "' has been silent for " + silent + " s" + limit;
            } else {
                e.message = "feed '" + c.source + "' is back after " + silent + " s of silence";
            }
            e.detail_json = nlohmann::json{
                {"last_seen_us", c.last_seen_us},
                {"silent_s", static_cast<double>(c.silent_us) / 1e6},
                {"stale_after_s", c.stale_after_s},
                {"never_heard",
                 c.never_heard}}.dump();
            e.t_us = now_us();
            if (logged < kLogged) {
                ++logged;
                if (c.stale)
                    log->warn("{}", e.message);
                else
                    log->info("{}", e.message);
            } else {
                ++not_logged;
            }
            (void)store->add_event(std::move(e));
        }
        if (not_logged > 0) {
            log->warn(
                "{} more feed(s) went stale or recovered just now; each is recorded as a "
                "feed_stale or "
                "feed_recovered event (testbed events, testbed report)",
                not_logged);
        }
    }

    void save_feed_health() {
        if (auto s =
                store->save_feed_health(run_id, receiver->feed_health(),
                                        receiver->drops_by_reason(), receiver->stale_periods());
            !s) {
            log->error("{}", s.message());
        }
    }

    void run_health() {
        const auto interval = cfg.host.feed_health_interval;
        auto next_save = std::chrono::steady_clock::now() + interval;
        std::unique_lock lock(health_mu);
        while (!health_stop) {
            health_cv.wait_for(lock, std::chrono::milliseconds(250));
            if (health_stop) break;
            lock.unlock();
            // A quick in-process callback runs on the reading worker; one that turned slow gets
            // the input taken from it here (bus/feed_receiver.cpp).
            receiver->rescue_stalled_input(std::chrono::milliseconds(50));
            record_stale_changes();
            if (interval.count() > 0 && std::chrono::steady_clock::now() >= next_save) {
                save_feed_health();
                next_save = std::chrono::steady_clock::now() + interval;
            }
            lock.lock();
        }
    }

    Status check_plugin_config(const PluginSpec& spec, const ManifestInfo& m) const {
        const std::string where =
            cfg.file.string() + ":" + std::to_string(spec.line) + ": plugin '" + spec.name + "'";
        for (const auto& [key, value] : spec.config.items()) {
            if (m.config_key(key) == nullptr) {
                std::string known;
                for (const auto& k : m.config_keys) known += (known.empty() ? "" : ", ") + k.name;
                return Error{where + ": config key '" + key + "' is not declared by plugin '" +
                                 m.id + "' (known keys: " + (known.empty() ? "none" : known) + ")",
                             "config"};
            }
        }
        for (const auto& k : m.config_keys) {
            if (!k.default_value && !spec.config.contains(k.name)) {
                return Error{where + ": required config key '" + k.name + "' is not set (" +
                                 k.description + ")",
                             "config"};
            }
        }
        return {};
    }
};

Host::Host() : impl_(std::make_unique<Impl>()) {}

Host::~Host() {
    if (impl_ && impl_->started && !impl_->stopped) stop();
}

const TestbedConfig& Host::testbed() const { return impl_->cfg; }
int64_t Host::run_id() const { return impl_->run_id; }

Result<std::unique_ptr<Host>> Host::create(HostOptions options) {
    std::unique_ptr<Host> host(new Host());
    auto& im = *host->impl_;
    im.opt = std::move(options);
    auto cfg = load_testbed(im.opt.testbed);
    if (!cfg) return cfg.error();
    im.cfg = std::move(cfg.value());
    if (!im.opt.ingest.empty()) im.cfg.host.ingest = im.opt.ingest;
    if (im.opt.output) im.cfg.host.output = *im.opt.output;

    // Load and validate every plugin before touching the database, so a bad plugin costs nothing.
    struct Loaded {
        const PluginSpec* spec;
        std::shared_ptr<PluginLibrary> lib;
    };
    std::vector<Loaded> loaded;
    if (!im.opt.dev && !im.cfg.plugins.empty()) {
        im.log->warn(
            "{}: {} [[plugins]] entr{} not run: without --dev only plugins of approved trials run "
            "(their config is still used for trials of the same plugin id)",
            im.cfg.file.string(), im.cfg.plugins.size(),
            im.cfg.plugins.size() == 1 ? "y is" : "ies are");
    }
    if (im.opt.dev && !im.cfg.plugins.empty()) {
        im.log->warn(
            "DEVELOPMENT MODE (--dev): running {} [[plugins]] entr{} WITHOUT a trial: ungoverned, "
            "with access "
            "to every feed they declare; never use --dev in production",
            im.cfg.plugins.size(), im.cfg.plugins.size() == 1 ? "y" : "ies");
    }
    for (const auto& spec : im.cfg.plugins) {
        if (!im.opt.dev) break;
        const fs::path file =
            fs::absolute(resolve_plugin_path(spec.library, im.opt.plugin_dir, im.cfg.dir));
        std::shared_ptr<PluginLibrary> lib;
        if (auto it = im.libraries.find(file.string()); it != im.libraries.end()) {
            lib = it->second;
        } else {
            auto r = PluginLibrary::load(file);
            if (!r) {
                return Error{im.cfg.file.string() + ":" + std::to_string(spec.line) + ": plugin '" +
                                 spec.name + "' cannot be loaded: " + r.error().message,
                             r.error().reason};
            }
            lib = r.value();
            im.libraries[file.string()] = lib;
        }
        if (auto s = im.check_plugin_config(spec, lib->manifest()); !s) return s.error();
        loaded.push_back({&spec, lib});
    }

    SqliteOptions so;
    so.queue_capacity = im.cfg.host.store_queue_capacity;
    so.batch_rows = im.cfg.host.store_batch_rows;
    so.flush_interval = im.cfg.host.store_flush_interval;
    if (!im.opt.status_file.empty()) {
        // Written after every commit so that an outside observer (or a crash test) knows what
        // was durably recorded. Replaced atomically by rename.
        const fs::path status = im.opt.status_file;
        so.on_commit = [status](uint64_t committed) {
            const fs::path tmp = status.string() + ".tmp";
            {
                std::ofstream out(tmp, std::ios::trunc);
                out << "{\"committed_rows\":" << committed << ",\"t_us\":" << now_us() << "}\n";
            }
            std::error_code ec;
            fs::rename(tmp, status, ec);
        };
    }
    auto store = SqliteStore::open(im.opt.db, so);
    if (!store) return store.error();
    im.store = std::move(store.value());

    im.started_us = now_us();
    im.started_mono_ns = mono_ns();
    nlohmann::json cfg_json{{"testbed", im.cfg.id},
                            {"file", im.cfg.file.string()},
                            {"ingest", im.cfg.host.ingest},
                            {"output", im.cfg.host.output},
                            {"dev", im.opt.dev}};
    auto run = im.store->begin_run({im.cfg.id, kHostVersion, im.started_us, cfg_json});
    if (!run) return run.error();
    im.run_id = *run;

    if (!im.cfg.host.output.empty()) {
        auto p = Publisher::start(im.zctx, im.cfg.host.output);
        if (!p) return p.error();
        im.publisher = std::move(p.value());
    }
    im.executor = std::make_unique<Executor>(im.cfg.host.workers);
    for (const auto& [spec, lib] : loaded) {
        const auto& m = lib->manifest();
        PluginRegistration reg;
        reg.run_id = im.run_id;
        reg.instance = spec->name;
        reg.plugin_id = m.id;
        reg.version = m.version;
        reg.organisation = m.organisation;
        reg.file = lib->file().string();
        reg.sha256 = lib->sha256();
        reg.mode = spec->isolation == Isolation::process ? "process" : "in-process";
        reg.manifest = m.to_json();
        static const char* kBetter[] = {"?", "higher", "lower", "neither"};
        for (const auto& x : m.metrics)
            reg.series.push_back({x.name, x.unit, kBetter[x.better], x.description});
        auto rec = im.store->register_plugin(reg);
        if (!rec) return rec.error();

        PluginContextOptions co;
        co.instance = spec->name;
        co.manifest = m;
        co.config = spec->config;
        co.run_id = im.run_id;
        co.publish_budget_per_s = spec->publish_budget_per_s;
        co.record_budget_per_s = spec->record_budget_per_s;
        auto ctx =
            std::make_unique<PluginContext>(std::move(co), im.store.get(), im.publisher.get());
        ctx->set_record(*rec);
        if (spec->isolation == Isolation::process) {
            // An untrusted plugin: its own testbed-runner process (docs/isolation.md).
            ProcessOptions po = process_options_for(spec, im.run_id, *lib);
            im.instances.push_back(
                make_process_instance(std::move(ctx), po, make_store_incident_sink(*im.store)));
        } else {
            im.instances.push_back(make_in_process_instance(
                lib, std::move(ctx), *im.executor, {spec->inbox_capacity, spec->overflow}));
        }
    }
    GovernorOptions go;
    go.db = im.opt.db;
    go.plugin_dir = im.opt.plugin_dir;
    go.run_id = im.run_id;
    auto gov =
        Governor::create(im.cfg, go, im.store.get(), im.publisher.get(), *im.executor, im.router);
    if (!gov) return gov.error();
    im.governor = std::move(gov.value());
    return host;
}

Status Host::start() {
    auto& im = *impl_;
    for (auto& inst : im.instances) {
        if (auto s = inst->start(); !s) {
            im.log->error("{}", s.message());
            inst->context().host_event(TB_SEV_MAJOR, "plugin_start_failed", s.message());
            continue;
        }
        im.router.add(inst.get(), inst->context().manifest().reads);
        im.log->info("plugin '{}' ({} {}, {}) running {}; reads {}", inst->name(),
                     inst->context().manifest().id, inst->context().manifest().version,
                     inst->context().manifest().organisation, inst->mode(),
                     nlohmann::json(inst->context().manifest().reads).dump());
    }
    if (auto s = im.governor->start(); !s) return s;
    ReceiverOptions ro;
    ro.bind = im.cfg.host.ingest;
    ro.connect = im.cfg.host.connect;
    ro.validate_json = im.cfg.host.validate_payloads;
    ro.rcvhwm = im.cfg.host.ingest_hwm;
    for (const auto& g : im.cfg.sensors) {
        for (const auto& id : g.ids()) ro.expected_sources.push_back(g.topic(id));
    }
    ro.stale_after_s = [&cfg = im.cfg](std::string_view topic) -> int64_t {
        const auto* g = cfg.sensor_group_for(topic);
        return g ? static_cast<int64_t>(g->stale_after.count()) : 0;
    };
    if (!im.cfg.host.curve_secret_key_file.empty()) {
        auto key = load_curve_key_file(im.cfg.host.curve_secret_key_file, true);
        if (!key)
            return Error{
                im.cfg.file.string() + ": [host] curve_secret_key_file: " + key.error().message,
                "curve"};
        auto auth = load_authorized_keys(im.cfg.host.curve_authorized_keys);
        if (!auth)
            return Error{
                im.cfg.file.string() + ": [host] curve_authorized_keys: " + auth.error().message,
                "curve"};
        ro.curve_public_z85 = key->public_z85;
        ro.curve_secret_z85 = key->secret_z85;
        ro.curve_authorized_keys = std::move(auth.value());
        im.log->info("ingest is CURVE-protected: server key {}, {} authorized publisher key(s)",
                     key->public_z85, ro.curve_authorized_keys.size());
    }
    auto r = FeedReceiver::start(
        im.zctx, ro,
        [&im](const FeedMessagePtr& m) {
            if (im.feed_observer) im.feed_observer(m);
            return im.router.dispatch(m);
        },
        im.executor->io());
    if (!r) return r.error();
    im.receiver = std::move(r.value());
    im.health_thread = std::thread([&im] { im.run_health(); });
    im.started = true;
    im.log->info("testbed '{}' running: ingest {}, output {}, database {}, run {}", im.cfg.id,
                 nlohmann::json(im.cfg.host.ingest).dump(),
                 im.cfg.host.output.empty() ? "off" : im.cfg.host.output, im.opt.db.string(),
                 im.run_id);
    return {};
}

nlohmann::json Host::snapshot() const {
    const auto& im = *impl_;
    nlohmann::json j;
    j["testbed"] = im.cfg.id;
    j["run_id"] = im.run_id;
    j["uptime_s"] = static_cast<double>(mono_ns() - im.started_mono_ns) / 1e9;
    if (im.receiver) {
        const auto& c = im.receiver->counters();
        j["received"] = c.received.load();
        j["routed"] = c.routed.load();
        j["unrouted"] = c.unrouted.load();
        j["deliveries"] = c.deliveries.load();
        j["ingest_dropped"] = im.receiver->dropped_total();
        j["ingest_dropped_by_reason"] = im.receiver->drops_by_reason();
        j["input_rescues"] = im.receiver->input_rescues();
    }
    if (im.publisher) j["published"] = im.publisher->sent();
    const auto st = im.store->stats();
    j["store"] = {{"queued", st.queued},     {"committed_rows", st.committed_rows},
                  {"rejected", st.rejected}, {"failed_rows", st.failed_rows},
                  {"commits", st.commits},   {"queue_depth", st.queue_depth}};
    j["plugins"] = nlohmann::json::array();
    for (const auto* inst : im.all_instances()) {
        // Organisation and reads let the HTTP API show an organisation only its own plugins.
        auto p = inst->stats_json();
        p["organisation"] = inst->context().manifest().organisation;
        p["reads"] = inst->context().manifest().reads;
        j["plugins"].push_back(std::move(p));
    }
    return j;
}

std::vector<FeedHealthRow> Host::feed_health() const {
    return impl_->receiver ? impl_->receiver->feed_health() : std::vector<FeedHealthRow>{};
}

void Host::set_feed_observer(std::function<void(const FeedMessagePtr&)> observer) {
    impl_->feed_observer = std::move(observer);
}

nlohmann::json Host::stop() {
    auto& im = *impl_;
    if (im.stopped) return im.summary;
    im.stopped = true;
    // 1. No more input.
    if (im.health_thread.joinable()) {
        {
            std::lock_guard lock(im.health_mu);
            im.health_stop = true;
        }
        im.health_cv.notify_all();
        im.health_thread.join();
    }
    if (im.receiver) im.receiver->stop();
    // 2. Drain inboxes and stop plugins (their last results are still queued to the store).
    if (im.governor) im.governor->stop(im.opt.drain_timeout);
    for (auto& inst : im.instances) {
        // An isolated instance is stopped in every state: its runner and I/O thread must end.
        if (inst->state() == PluginState::running || inst->state() == PluginState::suspended ||
            inst->mode() == "process") {
            inst->stop(im.opt.drain_timeout);
        }
    }
    im.executor->stop();
    if (im.publisher) im.publisher->stop();
    // 3. Everything queued reaches the disk.
    if (auto s = im.store->flush(); !s) im.log->error("flushing results: {}", s.message());
    im.summary = snapshot();
    uint64_t delivered = 0, dropped = 0, metrics = 0, events = 0;
    for (const auto& p : im.summary["plugins"]) {
        delivered += p["delivered"].get<uint64_t>();
        dropped += p["dropped_inbox"].get<uint64_t>() + p["dropped_not_running"].get<uint64_t>();
        metrics += p["metrics"].get<uint64_t>();
        events += p["events"].get<uint64_t>();
    }
    im.summary["delivered"] = delivered;
    im.summary["plugin_dropped"] = dropped;
    im.summary["metrics_recorded"] = metrics;
    im.summary["events_recorded"] = events;
    im.summary["database"] = fs::absolute(im.opt.db).string();
    const auto all = im.all_instances();
    for (std::size_t i = 0; i < all.size() && i < im.summary["plugins"].size(); ++i) {
        (void)im.store->save_plugin_stats(all[i]->context().record().plugin_row,
                                          im.summary["plugins"][i]);
    }
    if (im.receiver)
        im.save_feed_health();  // stale periods; end_run below writes the final figures
    const std::vector<FeedHealthRow> feeds =
        im.receiver ? im.receiver->feed_health() : std::vector<FeedHealthRow>{};
    const auto drops =
        im.receiver ? im.receiver->drops_by_reason() : std::map<std::string, uint64_t>{};
    if (auto s = im.store->end_run(im.run_id, now_us(), im.summary, feeds, drops); !s) {
        im.log->error("recording the end of the run: {}", s.message());
    }
    const auto st = im.store->stats();
    im.summary["store"]["committed_rows"] = st.committed_rows;
    if (auto s = im.store->close(); !s) im.log->error("{}", s.message());
    im.instances.clear();
    im.governor.reset();
    im.libraries.clear();  // after every instance: the loader outlives them
    return im.summary;
}

std::string format_summary(const nlohmann::json& s) {
    std::ostringstream o;
    auto u = [&](const char* k) { return s.contains(k) ? s[k].get<uint64_t>() : uint64_t{0}; };
    o << "run " << s.value("run_id", 0) << " on testbed '" << s.value("testbed", "")
      << "': received " << u("received") << " message(s), delivered " << u("delivered")
      << " to plugins, dropped " << u("ingest_dropped") << " malformed + " << u("plugin_dropped")
      << " at plugin inboxes; recorded " << u("metrics_recorded") << " metric sample(s) and "
      << u("events_recorded") << " event(s); " << s["store"].value("committed_rows", uint64_t{0})
      << " row(s) committed to " << s.value("database", "") << "\n";
    if (s.contains("ingest_dropped_by_reason") && !s["ingest_dropped_by_reason"].empty()) {
        o << "  malformed messages by reason: " << s["ingest_dropped_by_reason"].dump() << "\n";
    }
    for (const auto& p : s["plugins"]) {
        o << "  plugin " << p["instance"].get<std::string>() << " ["
          << p["state"].get<std::string>() << "]: delivered " << p["delivered"] << ", dropped "
          << p["dropped_inbox"].get<uint64_t>() + p["dropped_not_running"].get<uint64_t>()
          << ", errors " << p["callback_errors"] << ", bad data " << p["bad_data"] << ", metrics "
          << p["metrics"] << ", events " << p["events"] << ", published " << p["published"]
          << ", callback p50/p99 " << p.value("callback_p50_us", 0.0) << "/"
          << p.value("callback_p99_us", 0.0) << " us\n";
    }
    return o.str();
}

}  // namespace tb::host
