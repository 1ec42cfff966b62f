// testbed trial ...: the municipal side of trials (propose, decide, list, show, purge).
//
// Every command works on the results database directly (the same file the host watches), so a
// decision takes effect in a running host within its governance poll. Each state change and each
// refusal is written to the hash-chained audit log in the same transaction as the change; a
// refusal changes nothing else. Exit codes: 0 done, 2 refused (bad input or illegal action),
// 1 failure (database error).
#include "commands.hpp"
#include "trial_common.hpp"

#include "common/clock.hpp"
#include "common/sha256.hpp"
#include "governance/audit.hpp"
#include "governance/decide.hpp"
#include "governance/pseudonym.hpp"
#include "governance/sql.hpp"
#include "governance/time_parse.hpp"
#include "governance/trial.hpp"
#include "loader/plugin_library.hpp"
#include "store/sqlite_store.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <filesystem>
#include <iomanip>
#include <iostream>

namespace tb::cli {

namespace fs = std::filesystem;
using host::gov::Action;
using host::gov::Trial;
using host::gov::TrialState;

DbHandle::~DbHandle() {
    if (db) sqlite3_close(db);
}

int refuse(sqlite3* db, const std::string& cmd, const std::string& actor, const std::string& action,
           std::optional<int64_t> trial_id, const std::string& message, nlohmann::json detail) {
    std::cerr << "testbed " << cmd << ": " << message << "\n";
    if (db != nullptr) {
        host::gov::AuditEntry e{host::now_us(), actor.empty() ? "(unknown)" : actor, action, trial_id, false, message,
                                std::move(detail)};
        if (auto r = host::gov::append_audit_tx(db, e); !r) {
            std::cerr << "testbed " << cmd << ": the refusal could not be audited: " << r.error().message << "\n";
            return kExitFailure;
        }
    }
    return kExitUsage;
}

namespace {

struct ProposeArgs {
    std::string plugin, org, testbed, from, until, purpose, trust = "isolated", baseline_from, baseline_until;
    std::string control, config, by, db = "results.db";
    std::vector<std::string> reads, publishes;
    int64_t retention_days = -1;
};

int run_propose(const ProposeArgs& a) {
    const std::string cmd = "trial propose";
    auto opened = host::open_database(a.db, true);
    if (!opened) {
        std::cerr << "testbed " << cmd << ": " << opened.error().message << "\n";
        return kExitUsage;
    }
    DbHandle h{*opened};
    const std::string actor = a.by.empty() ? a.org : a.by;
    auto no = [&](const std::string& msg, nlohmann::json detail = nlohmann::json::object()) {
        detail["plugin"] = a.plugin;
        detail["testbed"] = a.testbed;
        return refuse(h.db, cmd, actor, "propose", std::nullopt, msg, detail);
    };
    if (a.org.empty()) return no("--org is empty; name the organisation that runs the trial");
    if (a.testbed.empty()) return no("--testbed is empty; name the testbed id (e.g. city-centre)");
    if (a.purpose.empty()) return no("--purpose is empty; say what the trial is for");
    if (a.reads.empty()) return no("--reads needs at least one feed prefix the plugin may read");
    if (a.trust != "isolated" && a.trust != "in-process") {
        return no("--trust '" + a.trust + "' is not 'isolated' or 'in-process'");
    }
    Trial t;
    auto from = host::gov::parse_time(a.from, "--from");
    if (!from) return no(from.error().message);
    auto until = host::gov::parse_time(a.until, "--until");
    if (!until) return no(until.error().message);
    if (*until <= *from) {
        return no("the trial window is inverted or empty: --until " + host::gov::format_time(*until) +
                  " is not after --from " + host::gov::format_time(*from));
    }
    t.from_us = *from;
    t.until_us = *until;
    if (a.baseline_from.empty() != a.baseline_until.empty()) {
        return no("give both --baseline-from and --baseline-until, or neither");
    }
    if (!a.baseline_from.empty()) {
        auto bf = host::gov::parse_time(a.baseline_from, "--baseline-from");
        if (!bf) return no(bf.error().message);
        auto bu = host::gov::parse_time(a.baseline_until, "--baseline-until");
        if (!bu) return no(bu.error().message);
        if (*bu <= *bf) return no("the baseline window is inverted or empty: --baseline-until is not after --baseline-from");
        t.baseline_from_us = *bf;
        t.baseline_until_us = *bu;
    }
    if (!a.control.empty()) {
        auto j = nlohmann::json::parse(a.control, nullptr, false);
        t.control = j.is_discarded() ? nlohmann::json(a.control) : j;
    }
    if (a.retention_days >= 0) t.retention_days = a.retention_days;
    if (!a.config.empty()) {
        auto j = nlohmann::json::parse(a.config, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return no("--config is not a JSON object, e.g. '{\"alert_level_m\": -0.4}'");
        t.config = j;
    }
    const fs::path file = fs::absolute(a.plugin).lexically_normal();
    auto lib = host::PluginLibrary::load(file);
    if (!lib) return no("--plugin: " + lib.error().message);
    const auto& m = (*lib)->manifest();
    std::string outside;
    if (!host::gov::grant_within(a.reads, m.reads, &outside)) {
        return no("--reads '" + outside + "' is more than plugin '" + m.id + "' declares in its manifest (reads: " +
                  nlohmann::json(m.reads).dump() + "); ask only for declared feeds or narrower prefixes");
    }
    if (!host::gov::grant_within(a.publishes, m.publishes, &outside)) {
        return no("--publishes '" + outside + "' is more than plugin '" + m.id +
                  "' declares in its manifest (publishes: " + nlohmann::json(m.publishes).dump() + ")");
    }
    for (const auto& [key, value] : t.config.items()) {
        if (m.config_key(key) == nullptr) return no("--config key '" + key + "' is not declared by plugin '" + m.id + "'");
    }
    t.plugin_id = m.id;
    t.plugin_version = m.version;
    t.plugin_file = file.string();
    t.plugin_sha256 = (*lib)->sha256();
    t.manifest = m.to_json();
    t.organisation = a.org;
    t.testbed = a.testbed;
    t.reads = a.reads;
    t.publishes = a.publishes;
    t.purpose = a.purpose;
    t.trust = a.trust;
    t.state = TrialState::proposed;
    t.created_us = t.updated_us = host::now_us();

    if (auto s = host::gov::begin_immediate(h.db); !s) {
        std::cerr << "testbed " << cmd << ": " << s.message() << "\n";
        return kExitFailure;
    }
    auto overlap = host::gov::overlapping_trials(h.db, t);
    if (overlap && !overlap->empty()) {
        host::gov::rollback(h.db);
        return no("the window overlaps live trial " + std::to_string(overlap->front()) + " of plugin '" + t.plugin_id +
                  "' on testbed '" + t.testbed + "'; choose a window after it or complete that trial first");
    }
    auto id = host::gov::insert_trial(h.db, t);
    if (!id) {
        host::gov::rollback(h.db);
        std::cerr << "testbed " << cmd << ": " << id.error().message << "\n";
        return kExitFailure;
    }
    host::gov::AuditEntry e{host::now_us(), actor, "propose", *id, true, t.purpose,
                            {{"plugin_id", t.plugin_id}, {"version", t.plugin_version}, {"sha256", t.plugin_sha256},
                             {"testbed", t.testbed}, {"reads", t.reads}, {"publishes", t.publishes},
                             {"from_us", t.from_us}, {"until_us", t.until_us}}};
    if (auto r = host::gov::append_audit(h.db, e); !r) {
        host::gov::rollback(h.db);
        std::cerr << "testbed " << cmd << ": " << r.error().message << "\n";
        return kExitFailure;
    }
    if (auto s = host::gov::commit(h.db); !s) {
        host::gov::rollback(h.db);
        std::cerr << "testbed " << cmd << ": " << s.message() << "\n";
        return kExitFailure;
    }
    // The pseudonym key is made now so that it never has to be created next to live data later.
    if (auto k = host::gov::KeyStore(host::gov::KeyStore::path_for(a.db)).get_or_create(*id); !k) {
        std::cerr << "testbed " << cmd << ": warning: " << k.error().message << "\n";
    }
    std::cout << "trial " << *id << " proposed: " << t.plugin_id << " " << t.plugin_version << " (sha256 "
              << t.plugin_sha256.substr(0, 12) << "...) on " << t.testbed << " from " << host::gov::format_time(t.from_us)
              << " until " << host::gov::format_time(t.until_us) << "\n";
    return kExitOk;
}

struct DecideArgs {
    std::string id, by, reason, db = "results.db";
};

int run_decide(Action action, const DecideArgs& a) {
    const std::string cmd = "trial " + std::string(host::gov::to_string(action));
    auto opened = host::open_database(a.db, false);
    if (!opened) {
        std::cerr << "testbed " << cmd << ": " << opened.error().message << "\n";
        return kExitUsage;
    }
    DbHandle h{*opened};
    const std::string act(host::gov::to_string(action));
    int64_t id = 0;
    try {
        std::size_t used = 0;
        id = std::stoll(a.id, &used);
        if (used != a.id.size() || id <= 0) throw std::invalid_argument("id");
    } catch (const std::exception&) {
        return refuse(h.db, cmd, a.by, act, std::nullopt, "'" + a.id + "' is not a trial id (a positive number; see 'testbed trial list')");
    }
    // The same decision path as the HTTP API's emergency stop (governance/decide.hpp).
    auto out = host::gov::decide(h.db, {id, action, a.by, a.reason});
    if (!out) {
        std::cerr << "testbed " << cmd << ": " << out.error().message << "\n";
        return out.error().reason == "refused" ? kExitUsage : kExitFailure;
    }
    std::cout << "trial " << id << ": " << host::gov::to_string(out->from) << " -> " << host::gov::to_string(out->to)
              << " by " << a.by << " (" << a.reason << ")";
    if (action == Action::suspend) std::cout << "; a running host stops delivery at its next governance poll";
    std::cout << "\n";
    return kExitOk;
}

struct ListArgs {
    std::string db = "results.db", testbed;
    bool json = false;
    std::string id;
};

int run_list(const ListArgs& a) {
    auto opened = host::open_database(a.db, false);
    if (!opened) {
        std::cerr << "testbed trial list: " << opened.error().message << "\n";
        return kExitUsage;
    }
    DbHandle h{*opened};
    auto trials = host::gov::load_trials(h.db, a.testbed);
    if (!trials) {
        std::cerr << "testbed trial list: " << trials.error().message << "\n";
        return kExitFailure;
    }
    if (a.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& t : *trials) out.push_back(t.to_json());
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    std::cout << std::left << std::setw(5) << "id" << std::setw(11) << "state" << std::setw(26) << "plugin"
              << std::setw(14) << "testbed" << std::setw(44) << "window (UTC)" << "organisation\n";
    for (const auto& t : *trials) {
        std::cout << std::left << std::setw(5) << t.id << std::setw(11) << host::gov::to_string(t.state) << std::setw(26)
                  << (t.plugin_id + " " + t.plugin_version) << std::setw(14) << t.testbed << std::setw(44)
                  << (host::gov::format_time(t.from_us) + " .. " + host::gov::format_time(t.until_us))
                  << t.organisation << "\n";
    }
    if (trials->empty()) std::cout << "(no trials; propose one with 'testbed trial propose')\n";
    return kExitOk;
}

int run_show(const ListArgs& a) {
    auto opened = host::open_database(a.db, false);
    if (!opened) {
        std::cerr << "testbed trial show: " << opened.error().message << "\n";
        return kExitUsage;
    }
    DbHandle h{*opened};
    int64_t id = 0;
    try {
        id = std::stoll(a.id);
    } catch (const std::exception&) {
        std::cerr << "testbed trial show: '" << a.id << "' is not a trial id\n";
        return kExitUsage;
    }
    auto t = host::gov::load_trial(h.db, id);
    if (!t) {
        std::cerr << "testbed trial show: " << t.error().message << "\n";
        return kExitUsage;
    }
    nlohmann::json j = t->to_json();
    j["manifest"] = t->manifest;
    j["audit"] = nlohmann::json::array();
    {
        host::gov::Stmt st(h.db, "SELECT id, t_us, actor, action, outcome, reason, detail_json FROM audit_log "
                                 "WHERE trial_id = ? ORDER BY id");
        st.i64(1, id);
        while (st.step() == SQLITE_ROW) {
            j["audit"].push_back({{"id", st.col_i64(0)}, {"time", host::gov::format_time(st.col_i64(1))},
                                  {"actor", st.col_text(2)}, {"action", st.col_text(3)}, {"outcome", st.col_text(4)},
                                  {"reason", st.col_text(5)},
                                  {"detail", nlohmann::json::parse(st.col_text(6), nullptr, false)}});
        }
    }
    j["rehearsals"] = nlohmann::json::array();
    {
        host::gov::Stmt st(h.db, "SELECT id, t_us, recording, recording_sha256, database, summary_json FROM rehearsals "
                                 "WHERE trial_id = ? ORDER BY id");
        st.i64(1, id);
        while (st.ok() && st.step() == SQLITE_ROW) {
            j["rehearsals"].push_back({{"id", st.col_i64(0)}, {"time", host::gov::format_time(st.col_i64(1))},
                                       {"recording", st.col_text(2)}, {"recording_sha256", st.col_text(3)},
                                       {"database", st.col_text(4)},
                                       {"summary", nlohmann::json::parse(st.col_text(5), nullptr, false)}});
        }
    }
    std::cout << j.dump(2) << "\n";
    return kExitOk;
}

struct PurgeArgs {
    std::string db = "results.db", by = "retention";
};

int run_purge(const PurgeArgs& a) {
    auto opened = host::open_database(a.db, false);
    if (!opened) {
        std::cerr << "testbed trial purge: " << opened.error().message << "\n";
        return kExitUsage;
    }
    DbHandle h{*opened};
    auto trials = host::gov::load_trials(h.db);
    if (!trials) {
        std::cerr << "testbed trial purge: " << trials.error().message << "\n";
        return kExitFailure;
    }
    const int64_t now = host::now_us();
    int purged_trials = 0;
    for (const auto& t : *trials) {
        if (!t.retention_days) continue;
        const int64_t cutoff = now - *t.retention_days * 86'400'000'000LL;
        if (auto s = host::gov::begin_immediate(h.db); !s) {
            std::cerr << "testbed trial purge: " << s.message() << "\n";
            return kExitFailure;
        }
        int64_t metrics = 0, events = 0;
        {
            host::gov::Stmt st(h.db, "DELETE FROM metrics WHERE t_us < ? AND series_id IN (SELECT s.id FROM series s "
                                     "JOIN plugins p ON p.id = s.plugin_row WHERE p.trial_id = ?)");
            st.i64(1, cutoff);
            st.i64(2, t.id);
            if (st.step() != SQLITE_DONE) {
                std::cerr << "testbed trial purge: " << st.error() << "\n";
                host::gov::rollback(h.db);
                return kExitFailure;
            }
            metrics = sqlite3_changes(h.db);
        }
        {
            host::gov::Stmt st(h.db, "DELETE FROM events WHERE t_us < ? AND plugin_row IN (SELECT id FROM plugins "
                                     "WHERE trial_id = ?)");
            st.i64(1, cutoff);
            st.i64(2, t.id);
            if (st.step() != SQLITE_DONE) {
                std::cerr << "testbed trial purge: " << st.error() << "\n";
                host::gov::rollback(h.db);
                return kExitFailure;
            }
            events = sqlite3_changes(h.db);
        }
        // Raw rehearsal results live in their own database files; expired ones go as a whole.
        int64_t rehearsal_files = 0;
        {
            host::gov::Stmt st(h.db, "SELECT database FROM rehearsals WHERE trial_id = ? AND t_us < ?");
            st.i64(1, t.id);
            st.i64(2, cutoff);
            while (st.ok() && st.step() == SQLITE_ROW) {
                std::error_code ec;
                for (const char* suffix : {"", "-wal", "-shm"}) {
                    if (fs::remove(st.col_text(0) + suffix, ec) && *suffix == '\0') ++rehearsal_files;
                }
            }
        }
        // Once the trial is over and its retention has passed, its pseudonym key goes too:
        // whatever is left can then never be linked back to a home.
        bool key_destroyed = false;
        const bool over = t.state == TrialState::completed || t.state == TrialState::rejected;
        if (over && t.until_us < cutoff) {
            auto d = host::gov::KeyStore(host::gov::KeyStore::path_for(a.db)).destroy(t.id);
            key_destroyed = d && *d;
        }
        if (metrics + events + rehearsal_files == 0 && !key_destroyed) {
            host::gov::rollback(h.db);
            continue;
        }
        host::gov::AuditEntry e{now, a.by, "purge", t.id, true,
                                "retention of " + std::to_string(*t.retention_days) + " day(s) expired",
                                {{"cutoff_us", cutoff}, {"metrics", metrics}, {"events", events},
                                 {"rehearsal_databases", rehearsal_files}, {"key_destroyed", key_destroyed}}};
        if (auto r = host::gov::append_audit(h.db, e); !r) {
            host::gov::rollback(h.db);
            std::cerr << "testbed trial purge: " << r.error().message << "\n";
            return kExitFailure;
        }
        if (auto s = host::gov::commit(h.db); !s) {
            std::cerr << "testbed trial purge: " << s.message() << "\n";
            return kExitFailure;
        }
        ++purged_trials;
        std::cout << "trial " << t.id << ": purged " << metrics << " metric sample(s), " << events << " event(s), "
                  << rehearsal_files << " rehearsal database(s) older than " << host::gov::format_time(cutoff)
                  << (key_destroyed ? "; pseudonym key destroyed" : "") << "\n";
    }
    std::cout << "testbed trial purge: " << purged_trials << " trial(s) had expired data\n";
    return kExitOk;
}

}  // namespace

void register_trial_commands(CLI::App& app) {
    auto* trial = app.add_subcommand("trial", "Govern trials: propose, rehearse, approve, suspend, audit");
    trial->require_subcommand(1);

    auto p = std::make_shared<ProposeArgs>();
    auto* propose = trial->add_subcommand("propose", "Propose a trial of a plugin build on a testbed");
    propose->add_option("--plugin", p->plugin, "The plugin library (.so) to run; its SHA-256 is recorded")->required();
    propose->add_option("--org", p->org, "Organisation running the trial")->required();
    propose->add_option("--testbed", p->testbed, "Testbed id, e.g. city-centre")->required();
    propose->add_option("--reads", p->reads, "Feed prefixes the plugin may read (within its manifest)")->required();
    propose->add_option("--publishes", p->publishes, "Topic prefixes the plugin may publish (within its manifest)");
    propose->add_option("--from", p->from, "Window start: ISO 8601 with zone (2026-03-01T08:00:00Z) or unix seconds")
        ->required();
    propose->add_option("--until", p->until, "Window end (exclusive), same formats")->required();
    propose->add_option("--purpose", p->purpose, "What the trial is for (published in the register)")->required();
    propose->add_option("--trust", p->trust, "isolated (default) or in-process")->capture_default_str();
    propose->add_option("--baseline-from", p->baseline_from, "Baseline window start (for evaluation)");
    propose->add_option("--baseline-until", p->baseline_until, "Baseline window end");
    propose->add_option("--control", p->control, "Control group for evaluation (JSON or text)");
    propose->add_option("--retention-days", p->retention_days, "Days raw results are kept (testbed trial purge)")
        ->check(CLI::NonNegativeNumber);
    propose->add_option("--config", p->config, "Plugin config as a JSON object (else testbed.toml [[plugins]])");
    propose->add_option("--by", p->by, "Who proposes (default: the organisation)");
    propose->add_option("--db", p->db, "Results database (created if missing)")->capture_default_str();
    propose->callback([p] {
        if (const int rc = run_propose(*p); rc != 0) throw CLI::RuntimeError(rc);
    });

    const std::pair<Action, const char*> decisions[] = {
        {Action::approve, "Approve a proposed trial"},
        {Action::reject, "Reject a proposed trial"},
        {Action::suspend, "Emergency stop: the plugin receives nothing more (within 100 ms on a running host)"},
        {Action::resume, "Resume a suspended trial"},
        {Action::complete, "Complete a trial: its plugin stops for good"}};
    for (const auto& [action, help] : decisions) {
        auto d = std::make_shared<DecideArgs>();
        auto* sub = trial->add_subcommand(std::string(host::gov::to_string(action)), help);
        sub->add_option("id", d->id, "Trial id")->required();
        sub->add_option("--by", d->by, "Who decides (required; recorded in the audit log)");
        sub->add_option("--reason", d->reason, "Why (required; recorded in the audit log)");
        sub->add_option("--db", d->db, "Results database")->capture_default_str();
        const Action act = action;
        sub->callback([d, act] {
            if (const int rc = run_decide(act, *d); rc != 0) throw CLI::RuntimeError(rc);
        });
    }

    auto l = std::make_shared<ListArgs>();
    auto* list = trial->add_subcommand("list", "List trials");
    list->add_option("--db", l->db, "Results database")->capture_default_str();
    list->add_option("--testbed", l->testbed, "Only this testbed");
    list->add_flag("--json", l->json, "JSON instead of a table");
    list->callback([l] {
        if (const int rc = run_list(*l); rc != 0) throw CLI::RuntimeError(rc);
    });

    auto s = std::make_shared<ListArgs>();
    auto* show = trial->add_subcommand("show", "Show one trial with its audit trail and rehearsals (JSON)");
    show->add_option("id", s->id, "Trial id")->required();
    show->add_option("--db", s->db, "Results database")->capture_default_str();
    show->callback([s] {
        if (const int rc = run_show(*s); rc != 0) throw CLI::RuntimeError(rc);
    });

    auto pg = std::make_shared<PurgeArgs>();
    auto* purge = trial->add_subcommand("purge", "Delete raw results older than each trial's retention (audited)");
    purge->add_option("--db", pg->db, "Results database")->capture_default_str();
    purge->add_option("--by", pg->by, "Who runs the purge (recorded)")->capture_default_str();
    purge->callback([pg] {
        if (const int rc = run_purge(*pg); rc != 0) throw CLI::RuntimeError(rc);
    });

    register_rehearse_command(*trial);
}

}  // namespace tb::cli
