#include "governance/governor.hpp"

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "common/sha256.hpp"
#include "governance/audit.hpp"
#include "governance/pseudonym.hpp"
#include "governance/sql.hpp"
#include "governance/time_parse.hpp"
#include "governance/trial.hpp"
#include "isolation/incidents.hpp"
#include "isolation/process_instance.hpp"
#include "loader/plugin_library.hpp"
#include "router/router.hpp"
#include "runtime/in_process.hpp"
#include "store/sqlite_store.hpp"

namespace tb::host {

using gov::Trial;
using gov::TrialState;

namespace {

enum class Phase { running = 1, suspended = 2, stopped = 3, refused = 4 };

struct Slot {
    Trial trial;
    Phase phase = Phase::refused;
    std::shared_ptr<PluginLibrary> lib;
    std::unique_ptr<PluginInstance> inst;
};

}  // namespace

struct Governor::Impl {
    const TestbedConfig* cfg = nullptr;
    GovernorOptions opt;
    SqliteStore* store = nullptr;
    Publisher* publisher = nullptr;
    Executor* executor = nullptr;
    Router* router = nullptr;
    std::shared_ptr<spdlog::logger> log = logger("governance");
    sqlite3* rdb = nullptr;  // the governance thread's own read connection

    mutable std::mutex mu_;
    std::map<int64_t, Slot>
        slots;  // guarded by mu_ for the map shape; slots are driven by one thread

    std::thread thread;
    std::atomic<bool> quit{false};
    bool stopped = false;

    ~Impl() {
        if (rdb) sqlite3_close(rdb);
    }

    void host_event(int32_t severity, const std::string& kind, int64_t trial_id,
                    const std::string& message, const nlohmann::json& detail) {
        store->add_event({opt.run_id, 0, severity, kind, "trial " + std::to_string(trial_id),
                          message, detail.dump(), now_us()});
    }

    void audit(gov::AuditEntry e) {
        e.actor = "host";
        if (e.t_us == 0) e.t_us = now_us();
        e.detail["run_id"] = opt.run_id;
        e.detail["testbed"] = cfg->id;
        auto s = store->execute([&](sqlite3* db) -> Status {
            auto r = gov::append_audit_tx(db, e);
            return r ? Status() : Status(r.error());
        });
        if (!s) log->error("writing the audit log: {}", s.message());
    }

    // Move trial `t` from `expect` to the state `action` leads to, unless someone changed it in
    // between (then the next poll sees the new state). Audited with actor "host".
    bool transition(Trial& t, gov::Action action, const std::string& reason) {
        bool changed = false;
        TrialState to = t.state;
        auto s = store->execute([&](sqlite3* db) -> Status {
            if (auto b = gov::begin_immediate(db); !b) return b;
            auto cur = gov::load_trial(db, t.id);
            if (!cur || cur->state != t.state) {
                gov::rollback(db);
                return {};
            }
            auto next = gov::next_state(*cur, action, now_us());
            if (!next) {
                gov::rollback(db);
                return {};
            }
            to = *next;
            const int64_t now = now_us();
            if (auto u = gov::update_state(db, t.id, to, now); !u) {
                gov::rollback(db);
                return u;
            }
            gov::AuditEntry e{now,
                              "host",
                              std::string(gov::to_string(action)),
                              t.id,
                              true,
                              reason,
                              {{"from", gov::to_string(t.state)},
                               {"to", gov::to_string(to)},
                               {"run_id", opt.run_id},
                               {"testbed", cfg->id}}};
            if (auto a = gov::append_audit(db, e); !a) {
                gov::rollback(db);
                return a.error();
            }
            if (auto c = gov::commit(db); !c) {
                gov::rollback(db);
                return c;
            }
            changed = true;
            return {};
        });
        if (!s) log->error("trial {}: {} failed: {}", t.id, gov::to_string(action), s.message());
        if (changed) {
            log->info("trial {}: {} -> {} ({})", t.id, gov::to_string(t.state), gov::to_string(to),
                      reason);
            t.state = to;
        }
        return changed;
    }

    Status check_config(const nlohmann::json& config, const ManifestInfo& m) const {
        for (const auto& [key, value] : config.items()) {
            if (m.config_key(key) == nullptr) {
                return Error{"config key '" + key + "' is not declared by plugin '" + m.id + "'",
                             "config"};
            }
        }
        for (const auto& k : m.config_keys) {
            if (!k.default_value && !config.contains(k.name)) {
                return Error{
                    "required config key '" + k.name + "' is not set (" + k.description + ")",
                    "config"};
            }
        }
        return {};
    }

    void refuse(Slot& slot, const std::string& kind, const std::string& message,
                nlohmann::json detail) {
        slot.phase = Phase::refused;
        log->error("trial {} ({}): {}", slot.trial.id, slot.trial.plugin_id, message);
        host_event(TB_SEV_MAJOR, kind, slot.trial.id, message, detail);
        detail["plugin_file"] = slot.trial.plugin_file;
        audit({0, "host", kind, slot.trial.id, false, message, detail});
    }

    // Load, check and start the trial's plugin. Leaves the slot running, or refused.
    void launch(Slot& slot) {
        const Trial& t = slot.trial;
        // Hash the file before opening it: a changed library must not even run its initialisers.
        auto sha = sha256_file(t.plugin_file);
        if (!sha) {
            refuse(slot, "refuse_load",
                   "plugin file of trial " + std::to_string(t.id) +
                       " cannot be read: " + sha.error().message,
                   {});
            return;
        }
        if (*sha != t.plugin_sha256) {
            refuse(slot, "refuse_load",
                   "plugin file " + t.plugin_file + " of trial " + std::to_string(t.id) +
                       " changed since it was approved (SHA-256 " + *sha + ", approved " +
                       t.plugin_sha256 + "); not loaded. Propose a new trial for the new build.",
                   {{"expected_sha256", t.plugin_sha256}, {"actual_sha256", *sha}});
            return;
        }
        auto lib = PluginLibrary::load(t.plugin_file);
        if (!lib) {
            refuse(slot, "refuse_load",
                   "plugin of trial " + std::to_string(t.id) +
                       " cannot be loaded: " + lib.error().message,
                   {});
            return;
        }
        const auto& m = (*lib)->manifest();
        // The file is mapped now; hash what was loaded again so a swap between the two reads is
        // caught.
        if ((*lib)->sha256() != t.plugin_sha256 || m.id != t.plugin_id) {
            refuse(slot, "refuse_load",
                   "plugin file " + t.plugin_file + " of trial " + std::to_string(t.id) +
                       " is not the approved build (id '" + m.id + "', SHA-256 " +
                       (*lib)->sha256() + ")",
                   {{"expected_sha256", t.plugin_sha256}, {"actual_sha256", (*lib)->sha256()}});
            return;
        }
        // Config: the trial's own, else the [[plugins]] entry of the same plugin id in
        // testbed.toml.
        nlohmann::json config = t.config.is_object() ? t.config : nlohmann::json::object();
        InboxOptions inbox;
        const PluginSpec* matching_spec = nullptr;
        for (const auto& spec : cfg->plugins) {
            if (spec.name == t.plugin_id || spec.library == t.plugin_id) {
                if (config.empty()) config = spec.config;
                inbox = {spec.inbox_capacity, spec.overflow};
                matching_spec = &spec;
                break;
            }
        }
        if (auto s = check_config(config, m); !s) {
            refuse(slot, "refuse_config", "trial " + std::to_string(t.id) + ": " + s.message(), {});
            return;
        }
        const bool isolated = t.trust == "isolated";
        PluginRegistration reg;
        reg.run_id = opt.run_id;
        reg.instance = t.plugin_id + "#" + std::to_string(t.id);
        reg.plugin_id = m.id;
        reg.version = m.version;
        reg.organisation = m.organisation;
        reg.file = t.plugin_file;
        reg.sha256 = t.plugin_sha256;
        reg.mode = isolated ? "process" : "in-process";
        reg.trial_id = t.id;
        reg.manifest = m.to_json();
        static const char* kBetter[] = {"?", "higher", "lower", "neither"};
        for (const auto& x : m.metrics)
            reg.series.push_back({x.name, x.unit, kBetter[x.better], x.description});
        auto rec = store->register_plugin(reg);
        if (!rec) {
            refuse(slot, "refuse_load",
                   "trial " + std::to_string(t.id) + ": " + rec.error().message, {});
            return;
        }
        PluginContextOptions co;
        co.instance = reg.instance;
        co.manifest = m;
        co.config = config;
        co.run_id = opt.run_id;
        if (matching_spec != nullptr) {
            co.publish_budget_per_s = matching_spec->publish_budget_per_s;
            co.record_budget_per_s = matching_spec->record_budget_per_s;
        }
        auto ctx = std::make_unique<PluginContext>(std::move(co), store, publisher);
        ctx->set_record(*rec);
        const std::vector<std::string> grant = t.publishes;
        ctx->set_publish_policy([grant](std::string_view topic) {
            for (const auto& p : grant) {
                if (topic.substr(0, p.size()) == p) return true;
            }
            return false;
        });
        // Untrusted trials run in their own testbed-runner process (docs/isolation.md).
        std::unique_ptr<PluginInstance> inst;
        if (isolated) {
            ProcessOptions po = process_options_for(matching_spec, opt.run_id, **lib);
            po.inbox = inbox;
            inst = make_process_instance(std::move(ctx), po, make_store_incident_sink(*store));
        } else {
            inst = make_in_process_instance(*lib, std::move(ctx), *executor, inbox);
        }
        if (auto s = inst->start(); !s) {
            slot.lib = *lib;
            slot.inst = std::move(inst);
            refuse(slot, "plugin_start_failed", s.message(), {});
            return;
        }
        Router::Transform transform;
        bool personal = false;
        for (const auto& g : cfg->sensors) personal = personal || g.personal;
        if (personal) {
            auto key = gov::KeyStore(gov::KeyStore::path_for(opt.db)).get_or_create(t.id);
            if (!key) {
                slot.lib = *lib;
                slot.inst = std::move(inst);
                slot.inst->stop(std::chrono::milliseconds(0));
                refuse(slot, "refuse_keys",
                       "trial " + std::to_string(t.id) + ": " + key.error().message, {});
                return;
            }
            auto pseud = std::make_shared<gov::Pseudonymiser>(*cfg, *key);
            transform = [pseud](const FeedMessagePtr& msg) -> FeedMessagePtr {
                auto out = std::make_shared<FeedMessage>();
                if (!pseud->apply(msg->topic, msg->payload, out->topic, out->payload)) return msg;
                out->header = msg->header;
                out->receive_time_us = msg->receive_time_us;
                out->receive_mono_ns = msg->receive_mono_ns;
                return out;
            };
        }
        slot.lib = *lib;
        slot.inst = std::move(inst);
        slot.phase = Phase::running;
        if (t.state == TrialState::suspended) {
            slot.inst->set_suspended(true);
            slot.phase = Phase::suspended;
        }
        router->add(slot.inst.get(), t.reads, std::move(transform));
        log->info(
            "trial {}: plugin '{}' {} ({}) running for {}; reads {}, publishes {}, window {} .. {}",
            t.id, m.id, m.version, t.organisation, t.testbed, nlohmann::json(t.reads).dump(),
            nlohmann::json(t.publishes).dump(), gov::format_time(t.from_us),
            gov::format_time(t.until_us));
        audit({0,
               "host",
               "enforce_start",
               t.id,
               true,
               "trial plugin started within its window",
               {{"reads", t.reads}, {"publishes", t.publishes}, {"sha256", t.plugin_sha256}}});
    }

    void halt(Slot& slot, const std::string& why) {
        if (slot.phase != Phase::running && slot.phase != Phase::suspended) return;
        router->remove(slot.inst.get());
        slot.inst->set_suspended(true);
        slot.inst->stop(std::chrono::milliseconds(0));
        slot.phase = Phase::stopped;
        log->info("trial {}: plugin stopped ({})", slot.trial.id, why);
        audit({0, "host", "enforce_stop", slot.trial.id, true, why, {}});
    }

    void apply_suspend(Slot& slot, bool suspend, int64_t decided_us) {
        slot.inst->set_suspended(suspend);
        const bool idle = !suspend || slot.inst->wait_idle(std::chrono::seconds(5));
        const int64_t applied = now_us();
        slot.phase = suspend ? Phase::suspended : Phase::running;
        const double latency_ms = static_cast<double>(applied - decided_us) / 1000.0;
        log->warn("trial {}: {} applied {:.1f} ms after the decision was recorded", slot.trial.id,
                  suspend ? "SUSPEND" : "resume", latency_ms);
        host_event(suspend ? TB_SEV_WARNING : TB_SEV_INFO,
                   suspend ? "trial_suspended" : "trial_resumed", slot.trial.id,
                   suspend ? "delivery to the trial's plugin stopped" : "delivery resumed",
                   {{"latency_ms", latency_ms}});
        audit({applied,
               "host",
               suspend ? "enforce_suspend" : "enforce_resume",
               slot.trial.id,
               true,
               suspend ? (idle ? "plugin receives nothing more"
                               : "delivery stopped; a callback is still running")
                       : "delivery resumed",
               {{"decided_us", decided_us},
                {"applied_us", applied},
                {"latency_ms", latency_ms},
                {"dropped_not_running", slot.inst->context().counters().dropped_not_running.load()},
                {"delivered", slot.inst->context().counters().delivered.load()}}});
    }

    void reconcile() {
        auto trials = gov::load_trials(rdb, cfg->id);
        if (!trials) {
            log->error("reading trials: {}", trials.error().message);
            return;
        }
        const int64_t now = now_us();
        for (auto& t : *trials) {
            Slot* slot = nullptr;
            if (auto it = slots.find(t.id); it != slots.end()) slot = &it->second;
            if (t.live() && now >= t.until_us) {
                if (slot) halt(*slot, "trial window ended");
                transition(t, gov::Action::complete, "trial window ended");
            } else if (t.live() && now >= t.from_us) {
                if (t.state == TrialState::approved)
                    transition(t, gov::Action::activate, "trial window opened");
                if (!slot) {
                    std::lock_guard lock(mu_);
                    slot = &slots[t.id];
                    slot->trial = t;
                    slot->phase = Phase::refused;
                    launch(*slot);
                    continue;
                }
                slot->trial.state = t.state;
                if (t.state == TrialState::suspended && slot->phase == Phase::running) {
                    apply_suspend(*slot, true, t.updated_us);
                } else if (t.state == TrialState::active && slot->phase == Phase::suspended) {
                    apply_suspend(*slot, false, t.updated_us);
                }
            } else if (slot) {
                // Completed, rejected or otherwise out of its window by staff decision.
                halt(*slot, "trial is " + std::string(gov::to_string(t.state)));
            }
        }
    }

    void run() {
        int64_t last_version = -1;
        auto last_check = std::chrono::steady_clock::now() - opt.window_check;
        // Prepared once: this runs every 10 ms for the life of the host. It is reset right after
        // each read, so it never holds a read transaction open between polls.
        gov::Stmt data_version(rdb, "PRAGMA data_version");
        while (!quit.load()) {
            int64_t version = last_version;
            if (data_version.ok() && data_version.step() == SQLITE_ROW)
                version = data_version.col_i64(0);
            data_version.reset();
            const auto now = std::chrono::steady_clock::now();
            if (version != last_version || now - last_check >= opt.window_check) {
                last_version = version;
                last_check = now;
                reconcile();
            }
            std::this_thread::sleep_for(opt.poll);
        }
    }
};

Governor::Governor() : impl_(std::make_unique<Impl>()) {}
Governor::~Governor() { stop(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<Governor>> Governor::create(const TestbedConfig& cfg, GovernorOptions opt,
                                                   SqliteStore* store, Publisher* publisher,
                                                   Executor& executor, Router& router) {
    std::unique_ptr<Governor> g(new Governor());
    auto& im = *g->impl_;
    im.cfg = &cfg;
    im.opt = std::move(opt);
    im.store = store;
    im.publisher = publisher;
    im.executor = &executor;
    im.router = &router;
    auto db = open_database(im.opt.db, true);
    if (!db) return db.error();
    im.rdb = *db;
    return g;
}

Status Governor::start() {
    auto& im = *impl_;
    im.reconcile();
    std::size_t n = 0;
    for (const auto& [id, s] : im.slots)
        n += s.phase == Phase::running || s.phase == Phase::suspended;
    im.log->info(
        "governance: {} trial plugin(s) running on testbed '{}'; watching {} for staff decisions",
        n, im.cfg->id, im.opt.db.string());
    im.thread = std::thread([&im] { im.run(); });
    return {};
}

void Governor::stop(std::chrono::milliseconds drain_timeout) {
    auto& im = *impl_;
    if (im.stopped) return;
    im.stopped = true;
    im.quit.store(true);
    if (im.thread.joinable()) im.thread.join();
    for (auto& [id, s] : im.slots) {
        if (s.inst && (s.inst->state() == PluginState::running ||
                       s.inst->state() == PluginState::suspended)) {
            im.router->remove(s.inst.get());
            s.inst->stop(drain_timeout);
        }
    }
}

std::vector<PluginInstance*> Governor::instances() const {
    std::lock_guard lock(impl_->mu_);
    std::vector<PluginInstance*> out;
    for (const auto& [id, s] : impl_->slots) {
        if (s.inst) out.push_back(s.inst.get());
    }
    return out;
}

std::size_t Governor::running_trials() const {
    std::lock_guard lock(impl_->mu_);
    std::size_t n = 0;
    for (const auto& [id, s] : impl_->slots)
        n += s.phase == Phase::running || s.phase == Phase::suspended;
    return n;
}

}  // namespace tb::host
