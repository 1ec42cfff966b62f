// testbed report: pilot results from a results database. Without --trial/--testbed/--plugin: the
// summary per plugin and metric (count/mean/min/max/p95) and events by severity. With them: the
// evaluation report per trial (KPIs against a baseline or control group, guardrails, data quality)
// as Markdown, HTML, JSON or CSV (tools/common/evaluation.hpp, docs/evaluation.md).
#include "commands.hpp"
#include "common/clock.hpp"
#include "common/evaluation.hpp"
#include "common/report_render.hpp"
#include "store/sqlite_store.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace tb::cli {
namespace {

struct ReportArgs {
    std::string db = "results.db";
    int64_t run = 0;
    bool json = false;
    // Evaluation mode.
    std::optional<int64_t> trial;
    std::string testbed;
    std::string plugin;
    std::string format;  // md | html | json | csv (default md; --json means json)
    std::string out;
    std::vector<std::string> control_subjects;
    std::string control_prefix;
    std::optional<double> baseline_from_s, baseline_until_s;
    std::optional<double> bucket_s;
};

struct SeriesStats {
    std::string instance, plugin_id, metric, unit;
    std::vector<double> values;
};

double percentile(std::vector<double>& v, double q) {
    // Nearest-rank on the sorted values.
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

int run_report(const ReportArgs& a) {
    auto db = host::open_database(a.db, false);
    if (!db) {
        std::cerr << "testbed report: " << db.error().message << "\n";
        return kExitUsage;
    }
    sqlite3* h = *db;
    const std::string run_filter = a.run > 0 ? " WHERE p.run_id = " + std::to_string(a.run) : "";

    std::map<std::pair<std::string, std::string>, SeriesStats> series;
    {
        const std::string sql =
            "SELECT p.instance, p.plugin_id, s.name, s.unit, m.value FROM metrics m JOIN series s ON s.id = m.series_id "
            "JOIN plugins p ON p.id = s.plugin_row" + run_filter;
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
            std::cerr << "testbed report: " << a.db << ": " << sqlite3_errmsg(h) << "\n";
            sqlite3_close(h);
            return kExitFailure;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
            const std::string inst = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
            const std::string metric = reinterpret_cast<const char*>(sqlite3_column_text(st, 2));
            auto& s = series[{inst, metric}];
            if (s.values.empty()) {
                s.instance = inst;
                s.plugin_id = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
                s.metric = metric;
                s.unit = reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
            }
            s.values.push_back(sqlite3_column_double(st, 4));
        }
        sqlite3_finalize(st);
    }
    // Events by plugin and severity (host events have no plugin).
    std::map<std::string, std::array<uint64_t, 5>> events;
    {
        const std::string sql =
            "SELECT COALESCE(p.instance, '(host)'), e.severity, COUNT(*) FROM events e LEFT JOIN plugins p ON p.id = e.plugin_row" +
            std::string(a.run > 0 ? " WHERE e.run_id = " + std::to_string(a.run) : "") + " GROUP BY 1, 2";
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr);
        while (st && sqlite3_step(st) == SQLITE_ROW) {
            const int sev = sqlite3_column_int(st, 1);
            events[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))][std::clamp(sev, 1, 4)] +=
                static_cast<uint64_t>(sqlite3_column_int64(st, 2));
        }
        sqlite3_finalize(st);
    }
    int runs = 0;
    {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM runs", -1, &st, nullptr);
        if (st && sqlite3_step(st) == SQLITE_ROW) runs = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    // Feed health per kind of source (the topic up to its last '/'), and malformed input by reason.
    nlohmann::json feeds = nlohmann::json::array(), drops = nlohmann::json::object();
    {
        const std::string where = a.run > 0 ? " WHERE run_id = " + std::to_string(a.run) : "";
        const std::string sql =
            "SELECT rtrim(source, replace(source, '/', '')) AS prefix, COUNT(*), SUM(messages), SUM(gaps), "
            "SUM(duplicates), SUM(out_of_order), SUM(stale_count), SUM(stale) FROM feed_health" + where +
            " GROUP BY prefix ORDER BY prefix";
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr);
        while (st && sqlite3_step(st) == SQLITE_ROW) {
            feeds.push_back({{"prefix", reinterpret_cast<const char*>(sqlite3_column_text(st, 0))},
                             {"sources", sqlite3_column_int64(st, 1)},
                             {"messages", sqlite3_column_int64(st, 2)},
                             {"gaps", sqlite3_column_int64(st, 3)},
                             {"duplicates", sqlite3_column_int64(st, 4)},
                             {"out_of_order", sqlite3_column_int64(st, 5)},
                             {"stale_periods", sqlite3_column_int64(st, 6)},
                             {"stale_now", sqlite3_column_int64(st, 7)}});
        }
        sqlite3_finalize(st);
        const std::string dsql = "SELECT reason, SUM(count) FROM ingest_drops" + where + " GROUP BY reason ORDER BY reason";
        sqlite3_prepare_v2(h, dsql.c_str(), -1, &st, nullptr);
        while (st && sqlite3_step(st) == SQLITE_ROW) {
            drops[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);

    nlohmann::json out;
    out["database"] = a.db;
    out["runs"] = runs;
    if (a.run > 0) out["run"] = a.run;
    out["feeds"] = feeds;
    out["ingest_dropped"] = drops;
    out["metrics"] = nlohmann::json::array();
    for (auto& [key, s] : series) {
        double sum = 0;
        for (double v : s.values) sum += v;
        const auto [mn, mx] = std::minmax_element(s.values.begin(), s.values.end());
        const double min = *mn, max = *mx;
        out["metrics"].push_back({{"plugin", s.instance},
                                  {"plugin_id", s.plugin_id},
                                  {"metric", s.metric},
                                  {"unit", s.unit},
                                  {"count", s.values.size()},
                                  {"mean", sum / static_cast<double>(s.values.size())},
                                  {"min", min},
                                  {"max", max},
                                  {"p95", percentile(s.values, 0.95)}});
    }
    out["events"] = nlohmann::json::array();
    for (const auto& [inst, c] : events) {
        out["events"].push_back({{"plugin", inst}, {"info", c[1]}, {"warning", c[2]}, {"major", c[3]}, {"critical", c[4]}});
    }
    if (a.json) {
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    std::printf("Pilot results from %s (%d run%s%s)\n\n", a.db.c_str(), runs, runs == 1 ? "" : "s",
                a.run > 0 ? (", run " + std::to_string(a.run) + " only").c_str() : "");
    if (out["metrics"].empty()) {
        std::printf("No metric samples recorded.\n");
    } else {
        std::printf("%-20s %-12s %-6s %10s %12s %12s %12s %12s\n", "plugin", "metric", "unit", "count", "mean", "min", "max", "p95");
        for (const auto& m : out["metrics"]) {
            std::printf("%-20s %-12s %-6s %10llu %12.4g %12.4g %12.4g %12.4g\n", m["plugin"].get<std::string>().c_str(),
                        m["metric"].get<std::string>().c_str(), m["unit"].get<std::string>().c_str(),
                        static_cast<unsigned long long>(m["count"].get<uint64_t>()), m["mean"].get<double>(),
                        m["min"].get<double>(), m["max"].get<double>(), m["p95"].get<double>());
        }
    }
    std::printf("\n");
    if (out["events"].empty()) {
        std::printf("No events recorded.\n");
    } else {
        std::printf("%-20s %8s %8s %8s %8s\n", "events by", "info", "warning", "major", "critical");
        for (const auto& e : out["events"]) {
            std::printf("%-20s %8llu %8llu %8llu %8llu\n", e["plugin"].get<std::string>().c_str(),
                        static_cast<unsigned long long>(e["info"].get<uint64_t>()),
                        static_cast<unsigned long long>(e["warning"].get<uint64_t>()),
                        static_cast<unsigned long long>(e["major"].get<uint64_t>()),
                        static_cast<unsigned long long>(e["critical"].get<uint64_t>()));
        }
    }
    std::printf("\n");
    if (feeds.empty()) {
        std::printf("No feed health recorded.\n");
    } else {
        std::printf("%-24s %8s %10s %8s %8s %8s %8s\n", "feed health", "sources", "messages", "gaps", "dups",
                    "disorder", "stale");
        for (const auto& f : feeds) {
            std::printf("%-24s %8lld %10lld %8lld %8lld %8lld %8lld\n", f["prefix"].get<std::string>().c_str(),
                        static_cast<long long>(f["sources"].get<int64_t>()), static_cast<long long>(f["messages"].get<int64_t>()),
                        static_cast<long long>(f["gaps"].get<int64_t>()), static_cast<long long>(f["duplicates"].get<int64_t>()),
                        static_cast<long long>(f["out_of_order"].get<int64_t>()),
                        static_cast<long long>(f["stale_periods"].get<int64_t>()));
        }
    }
    if (!drops.empty()) std::printf("Malformed messages dropped, by reason: %s\n", drops.dump().c_str());
    return kExitOk;
}

int fail(int code, const std::string& msg) {
    std::cerr << "testbed report: " << msg << "\n";
    return code;
}

int run_evaluation(const ReportArgs& a) {
    const int modes = (a.trial ? 1 : 0) + (a.testbed.empty() ? 0 : 1) + (a.plugin.empty() ? 0 : 1);
    if (modes > 1) return fail(kExitUsage, "give only one of --trial, --testbed and --plugin");
    const bool adhoc_flags = !a.control_subjects.empty() || !a.control_prefix.empty() || a.baseline_from_s ||
                             a.baseline_until_s;
    if (adhoc_flags && a.plugin.empty()) {
        return fail(kExitUsage, "--control-subjects, --control-prefix and --baseline-from/--baseline-until describe an "
                                "ad-hoc evaluation and need --plugin; a trial stores its own baseline and control group");
    }
    if (a.baseline_from_s.has_value() != a.baseline_until_s.has_value() ||
        (a.baseline_from_s && *a.baseline_until_s <= *a.baseline_from_s)) {
        return fail(kExitUsage, "--baseline-from and --baseline-until go together, and until must be after from "
                                "(seconds since the Unix epoch)");
    }
    auto dbr = host::open_database(a.db, false);
    if (!dbr) return fail(kExitUsage, dbr.error().message);
    sqlite3* db = *dbr;
    std::vector<report::EvaluationSpec> specs;
    if (a.trial) {
        auto s = report::spec_for_trial(db, *a.trial);
        if (!s) {
            sqlite3_close(db);
            return fail(kExitUsage, a.db + ": " + s.error().message + " (list trials with `testbed trial list`)");
        }
        specs.push_back(std::move(*s));
    } else if (!a.testbed.empty()) {
        auto ids = report::trials_of_testbed(db, a.testbed);
        if (!ids) {
            sqlite3_close(db);
            return fail(kExitUsage, a.db + ": " + ids.error().message);
        }
        for (int64_t id : *ids) {
            auto s = report::spec_for_trial(db, id);
            if (!s) {
                sqlite3_close(db);
                return fail(kExitFailure, a.db + ": " + s.error().message);
            }
            specs.push_back(std::move(*s));
        }
        if (specs.empty()) std::cerr << "testbed report: " << a.db << " has no trials for testbed '" << a.testbed << "'\n";
    } else {
        report::EvaluationSpec s;
        s.plugin_id = a.plugin;
        s.control_subjects = a.control_subjects;
        s.control_prefix = a.control_prefix;
        if (a.baseline_from_s) {
            s.baseline_from_us = static_cast<int64_t>(*a.baseline_from_s * 1e6);
            s.baseline_until_us = static_cast<int64_t>(*a.baseline_until_s * 1e6);
        }
        if (a.run > 0) s.run_id = a.run;
        specs.push_back(std::move(s));
    }
    std::vector<report::TrialReport> reports;
    for (auto& s : specs) {
        if (a.bucket_s) s.bucket_us = static_cast<int64_t>(*a.bucket_s * 1e6);
        auto r = report::evaluate(db, s);
        if (!r) {
            sqlite3_close(db);
            return fail(kExitFailure, a.db + ": " + r.error().message);
        }
        reports.push_back(std::move(*r));
    }
    sqlite3_close(db);
    const std::string fmt = a.format.empty() ? (a.json ? "json" : "md") : a.format;
    report::RenderContext ctx{a.db, report::iso_time(host::now_us())};
    std::string text;
    if (fmt == "md") text = report::render_markdown(reports, ctx);
    else if (fmt == "html") text = report::render_html(reports, ctx);
    else if (fmt == "json") text = report::render_json(reports, ctx);
    else text = report::render_csv(reports, ctx);
    if (a.out.empty()) {
        std::cout << text;
        return kExitOk;
    }
    std::ofstream f(a.out, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) return fail(kExitFailure, a.out + ": cannot write the report (check the folder exists and is writable)");
    std::cout << "testbed report: wrote " << a.out << "\n";
    return kExitOk;
}

}  // namespace

void register_report_commands(CLI::App& app) {
    auto a = std::make_shared<ReportArgs>();
    auto* rep = app.add_subcommand("report", "Summarise pilot results: per plugin and metric, and events by severity");
    rep->add_option("--db", a->db, "Results database")->capture_default_str();
    rep->add_option("--run", a->run, "Only this run id (default: every run in the database)");
    rep->add_flag("--json", a->json, "Print JSON instead of a table");
    rep->add_option("--trial", a->trial, "Evaluate this trial: KPIs vs baseline or control, guardrails, data quality");
    rep->add_option("--testbed", a->testbed, "Evaluate every trial of this testbed");
    rep->add_option("--plugin", a->plugin, "Evaluate a plugin id without a trial record (ad hoc; see --control-*)");
    rep->add_option("--format", a->format, "Evaluation output: md (default), html, json or csv")
        ->check(CLI::IsMember({"md", "html", "json", "csv"}));
    rep->add_option("--out", a->out, "Write the evaluation to this file instead of stdout");
    rep->add_option("--control-subjects", a->control_subjects, "With --plugin: subjects forming the control group")
        ->delimiter(',');
    rep->add_option("--control-prefix", a->control_prefix, "With --plugin: subjects starting with this are control");
    rep->add_option("--baseline-from", a->baseline_from_s, "With --plugin: baseline window start (s since epoch)");
    rep->add_option("--baseline-until", a->baseline_until_s, "With --plugin: baseline window end (s since epoch)");
    rep->add_option("--bucket", a->bucket_s, "Bucket width in seconds for the test (default: automatic)")
        ->check(CLI::PositiveNumber);
    rep->callback([a] {
        const bool evaluation = a->trial || !a->testbed.empty() || !a->plugin.empty();
        if (!evaluation && (!a->format.empty() || !a->out.empty())) {
            std::cerr << "testbed report: --format and --out apply to an evaluation: add --trial ID, --testbed NAME "
                         "or --plugin ID\n";
            throw CLI::RuntimeError(kExitUsage);
        }
        const int rc = evaluation ? run_evaluation(*a) : run_report(*a);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
