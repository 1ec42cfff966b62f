// testbed trial rehearse ID --replay RECORDING: run a proposed trial's plugin against recorded
// city data, isolated from any live host, and keep what it would have done for the reviewer.
//
// The plugin (the trial's exact file, hash-checked) runs in this process on the host runtime
// (PluginContext + in-process instance on a private executor) with the trial's grant: only
// messages under its read prefixes are delivered, publications outside its publish grant are
// refused, household ids are pseudonymised with the trial's key when --testbed names personal
// sensor groups. Raw results (metrics, events) go to a separate rehearsal database next to the
// results database, never into the live tables; the summary (counts, metric statistics, events,
// publications, errors, callback timings) is stored in the rehearsals table and shown by
// `testbed trial show`. Nothing is published anywhere.
#include "commands.hpp"
#include "trial_common.hpp"

#include "common/clock.hpp"
#include "common/recording.hpp"
#include "common/sha256.hpp"
#include "config/testbed_config.hpp"
#include "governance/audit.hpp"
#include "governance/pseudonym.hpp"
#include "governance/sql.hpp"
#include "governance/time_parse.hpp"
#include "governance/trial.hpp"
#include "host/host.hpp"
#include "loader/plugin_library.hpp"
#include "runtime/executor.hpp"
#include "runtime/in_process.hpp"
#include "store/sqlite_store.hpp"
#include "wire/wire.hpp"

#include <CLI/CLI.hpp>
#include <sqlite3.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

namespace tb::cli {
namespace {

namespace fs = std::filesystem;

struct RehearseArgs {
    std::string id, replay, testbed, by, db = "results.db";
};

int run_rehearse(const RehearseArgs& a) {
    const std::string cmd = "trial rehearse";
    auto opened = host::open_database(a.db, false);
    if (!opened) {
        std::cerr << "testbed " << cmd << ": " << opened.error().message << "\n";
        return kExitUsage;
    }
    DbHandle h{*opened};
    int64_t id = 0;
    try {
        id = std::stoll(a.id);
    } catch (const std::exception&) {
        return refuse(h.db, cmd, a.by, "rehearse", std::nullopt, "'" + a.id + "' is not a trial id");
    }
    auto t = host::gov::load_trial(h.db, id);
    if (!t) return refuse(h.db, cmd, a.by, "rehearse", id, t.error().message);
    const std::string actor = a.by.empty() ? t->organisation : a.by;
    auto no = [&](const std::string& msg) { return refuse(h.db, cmd, actor, "rehearse", id, msg); };
    auto sha = host::sha256_file(t->plugin_file);
    if (!sha) return no(sha.error().message);
    if (*sha != t->plugin_sha256) {
        return no("the plugin file " + t->plugin_file + " changed since trial " + std::to_string(id) +
                  " was proposed; rehearse the build that was proposed, or propose the new one");
    }
    auto reader = tools::RecordingReader::open(a.replay);
    if (!reader) return no("--replay: " + reader.error().message);
    auto rec_sha = host::sha256_file(a.replay);
    std::unique_ptr<host::gov::Pseudonymiser> pseud;
    if (!a.testbed.empty()) {
        auto cfg = host::load_testbed(a.testbed);
        if (!cfg) return no("--testbed: " + cfg.error().message);
        auto key = host::gov::KeyStore(host::gov::KeyStore::path_for(a.db)).get_or_create(id);
        if (!key) return no(key.error().message);
        pseud = std::make_unique<host::gov::Pseudonymiser>(*cfg, *key);
    }
    auto lib = host::PluginLibrary::load(t->plugin_file);
    if (!lib) return no(lib.error().message);
    const auto& m = (*lib)->manifest();

    const int64_t started = host::now_us();
    const fs::path rdb = a.db + ".rehearsal-" + std::to_string(id) + "-" + std::to_string(started / 1000) + ".db";
    nlohmann::json summary;
    {
        auto store = host::SqliteStore::open(rdb);
        if (!store) return no("rehearsal database: " + store.error().message);
        auto run = (*store)->begin_run({"rehearsal:trial-" + std::to_string(id), host::kHostVersion, started,
                                        {{"trial_id", id}, {"recording", a.replay}}});
        if (!run) return no(run.error().message);
        host::PluginRegistration reg;
        reg.run_id = *run;
        reg.instance = t->plugin_id + "#" + std::to_string(id) + "-rehearsal";
        reg.plugin_id = m.id;
        reg.version = m.version;
        reg.organisation = m.organisation;
        reg.file = t->plugin_file;
        reg.sha256 = t->plugin_sha256;
        reg.mode = "rehearsal";
        reg.trial_id = id;
        reg.manifest = m.to_json();
        static const char* kBetter[] = {"?", "higher", "lower", "neither"};
        for (const auto& x : m.metrics) reg.series.push_back({x.name, x.unit, kBetter[x.better], x.description});
        auto prec = (*store)->register_plugin(reg);
        if (!prec) return no(prec.error().message);
        host::PluginContextOptions co;
        co.instance = reg.instance;
        co.manifest = m;
        co.config = t->config.is_object() ? t->config : nlohmann::json::object();
        co.run_id = *run;
        auto ctx = std::make_unique<host::PluginContext>(std::move(co), store->get(), nullptr);
        ctx->set_record(*prec);
        auto pubs = std::make_shared<std::map<std::string, uint64_t>>();
        auto pubs_mu = std::make_shared<std::mutex>();
        const auto grant = t->publishes;
        ctx->set_publish_policy([grant, pubs, pubs_mu](std::string_view topic) {
            bool ok = false;
            for (const auto& p : grant) ok = ok || topic.substr(0, p.size()) == p;
            std::lock_guard lock(*pubs_mu);
            (*pubs)[(ok ? "" : "DENIED ") + std::string(topic)]++;
            return ok;
        });
        auto* ctx_raw = ctx.get();
        host::Executor ex(1);
        auto inst = host::make_in_process_instance(*lib, std::move(ctx), ex, {10000, host::OverflowPolicy::drop_newest});
        if (auto s = inst->start(); !s) {
            ex.stop();
            (void)(*store)->close();
            return no("the plugin failed to start: " + s.message());
        }
        uint64_t total = 0, granted = 0, not_granted = 0, malformed = 0;
        std::string read_error;
        tools::RecordedMessage msg;
        for (;;) {
            auto r = (*reader)->next(msg);
            if (!r) {
                read_error = r.error().message;
                break;
            }
            if (!*r) break;
            ++total;
            wire::Header hdr;
            wire::DropReason why{};
            if (msg.frames.size() != 3 || !wire::valid_topic(msg.frames[0]) ||
                !wire::decode_header(msg.frames[1], hdr, why)) {
                ++malformed;
                continue;
            }
            bool in_grant = false;
            for (const auto& p : t->reads) in_grant = in_grant || msg.frames[0].compare(0, p.size(), p) == 0;
            if (!in_grant) {
                ++not_granted;
                continue;
            }
            ++granted;
            auto fm = std::make_shared<host::FeedMessage>();
            if (!pseud || !pseud->apply(msg.frames[0], msg.frames[2], fm->topic, fm->payload)) {
                fm->topic = msg.frames[0];
                fm->payload = msg.frames[2];
            }
            fm->header = hdr;
            fm->receive_time_us = msg.receive_time_us;
            fm->receive_mono_ns = host::mono_ns();
            // Replay as fast as the plugin takes it, without losing messages to a full inbox.
            for (int i = 0; i < 60000 && inst->inbox_depth() > 5000; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            inst->deliver(fm);
        }
        for (int i = 0; i < 60000 && inst->inbox_depth() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const auto log_tail = ctx_raw->log_tail();
        inst->stop(std::chrono::seconds(5));
        auto stats = inst->stats_json();
        ex.stop();
        (void)(*store)->save_plugin_stats(prec->plugin_row, stats);
        (void)(*store)->end_run(*run, host::now_us(), stats, {}, {});
        (void)(*store)->close();
        inst.reset();
        summary = {{"messages_in_recording", total},
                   {"messages_in_grant", granted},
                   {"messages_outside_grant", not_granted},
                   {"messages_malformed", malformed},
                   {"plugin", stats},
                   {"publications", *pubs},
                   {"log_tail", log_tail}};
        if (!read_error.empty()) summary["recording_error"] = read_error;
    }
    // Statistics of what it recorded, from the rehearsal database.
    {
        auto r = host::open_database(rdb, false);
        if (r) {
            DbHandle rh{*r};
            nlohmann::json metrics = nlohmann::json::object();
            host::gov::Stmt st(rh.db, "SELECT s.name, s.unit, COUNT(m.id), MIN(m.value), MAX(m.value), AVG(m.value) "
                                      "FROM series s LEFT JOIN metrics m ON m.series_id = s.id GROUP BY s.id");
            while (st.step() == SQLITE_ROW) {
                metrics[st.col_text(0)] = {{"unit", st.col_text(1)}, {"count", st.col_i64(2)},
                                           {"min", nullptr}};
                metrics[st.col_text(0)]["min"] = st.col_null(3) ? nlohmann::json() : nlohmann::json(std::stod(st.col_text(3)));
                metrics[st.col_text(0)]["max"] = st.col_null(4) ? nlohmann::json() : nlohmann::json(std::stod(st.col_text(4)));
                metrics[st.col_text(0)]["mean"] = st.col_null(5) ? nlohmann::json() : nlohmann::json(std::stod(st.col_text(5)));
            }
            summary["metrics"] = metrics;
            nlohmann::json events = nlohmann::json::array();
            nlohmann::json kinds = nlohmann::json::object();
            host::gov::Stmt ev(rh.db, "SELECT severity, kind, subject, message, t_us FROM events ORDER BY id");
            while (ev.step() == SQLITE_ROW) {
                const std::string kind = ev.col_text(1);
                kinds[kind] = kinds.value(kind, 0) + 1;
                if (events.size() < 50) {
                    events.push_back({{"severity", ev.col_i64(0)}, {"kind", kind}, {"subject", ev.col_text(2)},
                                      {"message", ev.col_text(3)}, {"time", host::gov::format_time(ev.col_i64(4))}});
                }
            }
            summary["events_by_kind"] = kinds;
            summary["events"] = events;
        }
    }
    if (auto s = host::gov::begin_immediate(h.db); !s) {
        std::cerr << "testbed " << cmd << ": " << s.message() << "\n";
        return kExitFailure;
    }
    host::gov::Stmt ins(h.db, "INSERT INTO rehearsals(trial_id, t_us, recording, recording_sha256, plugin_sha256, "
                              "database, summary_json) VALUES (?,?,?,?,?,?,?)");
    ins.i64(1, id);
    ins.i64(2, started);
    ins.text(3, fs::absolute(a.replay).string());
    ins.text(4, rec_sha ? *rec_sha : "");
    ins.text(5, t->plugin_sha256);
    ins.text(6, fs::absolute(rdb).string());
    ins.text(7, summary.dump());
    if (ins.step() != SQLITE_DONE) {
        host::gov::rollback(h.db);
        std::cerr << "testbed " << cmd << ": recording the rehearsal: " << ins.error() << "\n";
        return kExitFailure;
    }
    host::gov::AuditEntry e{host::now_us(), actor, "rehearse", id, true, "rehearsal on " + a.replay,
                            {{"recording_sha256", rec_sha ? *rec_sha : ""},
                             {"messages", summary["messages_in_grant"]}}};
    if (auto r = host::gov::append_audit(h.db, e); !r) {
        host::gov::rollback(h.db);
        std::cerr << "testbed " << cmd << ": " << r.error().message << "\n";
        return kExitFailure;
    }
    if (auto s = host::gov::commit(h.db); !s) {
        std::cerr << "testbed " << cmd << ": " << s.message() << "\n";
        return kExitFailure;
    }
    const auto& ps = summary["plugin"];
    std::cout << "trial " << id << " rehearsed on " << summary["messages_in_recording"] << " recorded message(s): "
              << summary["messages_in_grant"] << " in its grant delivered " << ps.value("delivered", uint64_t{0})
              << ", callback errors " << ps.value("callback_errors", uint64_t{0}) << ", bad data "
              << ps.value("bad_data", uint64_t{0}) << ", metrics " << ps.value("metrics", uint64_t{0}) << ", events "
              << ps.value("events", uint64_t{0}) << ", publications " << ps.value("published", uint64_t{0})
              << " (refused " << ps.value("publish_denied", uint64_t{0}) << "), callback p50/p99 "
              << ps.value("callback_p50_us", 0.0) << "/" << ps.value("callback_p99_us", 0.0) << " us\n"
              << "  raw results: " << rdb.string() << "; details: testbed trial show " << id << "\n";
    if (summary.contains("recording_error")) {
        std::cerr << "testbed " << cmd << ": warning: the recording ended early: "
                  << summary["recording_error"].get<std::string>() << "\n";
    }
    return kExitOk;
}

}  // namespace

void register_rehearse_command(CLI::App& trial) {
    auto a = std::make_shared<RehearseArgs>();
    auto* sub = trial.add_subcommand("rehearse", "Run a trial's plugin on a recording, isolated, and keep what it did");
    sub->add_option("id", a->id, "Trial id")->required();
    sub->add_option("--replay", a->replay, "Feed recording (TBREC, from 'testbed feed record')")->required();
    sub->add_option("--testbed", a->testbed, "Testbed folder: pseudonymise its personal sensor groups as the host would");
    sub->add_option("--by", a->by, "Who rehearses (default: the trial's organisation)");
    sub->add_option("--db", a->db, "Results database")->capture_default_str();
    sub->callback([a] {
        if (const int rc = run_rehearse(*a); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
