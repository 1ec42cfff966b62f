// common/evaluation.hpp: evaluate a trial from a results database (the model behind
// `testbed report --trial/--testbed`; rendering lives in common/report_render.hpp).
//
// A trial is evaluated KPI by KPI. A KPI is a metric the plugin declared (name, unit, and which
// direction counts as better). The trial group is every sample recorded by the plugin instances
// bound to the trial (plugins.trial_id). The comparison group is, in order of preference:
//  - a control group named in trials.control_json: {"subjects": ["PS-0003", ...]} and/or
//    {"subject_prefix": "C-"}: samples of the same KPI in the same period whose subject is in the
//    control group (the trial group then excludes them);
//  - a baseline window (trials.baseline_from_us/baseline_until_us): samples of the same plugin id
//    and KPI recorded inside that window, from any run.
// Guardrails (severe events, incidents, feed health) and data quality (gaps, stale feeds, dropped
// messages) are read for the runs the trial's plugin instances took part in.
// Thread safety: functions take their own sqlite3 handle; use one handle per thread.
#pragma once

#include "common/result.hpp"
#include "common/stats.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace tb::report {

// What to evaluate: from a trials row (spec_for_trial) or given ad hoc on the command line.
struct EvaluationSpec {
    std::optional<int64_t> trial_id;  // empty: ad hoc (plugin_id and options below)
    std::string plugin_id;
    std::string organisation, testbed, state, purpose;
    std::optional<int64_t> from_us, until_us;               // trial window (for charts and text)
    std::optional<int64_t> baseline_from_us, baseline_until_us;
    std::vector<std::string> control_subjects;
    std::string control_prefix;
    std::optional<int64_t> run_id;     // ad hoc: only this run
    std::optional<int64_t> bucket_us;  // override the automatic bucket width
};

struct GroupData {
    std::string label;  // "trial", "baseline", "control"
    std::vector<stats::Sample> samples;
    std::vector<std::string> subjects;  // distinct subjects, for the text
    stats::Descriptive figures;
    std::vector<stats::Bucket> buckets;
    std::optional<int64_t> first_us, last_us;
};

struct KpiResult {
    std::string metric, unit, better, description;
    std::vector<std::string> units_seen;  // more than one: mixed units, no figures compared
    std::string comparison;               // "control group", "baseline window" or "none"
    GroupData trial, reference;
    int64_t bucket_us = 0;
    stats::Comparison test;
    std::vector<std::string> notes;  // insufficient data etc., in words, shown in place of numbers
    std::string verdict;             // improved | worsened | changed | no significant change | inconclusive
    std::string verdict_text;        // one sentence for people
};

struct Guardrail {
    std::string name;
    std::string status;  // green | amber | red
    std::string detail;
};

struct FeedRow {
    int64_t run_id = 0;
    std::string source;
    int64_t messages = 0, gaps = 0, duplicates = 0, out_of_order = 0;
    std::optional<int64_t> first_seen_us, last_seen_us;
};

struct DataQuality {
    std::vector<FeedRow> feeds;
    int64_t messages = 0, gaps = 0, duplicates = 0, out_of_order = 0;
    std::vector<std::pair<std::string, int64_t>> drops;  // reason, count
    int64_t dropped = 0;
    int64_t stale_events = 0;
    std::vector<std::string> warnings;  // possible bias, in words
};

struct TrialReport {
    EvaluationSpec spec;
    std::vector<int64_t> runs;
    std::vector<std::string> instances;
    std::vector<KpiResult> kpis;
    std::vector<Guardrail> guardrails;
    DataQuality quality;
    std::string overall;       // improved | harmful | worsened | no significant change | inconclusive | no data
    std::string overall_text;  // one paragraph
};

// The evaluation spec stored with trial `id` (error "not_found" names the database and id).
host::Result<EvaluationSpec> spec_for_trial(sqlite3* db, int64_t id);
// Ids of every trial of a testbed, oldest first (may be empty).
host::Result<std::vector<int64_t>> trials_of_testbed(sqlite3* db, const std::string& testbed);
// Parse trials.control_json ("" or "null": no control group).
host::Status parse_control(const std::string& json, EvaluationSpec& spec);
// Evaluate. Missing data is reported inside the result, never as an error; errors are for
// unreadable databases.
host::Result<TrialReport> evaluate(sqlite3* db, const EvaluationSpec& spec);

// Decision rule shared by evaluate() and the tests: verdict for a comparison and a direction.
std::string verdict_for(const stats::Comparison& c, const std::string& better);

}  // namespace tb::report
