// `testbed report --trial/--testbed/--plugin` end to end: the real CLI binary on real SQLite
// files, for a control-group trial, a before/after trial, a breached guardrail, every format,
// and bad input (no data, one sample, empty baseline, mixed units, unknown trial).
#include "report_fixture.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using namespace tb::test;
using namespace tb::test::report;
using nlohmann::json;

RunResult report(const std::vector<std::string>& args) { return run(bin_dir() / "testbed", args); }

void expect_no_nan(const std::string& text) {
    for (const char* bad : {"nan", "NaN", "inf", "Inf"}) {
        // "info" is a word in reports; look for the numeric spellings only.
        std::size_t pos = 0;
        while ((pos = text.find(bad, pos)) != std::string::npos) {
            const bool word = pos + 3 < text.size() && std::isalpha(static_cast<unsigned char>(text[pos + 3]));
            EXPECT_TRUE(word) << "found '" << bad << "' near: " << text.substr(pos > 40 ? pos - 40 : 0, 80);
            pos += 3;
        }
    }
}

// A guided pilot zone (P-*) searches 30 s less than the control zone (C-*) in the same period.
struct ControlTrial {
    TempDir dir;
    std::string db = (dir / "results.db").string();
    int64_t trial = 0, plugin_row = 0, run = 0;
    explicit ControlTrial(double effect_s = -30) {
        ResultsDb d(db);
        run = d.run();
        trial = d.trial("parking_guide", R"({"subjects": ["C-1", "C-2"]})");
        plugin_row = d.plugin(run, "parking_guide", trial);
        const auto s = d.series(plugin_row, "search_time", "s", "lower");
        d.ar1(s, "P-1", 600, 120 + effect_s, kT0, 1);
        d.ar1(s, "P-2", 600, 120 + effect_s, kT0, 2);
        d.ar1(s, "C-1", 600, 120, kT0, 3);
        d.ar1(s, "C-2", 600, 120, kT0, 4);
        d.exec("INSERT INTO feed_health(run_id, source, messages, bytes, gaps, duplicates, out_of_order, first_seen_us, last_seen_us) VALUES (" + std::to_string(run) + ", 'sensor/parking/PG-0001', 5000, 250000, 1, 0, "
               "0, " + std::to_string(kT0) + ", " + std::to_string(kT0 + 600 * kMinute) + ")");
    }
};

TEST(ReportCommand, ControlGroupTrialShowsImprovement) {
    ControlTrial t;
    const auto r = report({"report", "--db", t.db, "--trial", std::to_string(t.trial), "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_no_nan(r.out);
    const auto j = json::parse(r.out);
    const auto& tr = j["trials"].at(0);
    EXPECT_EQ(tr["overall"], "improved") << tr["overall_text"];
    const auto& k = tr["kpis"].at(0);
    EXPECT_EQ(k["metric"], "search_time");
    EXPECT_EQ(k["comparison"], "control group");
    EXPECT_EQ(k["verdict"], "improved");
    EXPECT_EQ(k["trial"]["figures"]["count"], 1200);
    EXPECT_EQ(k["reference"]["figures"]["count"], 1200);
    const double lo = k["test"]["ci95_low"], hi = k["test"]["ci95_high"], p = k["test"]["p_value"];
    EXPECT_LT(hi, 0.0);
    EXPECT_LT(lo, -30.0 + 15) << "the interval should be near the true effect of -30 s";
    EXPECT_GT(hi, -30.0 - 15);
    EXPECT_LT(p, 0.001);
    EXPECT_LT(k["test"]["hedges_g"].get<double>(), -1.0);
    for (const auto& g : tr["guardrails"]) EXPECT_EQ(g["status"], "green") << g["name"] << ": " << g["detail"];
    EXPECT_EQ(tr["data_quality"]["gaps"], 1);
    // The underlying samples are exported for analysts.
    EXPECT_EQ(k["trial"]["samples"].size(), 1200u);
}

TEST(ReportCommand, NoEffectIsNotSignificant) {
    ControlTrial t(0.0);
    const auto r = report({"report", "--db", t.db, "--trial", std::to_string(t.trial), "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = json::parse(r.out);
    const auto& k = j["trials"][0]["kpis"][0];
    EXPECT_EQ(k["verdict"], "no significant change") << k["verdict_text"];
    EXPECT_LE(k["test"]["ci95_low"].get<double>(), 0.0);
    EXPECT_GE(k["test"]["ci95_high"].get<double>(), 0.0);
}

TEST(ReportCommand, BaselineWindowBeforeAfter) {
    TempDir dir;
    const auto db = (dir / "results.db").string();
    int64_t trial = 0;
    {
        ResultsDb d(db);
        // Run 1: the plugin measured in shadow mode, no trial. Run 2: the trial, 30 s slower (worse).
        const auto r1 = d.run();
        const auto s1 = d.series(d.plugin(r1, "parking_guide"), "search_time", "s", "lower");
        d.ar1(s1, "P-1", 900, 100, kT0 - 2000 * kMinute, 5);
        trial = d.trial("parking_guide", "", kT0 - 2000 * kMinute, kT0 - 1000 * kMinute);
        const auto r2 = d.run();
        const auto s2 = d.series(d.plugin(r2, "parking_guide", trial), "search_time", "s", "lower");
        d.ar1(s2, "P-1", 900, 130, kT0, 6);
    }
    const auto r = report({"report", "--db", db, "--trial", std::to_string(trial), "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = json::parse(r.out);
    const auto& tr = j["trials"][0];
    const auto& k = tr["kpis"][0];
    EXPECT_EQ(k["comparison"], "baseline window");
    EXPECT_EQ(k["reference"]["figures"]["count"], 900);
    EXPECT_EQ(k["verdict"], "worsened") << k["verdict_text"];
    EXPECT_EQ(tr["overall"], "worsened");
    EXPECT_GT(k["test"]["difference"].get<double>(), 15.0);
}

TEST(ReportCommand, GuardrailOverridesImprovedKpi) {
    ControlTrial t;
    {
        ResultsDb d(t.db);
        d.exec("INSERT INTO events(run_id, plugin_row, severity, kind, message, t_us) VALUES (" + std::to_string(t.run) +
               ", " + std::to_string(t.plugin_row) + ", 3, 'guidance_conflict', 'sent drivers to a closed garage', " +
               std::to_string(kT0) + ")");
        // An incident of the trial's isolated runner (table from schema migration 3) counts too.
        d.exec("INSERT INTO incidents(run_id, plugin_row, instance, t_us, reason, signal, detail, restarts_before, action) "
               "VALUES (" + std::to_string(t.run) + ", " + std::to_string(t.plugin_row) + ", 'parking_guide', " +
               std::to_string(kT0) + ", 'segfault', 11, 'SIGSEGV in on_message', 0, 'restart')");
    }
    const auto r = report({"report", "--db", t.db, "--trial", std::to_string(t.trial), "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = json::parse(r.out);
    const auto& tr = j["trials"][0];
    EXPECT_EQ(tr["kpis"][0]["verdict"], "improved");
    EXPECT_EQ(tr["overall"], "harmful");
    EXPECT_NE(tr["overall_text"].get<std::string>().find("even though a KPI improved"), std::string::npos);
    EXPECT_EQ(tr["guardrails"][0]["status"], "red");
    EXPECT_EQ(tr["guardrails"][1]["status"], "red");
    const auto md = report({"report", "--db", t.db, "--trial", std::to_string(t.trial)});
    EXPECT_NE(md.out.find("Verdict: harmful"), std::string::npos) << md.out;
}

TEST(ReportCommand, MarkdownCsvAndOutFile) {
    ControlTrial t;
    const auto md = report({"report", "--db", t.db, "--trial", std::to_string(t.trial), "--format", "md"});
    ASSERT_EQ(md.exit_code, 0) << md.err;
    EXPECT_NE(md.out.find("### KPI search_time (s, lower is better)"), std::string::npos) << md.out;
    EXPECT_NE(md.out.find("95% CI"), std::string::npos);
    EXPECT_NE(md.out.find("Hedges' g"), std::string::npos);
    expect_no_nan(md.out);
    const auto out = (t.dir / "report.csv").string();
    const auto csv = report({"report", "--db", t.db, "--trial", std::to_string(t.trial), "--format", "csv", "--out", out});
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    const auto text = read_file(out);
    EXPECT_EQ(text.rfind("record,trial,plugin,kpi,unit,group,subject,t_us,field,value\n", 0), 0u);
    std::size_t samples = 0, pos = 0;
    while ((pos = text.find("\nsample,", pos)) != std::string::npos) ++samples, ++pos;
    EXPECT_EQ(samples, 2400u);
    EXPECT_NE(text.find(",comparison,,,p_value,"), std::string::npos);
    expect_no_nan(text);
}

TEST(ReportCommand, WholeTestbed) {
    ControlTrial t;
    {
        ResultsDb d(t.db);
        d.trial("other_plugin", "", 0, 0, "space53");
        d.trial("never_ran", "");
    }
    const auto r = report({"report", "--db", t.db, "--testbed", "city-centre", "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = json::parse(r.out);
    ASSERT_EQ(j["trials"].size(), 2u);
    EXPECT_EQ(j["trials"][1]["trial"]["plugin_id"], "never_ran");
    EXPECT_EQ(j["trials"][1]["overall"], "no data");
}

TEST(ReportCommand, BadInputIsSaidInWords) {
    TempDir dir;
    const auto db = (dir / "results.db").string();
    int64_t empty_trial = 0, single = 0, no_baseline = 0, mixed = 0;
    {
        ResultsDb d(db);
        empty_trial = d.trial("ghost", "");
        const auto run = d.run();
        // One sample only, against a control group.
        single = d.trial("one_sample", R"({"subjects": ["C-1"]})");
        const auto s1 = d.series(d.plugin(run, "one_sample", single), "wait", "s", "lower");
        d.sample(s1, "P-1", 42, kT0);
        d.sample(s1, "C-1", 40, kT0);
        // A baseline window in which nothing was recorded.
        no_baseline = d.trial("no_baseline", "", kT0 - 100 * kMinute, kT0 - 50 * kMinute);
        const auto s2 = d.series(d.plugin(run, "no_baseline", no_baseline), "wait", "s", "lower");
        d.ar1(s2, "P-1", 50, 100, kT0, 7);
        // Two plugin versions recorded the same KPI in different units.
        mixed = d.trial("mixed", R"({"subject_prefix": "C-"})");
        const auto s3 = d.series(d.plugin(run, "mixed", mixed), "wait", "s", "lower");
        const auto s4 = d.series(d.plugin(run, "mixed", mixed), "wait", "min", "lower");
        d.ar1(s3, "P-1", 50, 100, kT0, 8);
        d.ar1(s4, "C-1", 50, 2, kT0, 9);
    }
    auto check = [&](int64_t trial, const std::vector<std::string>& phrases) {
        for (const char* fmt : {"md", "html", "json", "csv"}) {
            const auto r = report({"report", "--db", db, "--trial", std::to_string(trial), "--format", fmt});
            ASSERT_EQ(r.exit_code, 0) << fmt << ": " << r.err;
            expect_no_nan(r.out);
            if (std::string(fmt) == "md") {
                for (const auto& p : phrases) EXPECT_NE(r.out.find(p), std::string::npos) << p << " in:\n" << r.out;
            }
            if (std::string(fmt) == "json") {
                EXPECT_FALSE(json::parse(r.out, nullptr, false).is_discarded()) << r.out;
            }
        }
    };
    check(empty_trial, {"Verdict: no data", "never ran", "No KPI was recorded"});
    check(single, {"only one sample during the trial", "only one control group sample", "too few periods with data in both groups",
                   "| trial (P-1) | 1 | 42 | 42 |"});
    check(no_baseline, {"no samples in the baseline window", "| baseline | 0 | no data | no data |"});
    check(mixed, {"mixed units ('min', 's')", "Mixed units: no figures are computed"});
}

TEST(ReportCommand, CliErrorsAndLegacySummary) {
    ControlTrial t;
    auto r = report({"report", "--db", t.db, "--trial", "99"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("no trial with id 99"), std::string::npos) << r.err;
    r = report({"report", "--db", t.db, "--format", "html"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("add --trial ID"), std::string::npos) << r.err;
    r = report({"report", "--db", t.db, "--trial", "1", "--format", "pdf"});
    EXPECT_EQ(r.exit_code, 2);
    r = report({"report", "--db", t.db, "--trial", "1", "--testbed", "city-centre"});
    EXPECT_EQ(r.exit_code, 2);
    r = report({"report", "--db", t.db, "--trial", "1", "--out", (t.dir / "no" / "such" / "dir.md").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot write"), std::string::npos) << r.err;
    r = report({"report", "--db", (t.dir / "missing.db").string(), "--trial", "1"});
    EXPECT_EQ(r.exit_code, 2);
    // Without --trial/--testbed the issue-2 summary is unchanged.
    r = report({"report", "--db", t.db, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = json::parse(r.out);
    EXPECT_EQ(j["metrics"][0]["metric"], "search_time");
    EXPECT_EQ(j["metrics"][0]["count"], 2400);
    // Ad hoc: a plugin without a trial record, control group from the command line.
    r = report({"report", "--db", t.db, "--plugin", "parking_guide", "--control-subjects", "C-1,C-2", "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["trials"][0]["kpis"][0]["verdict"], "improved");
}

}  // namespace
