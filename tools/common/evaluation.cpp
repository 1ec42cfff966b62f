#include "common/evaluation.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace tb::report {
namespace {

using host::Error;

// A prepared statement that finalizes itself; bind by index, read by column.
class Query {
   public:
    Query(sqlite3* db, const std::string& sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK) {
            error_ = sqlite3_errmsg(db);
            st_ = nullptr;
        }
    }
    ~Query() { sqlite3_finalize(st_); }
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;
    bool ok() const { return st_ != nullptr; }
    const std::string& error() const { return error_; }
    Query& bind(int i, int64_t v) {
        if (st_) sqlite3_bind_int64(st_, i, v);
        return *this;
    }
    Query& bind(int i, const std::string& v) {
        if (st_) sqlite3_bind_text(st_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    bool step() {
        if (!st_) return false;
        const int rc = sqlite3_step(st_);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) error_ = sqlite3_errmsg(db_);
        return rc == SQLITE_ROW;
    }
    int64_t i64(int c) const { return sqlite3_column_int64(st_, c); }
    double dbl(int c) const { return sqlite3_column_double(st_, c); }
    bool null(int c) const { return sqlite3_column_type(st_, c) == SQLITE_NULL; }
    std::optional<int64_t> opt_i64(int c) const { return null(c) ? std::nullopt : std::optional<int64_t>(i64(c)); }
    std::string text(int c) const {
        const auto* p = sqlite3_column_text(st_, c);
        return p ? reinterpret_cast<const char*>(p) : "";
    }

   private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
    std::string error_;
};

bool table_exists(sqlite3* db, const std::string& name) {
    Query q(db, "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?");
    q.bind(1, name);
    return q.step();
}

std::set<std::string> columns_of(sqlite3* db, const std::string& table) {
    std::set<std::string> out;
    Query q(db, "SELECT name FROM pragma_table_info(?)");
    q.bind(1, table);
    while (q.step()) out.insert(q.text(0));
    return out;
}

std::string in_list(const std::vector<int64_t>& ids) {
    std::string s = "(";
    for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
    return s + ")";
}

struct SeriesInfo {
    int64_t id;
    std::string name, unit, better, description;
};

void finish_group(GroupData& g) {
    std::vector<double> v;
    v.reserve(g.samples.size());
    std::set<std::string> seen;
    for (const auto& s : g.samples) {
        v.push_back(s.value);
        if (!g.first_us || s.t_us < *g.first_us) g.first_us = s.t_us;
        if (!g.last_us || s.t_us > *g.last_us) g.last_us = s.t_us;
    }
    std::sort(g.samples.begin(), g.samples.end(), [](const auto& a, const auto& b) { return a.t_us < b.t_us; });
    g.figures = stats::describe(v);
}

std::string plural(int64_t n, const std::string& one, const std::string& many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

void compare(KpiResult& k, const EvaluationSpec& spec) {
    if (k.units_seen.size() > 1) {
        std::string list;
        for (const auto& u : k.units_seen) list += (list.empty() ? "" : ", ") + ("'" + u + "'");
        k.notes.push_back("mixed units (" + list + ") under one KPI name: the samples cannot be compared or "
                          "averaged; record each unit under its own metric name");
        k.verdict = "inconclusive";
        k.verdict_text = "Mixed units: no figures are computed.";
        return;
    }
    if (k.trial.figures.count == 0) k.notes.push_back("no samples recorded during the trial");
    else if (k.trial.figures.count == 1) k.notes.push_back("only one sample during the trial: no spread or test possible");
    if (k.comparison == "none") {
        k.notes.push_back("no baseline window or control group is named in the trial, so there is nothing to "
                          "compare with; only descriptive figures are given");
        k.verdict = "inconclusive";
        k.verdict_text = "No comparison group: whether the pilot helped cannot be said.";
        return;
    }
    if (k.reference.figures.count == 0) {
        k.notes.push_back(k.comparison == "control group" ? "no samples from the control group"
                                                          : "no samples in the baseline window");
    } else if (k.reference.figures.count == 1) {
        k.notes.push_back("only one " + k.reference.label + " sample: no spread or test possible");
    }
    if (k.trial.figures.count == 0 || k.reference.figures.count == 0) {
        k.verdict = "inconclusive";
        k.verdict_text = "Not enough data to compare.";
        return;
    }
    const int64_t span_t = *k.trial.last_us - *k.trial.first_us;
    const int64_t span_r = *k.reference.last_us - *k.reference.first_us;
    k.bucket_us = spec.bucket_us.value_or(stats::choose_bucket_width_us(span_t, span_r));
    if (k.comparison == "control group") {
        // Same period: one bucket grid for both groups, and a paired test per bucket.
        const int64_t origin = std::min(*k.trial.first_us, *k.reference.first_us);
        const int64_t span = std::max(*k.trial.last_us, *k.reference.last_us) - origin;
        k.bucket_us = spec.bucket_us.value_or(stats::choose_bucket_width_us(span, span));
        k.trial.buckets = stats::bucket_means(k.trial.samples, origin, k.bucket_us);
        k.reference.buckets = stats::bucket_means(k.reference.samples, origin, k.bucket_us);
        k.test = stats::paired(k.reference.buckets, k.trial.buckets);
    } else {
        // Before/after: each window cut into buckets of the same width from its first sample.
        k.trial.buckets = stats::bucket_means(k.trial.samples, *k.trial.first_us, k.bucket_us);
        k.reference.buckets = stats::bucket_means(k.reference.samples, *k.reference.first_us, k.bucket_us);
        std::vector<double> a, b;
        for (const auto& x : k.reference.buckets) a.push_back(x.mean);
        for (const auto& x : k.trial.buckets) b.push_back(x.mean);
        k.test = stats::welch(a, b);
    }
    const std::size_t na = k.test.n_a, nb = k.test.n_b;
    if (!k.test.ok) {
        k.notes.push_back(k.test.reason);
        k.verdict = "inconclusive";
        k.verdict_text = "Not enough independent data for a test: " + k.test.reason + ".";
        return;
    }
    if (k.test.lag1_autocorrelation && *k.test.lag1_autocorrelation > 0.5 && na + nb >= 10) {
        k.notes.push_back("the bucket means are still strongly autocorrelated (lag-1 " +
                          stats::format_number(*k.test.lag1_autocorrelation, 2) +
                          "): the confidence interval may be too narrow; longer windows or --bucket would help");
    }
    if (na < 5 || nb < 5) {
        k.notes.push_back("few independent periods (" + std::to_string(na) + " and " + std::to_string(nb) +
                          "): the test has little power");
    }
    k.verdict = verdict_for(k.test, k.better);
    const std::string diff = stats::format_number(k.test.difference, 3) + (k.unit.empty() ? "" : " " + k.unit);
    const std::string ci = "95% CI " + stats::format_number(k.test.ci_low, 3) + " to " +
                           stats::format_number(k.test.ci_high, 3);
    const std::string p = "p = " + stats::format_number(k.test.p_value, 2);
    if (k.verdict == "improved") {
        k.verdict_text = "Improved: " + diff + " versus the " + k.reference.label + " (" + ci + ", " + p + ").";
    } else if (k.verdict == "worsened") {
        k.verdict_text = "Worsened: " + diff + " versus the " + k.reference.label + " (" + ci + ", " + p + ").";
    } else if (k.verdict == "changed") {
        k.verdict_text = "Changed by " + diff + " (" + ci + ", " + p + "); this KPI has no better direction.";
    } else {
        k.verdict_text = "No significant change: " + diff + " (" + ci + ", " + p + "); the interval includes zero.";
    }
}

}  // namespace

std::string verdict_for(const stats::Comparison& c, const std::string& better) {
    if (!c.ok) return "inconclusive";
    if (!(c.p_value < 0.05)) return "no significant change";
    if (better == "lower") return c.difference < 0 ? "improved" : "worsened";
    if (better == "higher") return c.difference > 0 ? "improved" : "worsened";
    return "changed";
}

host::Status parse_control(const std::string& text, EvaluationSpec& spec) {
    if (text.empty() || text == "null") return {};
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return Error{"control_json is not a JSON object: " + text.substr(0, 80) +
                         " (expected e.g. {\"subjects\": [\"PS-0003\"]})",
                     "bad_control"};
    }
    if (j.contains("subjects")) {
        if (!j["subjects"].is_array()) return Error{"control_json: 'subjects' must be an array of strings", "bad_control"};
        for (const auto& s : j["subjects"]) {
            if (!s.is_string()) return Error{"control_json: 'subjects' must be an array of strings", "bad_control"};
            spec.control_subjects.push_back(s.get<std::string>());
        }
    }
    if (j.contains("subject_prefix")) {
        if (!j["subject_prefix"].is_string()) return Error{"control_json: 'subject_prefix' must be a string", "bad_control"};
        spec.control_prefix = j["subject_prefix"].get<std::string>();
    }
    return {};
}

host::Result<EvaluationSpec> spec_for_trial(sqlite3* db, int64_t id) {
    if (!table_exists(db, "trials")) {
        return Error{"this database has no trials table (schema older than version 2); run a current testbed-host "
                     "on it once, or report without --trial",
                     "no_trials"};
    }
    Query q(db, "SELECT plugin_id, organisation, testbed, state, purpose, from_us, until_us, baseline_from_us, "
                "baseline_until_us, control_json FROM trials WHERE id = ?");
    q.bind(1, id);
    if (!q.ok()) return Error{"reading trials: " + q.error(), "sql"};
    if (!q.step()) return Error{"no trial with id " + std::to_string(id) + " in this database", "not_found"};
    EvaluationSpec s;
    s.trial_id = id;
    s.plugin_id = q.text(0);
    s.organisation = q.text(1);
    s.testbed = q.text(2);
    s.state = q.text(3);
    s.purpose = q.text(4);
    s.from_us = q.opt_i64(5);
    s.until_us = q.opt_i64(6);
    s.baseline_from_us = q.opt_i64(7);
    s.baseline_until_us = q.opt_i64(8);
    if (auto st = parse_control(q.text(9), s); !st) {
        return Error{"trial " + std::to_string(id) + ": " + st.message(), "bad_control"};
    }
    return s;
}

host::Result<std::vector<int64_t>> trials_of_testbed(sqlite3* db, const std::string& testbed) {
    if (!table_exists(db, "trials")) return Error{"this database has no trials table", "no_trials"};
    Query q(db, "SELECT id FROM trials WHERE testbed = ? ORDER BY id");
    q.bind(1, testbed);
    std::vector<int64_t> ids;
    while (q.step()) ids.push_back(q.i64(0));
    if (!q.error().empty()) return Error{"reading trials: " + q.error(), "sql"};
    return ids;
}

host::Result<TrialReport> evaluate(sqlite3* db, const EvaluationSpec& spec) {
    TrialReport r;
    r.spec = spec;
    // The plugin instances that ran for this trial (or, ad hoc, for this plugin id).
    std::vector<int64_t> rows;
    {
        std::string sql = "SELECT id, run_id, instance FROM plugins WHERE ";
        sql += spec.trial_id ? "trial_id = ?" : "plugin_id = ?";
        if (spec.run_id) sql += " AND run_id = " + std::to_string(*spec.run_id);
        sql += " ORDER BY id";
        Query q(db, sql);
        if (!q.ok()) return Error{"reading plugins: " + q.error(), "sql"};
        if (spec.trial_id) q.bind(1, *spec.trial_id);
        else q.bind(1, spec.plugin_id);
        std::set<int64_t> runs;
        std::set<std::string> inst;
        while (q.step()) {
            rows.push_back(q.i64(0));
            runs.insert(q.i64(1));
            inst.insert(q.text(2));
        }
        r.runs.assign(runs.begin(), runs.end());
        r.instances.assign(inst.begin(), inst.end());
    }
    // KPIs: the metrics those instances declared, in declaration order, merged by name.
    std::vector<std::string> order;
    std::map<std::string, std::vector<SeriesInfo>> by_name;
    if (!rows.empty()) {
        Query q(db, "SELECT id, name, unit, better, COALESCE(description, '') FROM series WHERE plugin_row IN " +
                        in_list(rows) + " ORDER BY id");
        if (!q.ok()) return Error{"reading series: " + q.error(), "sql"};
        while (q.step()) {
            SeriesInfo s{q.i64(0), q.text(1), q.text(2), q.text(3), q.text(4)};
            if (!by_name.count(s.name)) order.push_back(s.name);
            by_name[s.name].push_back(std::move(s));
        }
    }
    const bool has_control = !spec.control_subjects.empty() || !spec.control_prefix.empty();
    const bool has_baseline = spec.baseline_from_us && spec.baseline_until_us && *spec.baseline_until_us > *spec.baseline_from_us;
    const std::set<std::string> control(spec.control_subjects.begin(), spec.control_subjects.end());
    auto is_control = [&](const std::string& subject) {
        return control.count(subject) > 0 ||
               (!spec.control_prefix.empty() && subject.rfind(spec.control_prefix, 0) == 0);
    };
    for (const auto& name : order) {
        KpiResult k;
        const auto& ss = by_name[name];
        k.metric = name;
        k.unit = ss.front().unit;
        k.better = ss.front().better;
        k.description = ss.front().description;
        std::set<std::string> units;
        for (const auto& s : ss) units.insert(s.unit);
        k.trial.label = "trial";
        k.comparison = has_control ? "control group" : (has_baseline ? "baseline window" : "none");
        k.reference.label = has_control ? "control group" : "baseline";
        std::vector<int64_t> ids;
        for (const auto& s : ss) ids.push_back(s.id);
        std::set<std::string> tsub, rsub;
        {
            Query q(db, "SELECT COALESCE(subject, ''), value, t_us FROM metrics WHERE series_id IN " + in_list(ids));
            if (!q.ok()) return Error{"reading metrics: " + q.error(), "sql"};
            while (q.step()) {
                const std::string subject = q.text(0);
                auto& g = has_control && is_control(subject) ? k.reference : k.trial;
                g.samples.push_back({q.i64(2), q.dbl(1)});
                (&g == &k.trial ? tsub : rsub).insert(subject);
            }
        }
        if (!has_control && has_baseline) {
            // The same KPI of the same plugin, from any run, inside the baseline window.
            Query q(db, "SELECT COALESCE(m.subject, ''), m.value, m.t_us, s.unit FROM metrics m JOIN series s ON "
                        "s.id = m.series_id JOIN plugins p ON p.id = s.plugin_row WHERE p.plugin_id = ? AND s.name = ? "
                        "AND m.t_us >= ? AND m.t_us < ?" +
                            // Never count the trial's own samples twice (e.g. replayed data stamped
                            // inside the baseline window).
                            (rows.empty() ? std::string() : " AND s.plugin_row NOT IN " + in_list(rows)));
            if (!q.ok()) return Error{"reading baseline metrics: " + q.error(), "sql"};
            q.bind(1, spec.plugin_id).bind(2, name).bind(3, *spec.baseline_from_us).bind(4, *spec.baseline_until_us);
            while (q.step()) {
                k.reference.samples.push_back({q.i64(2), q.dbl(1)});
                rsub.insert(q.text(0));
                units.insert(q.text(3));
            }
        }
        k.units_seen.assign(units.begin(), units.end());
        k.trial.subjects.assign(tsub.begin(), tsub.end());
        k.reference.subjects.assign(rsub.begin(), rsub.end());
        finish_group(k.trial);
        finish_group(k.reference);
        compare(k, spec);
        r.kpis.push_back(std::move(k));
    }

    // Guardrails and data quality, for the runs the trial's instances took part in.
    int64_t severe = 0, severe_host = 0;
    if (!r.runs.empty()) {
        Query q(db, "SELECT e.plugin_row IS NULL, COUNT(*) FROM events e WHERE e.run_id IN " + in_list(r.runs) +
                        " AND e.severity >= 3 AND (e.plugin_row IS NULL OR e.plugin_row IN " +
                        (rows.empty() ? std::string("(-1)") : in_list(rows)) + ") GROUP BY 1");
        while (q.step()) (q.i64(0) ? severe_host : severe) += q.i64(1);
        Query st(db, "SELECT COUNT(*) FROM events WHERE run_id IN " + in_list(r.runs) +
                         " AND (kind LIKE '%stale%' OR kind LIKE '%silent%')");
        if (st.step()) r.quality.stale_events = st.i64(0);
        Query f(db, "SELECT run_id, source, messages, gaps, duplicates, out_of_order, first_seen_us, last_seen_us "
                    "FROM feed_health WHERE run_id IN " + in_list(r.runs) + " ORDER BY run_id, source");
        while (f.step()) {
            FeedRow fr{f.i64(0), f.text(1), f.i64(2), f.i64(3), f.i64(4), f.i64(5), f.opt_i64(6), f.opt_i64(7)};
            r.quality.messages += fr.messages;
            r.quality.gaps += fr.gaps;
            r.quality.duplicates += fr.duplicates;
            r.quality.out_of_order += fr.out_of_order;
            r.quality.feeds.push_back(std::move(fr));
        }
        Query d(db, "SELECT reason, SUM(count) FROM ingest_drops WHERE run_id IN " + in_list(r.runs) +
                        " GROUP BY reason ORDER BY reason");
        while (d.step()) {
            r.quality.drops.emplace_back(d.text(0), d.i64(1));
            r.quality.dropped += d.i64(1);
        }
    }
    {
        Guardrail g{"severe events", "green", ""};
        if (severe > 0) {
            g.status = "red";
            g.detail = plural(severe, "event", "events") + " of severity MAJOR or CRITICAL from the pilot's plugin";
        } else if (severe_host > 0) {
            g.status = "amber";
            g.detail = plural(severe_host, "host event", "host events") +
                       " of severity MAJOR or CRITICAL during the pilot's runs (not attributed to the plugin)";
        } else {
            g.detail = "no event of severity MAJOR or CRITICAL";
        }
        r.guardrails.push_back(std::move(g));
    }
    {
        Guardrail g{"incidents", "green", ""};
        if (!table_exists(db, "incidents")) {
            g.detail = "no incidents table in this database (isolation not in use): none recorded";
        } else {
            // The incidents table belongs to the isolation work (migration 3); match on whichever
            // key it has, most specific first.
            const auto cols = columns_of(db, "incidents");
            const std::string runs_clause =
                cols.count("run_id") && !r.runs.empty() ? " AND run_id IN " + in_list(r.runs) : std::string();
            int64_t n = 0;
            if (cols.count("trial_id") && spec.trial_id) {
                Query q(db, "SELECT COUNT(*) FROM incidents WHERE trial_id = ?");
                q.bind(1, *spec.trial_id);
                if (q.step()) n = q.i64(0);
            } else if (cols.count("plugin_row") && !rows.empty()) {
                Query q(db, "SELECT COUNT(*) FROM incidents WHERE plugin_row IN " + in_list(rows));
                if (q.step()) n = q.i64(0);
            } else if (cols.count("plugin_id")) {
                Query q(db, "SELECT COUNT(*) FROM incidents WHERE plugin_id = ?" + runs_clause);
                q.bind(1, spec.plugin_id);
                if (q.step()) n = q.i64(0);
            } else if (cols.count("instance") && !r.instances.empty()) {
                for (const auto& inst : r.instances) {
                    Query q(db, "SELECT COUNT(*) FROM incidents WHERE instance = ?" + runs_clause);
                    q.bind(1, inst);
                    if (q.step()) n += q.i64(0);
                }
            }
            if (n > 0) {
                g.status = "red";
                g.detail = plural(n, "incident", "incidents") + " (crash, hang, flood or limit) recorded for the pilot";
            } else {
                g.detail = "no incident recorded for the pilot";
            }
        }
        r.guardrails.push_back(std::move(g));
    }
    {
        Guardrail g{"feed health", "green", ""};
        const int64_t expected = r.quality.messages + r.quality.gaps;
        const double gap_rate = expected > 0 ? static_cast<double>(r.quality.gaps) / static_cast<double>(expected) : 0;
        const std::string rate = stats::format_number(100 * gap_rate, 2) + "%";
        if (gap_rate > 0.05) {
            g.status = "red";
            g.detail = "feeds lost " + rate + " of their messages (" + plural(r.quality.gaps, "gap", "gaps") + ")";
        } else if (gap_rate > 0.01 || r.quality.stale_events > 0) {
            g.status = "amber";
            g.detail = "feeds lost " + rate + " of their messages; " +
                       plural(r.quality.stale_events, "stale-feed event", "stale-feed events");
        } else {
            g.detail = r.runs.empty() ? "no runs recorded" : "feeds lost " + rate + " of their messages, no stale feeds";
        }
        r.guardrails.push_back(std::move(g));
    }
    // Data-quality warnings: missing data is rarely missing at random (a sensor that fails when it
    // is busy, a feed that drops at peak load), so say when it could bias the comparison.
    {
        auto& q = r.quality;
        const int64_t expected = q.messages + q.gaps;
        if (expected > 0 && q.gaps * 100 > expected) {
            q.warnings.push_back(plural(q.gaps, "message was", "messages were") +
                                 " missing from the feeds (sequence gaps, " +
                                 stats::format_number(100.0 * static_cast<double>(q.gaps) / static_cast<double>(expected), 2) +
                                 "%): if they cluster at busy times, the KPI is biased towards quiet periods");
        } else if (q.gaps > 0) {
            q.warnings.push_back(plural(q.gaps, "message was", "messages were") +
                                 " missing from the feeds (under 1%): unlikely to bias the result");
        }
        if (q.dropped > 0) {
            q.warnings.push_back(plural(q.dropped, "message was", "messages were") +
                                 " dropped at ingest (malformed or over capacity): check that drops are spread "
                                 "evenly over trial and comparison periods");
        }
        if (q.stale_events > 0) {
            q.warnings.push_back(plural(q.stale_events, "stale-feed period", "stale-feed periods") +
                                 " during the runs: samples are missing for those periods, which can bias the KPI");
        }
        for (const auto& k : r.kpis) {
            const auto nt = k.trial.figures.count, nr = k.reference.figures.count;
            if (nt > 0 && nr > 0 && (nt > 4 * nr || nr > 4 * nt)) {
                q.warnings.push_back("KPI " + k.metric + ": the trial and " + k.reference.label +
                                     " have very different sample counts (" + std::to_string(nt) + " vs " +
                                     std::to_string(nr) + "); check that both were measured the same way");
            }
        }
    }

    // Overall verdict: a red guardrail overrides any KPI improvement.
    std::vector<std::string> red;
    for (const auto& g : r.guardrails) {
        if (g.status == "red") red.push_back(g.name + " (" + g.detail + ")");
    }
    int improved = 0, worsened = 0, inconclusive = 0, with_data = 0;
    for (const auto& k : r.kpis) {
        if (k.trial.figures.count > 0) ++with_data;
        if (k.verdict == "improved") ++improved;
        else if (k.verdict == "worsened") ++worsened;
        else if (k.verdict == "inconclusive") ++inconclusive;
    }
    if (!red.empty()) {
        r.overall = "harmful";
        std::string list;
        for (const auto& x : red) list += (list.empty() ? "" : "; ") + x;
        r.overall_text = "Guardrail breached: " + list + ". Do not roll out" +
                         (improved > 0 ? ", even though a KPI improved." : ".");
    } else if (r.kpis.empty() || with_data == 0) {
        r.overall = "no data";
        r.overall_text = r.runs.empty() ? "The trial's plugin never ran: there is no data to evaluate."
                                         : "No KPI samples were recorded during the trial: there is nothing to evaluate.";
    } else if (worsened > 0) {
        r.overall = "worsened";
        r.overall_text = plural(worsened, "KPI", "KPIs") + " got significantly worse.";
    } else if (improved > 0) {
        r.overall = "improved";
        r.overall_text = plural(improved, "KPI", "KPIs") + " improved significantly and every guardrail held.";
    } else if (inconclusive == static_cast<int>(r.kpis.size())) {
        r.overall = "inconclusive";
        r.overall_text = "No KPI could be tested; see the notes per KPI.";
    } else {
        r.overall = "no significant change";
        r.overall_text = "No KPI changed significantly.";
    }
    return r;
}

}  // namespace tb::report
