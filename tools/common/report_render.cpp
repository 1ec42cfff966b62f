#include "common/report_render.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <sstream>

namespace tb::report {
namespace {

using stats::format_number;

std::string opt(const std::optional<double>& v, const std::string& missing = "no data") {
    return v ? format_number(*v) : missing;
}

nlohmann::json jopt(const std::optional<double>& v) {
    return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json jnum(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string trial_title(const TrialReport& r) {
    if (r.spec.trial_id) return "Trial " + std::to_string(*r.spec.trial_id) + ": " + r.spec.plugin_id;
    return "Plugin " + r.spec.plugin_id + " (no trial record)";
}

std::string better_text(const std::string& b) {
    if (b == "lower") return "lower is better";
    if (b == "higher") return "higher is better";
    return "no better direction";
}

std::string comparison_text(const TrialReport& r) {
    const auto& s = r.spec;
    std::string out;
    if (!s.control_subjects.empty() || !s.control_prefix.empty()) {
        out = "control group (same period): subjects ";
        std::string list;
        for (const auto& x : s.control_subjects) list += (list.empty() ? "" : ", ") + x;
        if (!s.control_prefix.empty()) list += (list.empty() ? "" : ", ") + ("prefix " + s.control_prefix + "*");
        out += list;
    } else if (s.baseline_from_us && s.baseline_until_us) {
        out = "baseline window " + iso_time(*s.baseline_from_us) + " to " + iso_time(*s.baseline_until_us);
    } else {
        out = "none named";
    }
    return out;
}

std::string bucket_text(int64_t us) {
    if (us <= 0) return "n/a";
    const double s = static_cast<double>(us) / 1e6;
    if (s >= 86400) return format_number(s / 86400, 3) + " d";
    if (s >= 3600) return format_number(s / 3600, 3) + " h";
    if (s >= 60) return format_number(s / 60, 3) + " min";
    return format_number(s, 3) + " s";
}

nlohmann::json figures_json(const stats::Descriptive& d) {
    return {{"count", d.count}, {"mean", jopt(d.mean)}, {"median", jopt(d.median)}, {"p5", jopt(d.p5)},
            {"p95", jopt(d.p95)}, {"min", jopt(d.min)}, {"max", jopt(d.max)}, {"sd", jopt(d.sd)}};
}

nlohmann::json group_json(const GroupData& g) {
    nlohmann::json j{{"label", g.label}, {"subjects", g.subjects}, {"figures", figures_json(g.figures)}};
    j["buckets"] = nlohmann::json::array();
    for (const auto& b : g.buckets) j["buckets"].push_back({{"start_us", b.start_us}, {"count", b.count}, {"mean", jnum(b.mean)}});
    j["samples"] = nlohmann::json::array();
    for (const auto& s : g.samples) j["samples"].push_back({s.t_us, jnum(s.value)});
    return j;
}

std::string html_escape(const std::string& s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}

std::string fixed(double v, int decimals = 1) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, std::isfinite(v) ? v : 0.0);
    return buf;
}

// ---- SVG charts -------------------------------------------------------------------------------

constexpr double kW = 720, kH = 260, kL = 60, kR = 16, kT = 16, kB = 40;

struct Scale {
    double x0, x1, y0, y1;
    double x(double v) const { return kL + (v - x0) / (x1 - x0) * (kW - kL - kR); }
    double y(double v) const { return kH - kB - (v - y0) / (y1 - y0) * (kH - kT - kB); }
};

void widen(double& lo, double& hi) {
    if (!(hi > lo)) {
        const double pad = std::fabs(lo) > 0 ? std::fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    } else {
        const double pad = (hi - lo) * 0.05;
        lo -= pad;
        hi += pad;
    }
}

std::string y_axis(const Scale& sc, const std::string& unit) {
    std::ostringstream o;
    for (int i = 0; i <= 4; ++i) {
        const double v = sc.y0 + (sc.y1 - sc.y0) * i / 4;
        o << "<line class=\"grid\" x1=\"" << kL << "\" x2=\"" << kW - kR << "\" y1=\"" << fixed(sc.y(v)) << "\" y2=\""
          << fixed(sc.y(v)) << "\"/>";
        o << "<text class=\"tick\" x=\"" << kL - 6 << "\" y=\"" << fixed(sc.y(v) + 4) << "\" text-anchor=\"end\">"
          << html_escape(format_number(v, 3)) << "</text>";
    }
    o << "<text class=\"tick\" x=\"4\" y=\"" << kT - 5 << "\">" << html_escape(unit) << "</text>";
    return o.str();
}

std::string points_path(const std::vector<std::pair<double, double>>& pts, const Scale& sc) {
    std::string d;
    for (std::size_t i = 0; i < pts.size(); ++i) {
        d += (i ? "L" : "M") + fixed(sc.x(pts[i].first)) + "," + fixed(sc.y(pts[i].second));
    }
    if (pts.size() == 1) d += "h1";  // a single point still draws
    return d;
}

std::string time_chart(const TrialReport& r, const KpiResult& k) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (const auto* g : {&k.trial, &k.reference}) {
        for (const auto& s : g->samples) {
            if (!std::isfinite(s.value)) continue;
            x0 = std::min(x0, static_cast<double>(s.t_us));
            x1 = std::max(x1, static_cast<double>(s.t_us));
            y0 = std::min(y0, s.value);
            y1 = std::max(y1, s.value);
        }
    }
    const bool baseline_design = k.comparison == "baseline window";
    if (baseline_design && r.spec.baseline_from_us && r.spec.baseline_until_us && std::isfinite(x0)) {
        x0 = std::min(x0, static_cast<double>(*r.spec.baseline_from_us));
        x1 = std::max(x1, static_cast<double>(*r.spec.baseline_until_us));
    }
    if (!std::isfinite(x0)) return "<p class=\"none\">No samples to draw.</p>";
    widen(x0, x1);
    widen(y0, y1);
    const Scale sc{x0, x1, y0, y1};
    std::ostringstream o;
    o << "<svg class=\"chart timeline\" viewBox=\"0 0 " << kW << " " << kH << "\" width=\"" << kW << "\" height=\"" << kH
      << "\" role=\"img\" aria-label=\"" << html_escape(k.metric) << " over time\">";
    // Shaded windows first, so the data is drawn over them.
    auto shade = [&](double a, double b, const char* cls, const char* label) {
        const double xa = std::clamp(sc.x(a), kL, kW - kR), xb = std::clamp(sc.x(b), kL, kW - kR);
        o << "<rect class=\"" << cls << "\" x=\"" << fixed(xa) << "\" y=\"" << kT << "\" width=\""
          << fixed(std::max(2.0, xb - xa)) << "\" height=\"" << kH - kT - kB << "\"><title>" << label << "</title></rect>";
        o << "<text class=\"tick\" x=\"" << fixed(xa + 4) << "\" y=\"" << kT + 12 << "\">" << label << "</text>";
    };
    if (baseline_design && r.spec.baseline_from_us && r.spec.baseline_until_us) {
        shade(static_cast<double>(*r.spec.baseline_from_us), static_cast<double>(*r.spec.baseline_until_us),
              "shade-baseline", "baseline window");
    }
    if (k.trial.first_us) {
        shade(static_cast<double>(*k.trial.first_us), static_cast<double>(*k.trial.last_us), "shade-trial", "trial");
    }
    o << y_axis(sc, k.unit);
    // Raw samples as dots (thinned to at most ~1500 per group), bucket means as a line.
    for (const auto* g : {&k.reference, &k.trial}) {
        const bool is_trial = g == &k.trial;
        const std::size_t stride = std::max<std::size_t>(1, g->samples.size() / 1500);
        std::string d;
        for (std::size_t i = 0; i < g->samples.size(); i += stride) {
            const auto& s = g->samples[i];
            if (!std::isfinite(s.value)) continue;
            d += "M" + fixed(sc.x(static_cast<double>(s.t_us))) + "," + fixed(sc.y(s.value)) + "h1.5v1.5h-1.5z";
        }
        if (!d.empty()) o << "<path class=\"dots " << (is_trial ? "trial" : "ref") << "\" d=\"" << d << "\"/>";
        std::vector<std::pair<double, double>> pts;
        for (const auto& b : g->buckets) {
            pts.emplace_back(static_cast<double>(b.start_us) + static_cast<double>(k.bucket_us) / 2, b.mean);
        }
        if (!pts.empty()) {
            o << "<path class=\"line " << (is_trial ? "trial" : "ref") << "\" d=\"" << points_path(pts, sc) << "\"><title>"
              << html_escape(g->label) << " bucket means</title></path>";
        }
    }
    o << "<text class=\"tick\" x=\"" << kL << "\" y=\"" << kH - 12 << "\">" << iso_time(static_cast<int64_t>(x0))
      << "</text><text class=\"tick\" x=\"" << kW - kR << "\" y=\"" << kH - 12 << "\" text-anchor=\"end\">"
      << iso_time(static_cast<int64_t>(x1)) << "</text>";
    o << "</svg>";
    return o.str();
}

std::string distribution_chart(const KpiResult& k) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto* g : {&k.trial, &k.reference}) {
        if (g->figures.min) lo = std::min(lo, *g->figures.min);
        if (g->figures.max) hi = std::max(hi, *g->figures.max);
    }
    if (!std::isfinite(lo)) return "<p class=\"none\">No samples to draw.</p>";
    widen(lo, hi);
    constexpr int kBins = 24;
    std::vector<double> ft(kBins, 0), fr(kBins, 0);
    auto fill = [&](const GroupData& g, std::vector<double>& f) {
        std::size_t n = 0;
        for (const auto& s : g.samples) {
            if (!std::isfinite(s.value)) continue;
            const int b = std::clamp(static_cast<int>((s.value - lo) / (hi - lo) * kBins), 0, kBins - 1);
            f[static_cast<std::size_t>(b)] += 1;
            ++n;
        }
        if (n > 0) for (auto& x : f) x /= static_cast<double>(n);  // shares, so group sizes do not matter
    };
    fill(k.trial, ft);
    fill(k.reference, fr);
    double top = 0;
    for (int i = 0; i < kBins; ++i) top = std::max({top, ft[static_cast<std::size_t>(i)], fr[static_cast<std::size_t>(i)]});
    if (!(top > 0)) top = 1;
    const Scale sc{lo, hi, 0, top * 1.1};
    std::ostringstream o;
    o << "<svg class=\"chart distribution\" viewBox=\"0 0 " << kW << " " << kH << "\" width=\"" << kW << "\" height=\""
      << kH << "\" role=\"img\" aria-label=\"" << html_escape(k.metric) << " distribution\">";
    o << y_axis(sc, "share");
    const double bw = (kW - kL - kR) / kBins;
    for (int i = 0; i < kBins; ++i) {
        const double x = kL + bw * i;
        const auto ui = static_cast<std::size_t>(i);
        if (fr[ui] > 0) {
            o << "<rect class=\"bar ref\" x=\"" << fixed(x + 1) << "\" y=\"" << fixed(sc.y(fr[ui])) << "\" width=\""
              << fixed(bw / 2 - 1) << "\" height=\"" << fixed(sc.y(0) - sc.y(fr[ui])) << "\"/>";
        }
        if (ft[ui] > 0) {
            o << "<rect class=\"bar trial\" x=\"" << fixed(x + bw / 2) << "\" y=\"" << fixed(sc.y(ft[ui])) << "\" width=\""
              << fixed(bw / 2 - 1) << "\" height=\"" << fixed(sc.y(0) - sc.y(ft[ui])) << "\"/>";
        }
    }
    o << "<text class=\"tick\" x=\"" << kL << "\" y=\"" << kH - 12 << "\">" << html_escape(format_number(lo, 3) + " " + k.unit)
      << "</text><text class=\"tick\" x=\"" << kW - kR << "\" y=\"" << kH - 12 << "\" text-anchor=\"end\">"
      << html_escape(format_number(hi, 3) + " " + k.unit) << "</text>";
    o << "</svg>";
    return o.str();
}

const char* kCss = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1d2733}
h1{font-size:1.6em}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:right}td.l{text-align:left}
th{background:#f3f5f7}td:first-child,th:first-child{text-align:left}
.verdict{padding:.6em 1em;border-radius:6px;font-weight:600}
.v-improved{background:#dff3e3}.v-harmful,.v-worsened{background:#fbe0e0}.v-other{background:#f0f1f3}
.green{color:#17753a;font-weight:600}.amber{color:#9a6700;font-weight:600}.red{color:#b42318;font-weight:600}
.note{color:#6b4e00}.none{color:#57606a;font-style:italic}
svg.chart{display:block;margin:.4em 0;background:#fff;border:1px solid #e4e7eb}
.grid{stroke:#e4e7eb;stroke-width:1}.tick{font-size:11px;fill:#57606a}
.shade-baseline{fill:#d7dde6;opacity:.6}.shade-trial{fill:#cdebd5;opacity:.6}
.dots.trial{fill:#1f7a3f;opacity:.45}.dots.ref{fill:#5b6b80;opacity:.45}
.line{fill:none;stroke-width:2.5}.line.trial{stroke:#1f7a3f}.line.ref{stroke:#34495e;stroke-dasharray:6 3}
.bar.trial{fill:#2e9e57}.bar.ref{fill:#8a99ad}
.legend span{display:inline-block;width:12px;height:12px;margin:0 .3em 0 1em;vertical-align:middle}
)css";

std::string format_p(double p) { return p < 0.0001 ? "< 0.0001" : format_number(p, 3); }

std::string method_text(const stats::Comparison& c) {
    return c.method == "paired" ? "paired t-test per bucket" : "Welch's t-test";
}

std::string periods_text(const KpiResult& k) {
    if (k.test.method == "paired") {
        return std::to_string(k.test.n_b) + " paired buckets of " + bucket_text(k.bucket_us);
    }
    return std::to_string(k.test.n_b) + " trial vs " + std::to_string(k.test.n_a) + " " + k.reference.label +
           " buckets of " + bucket_text(k.bucket_us);
}

std::string figures_row_md(const std::string& label, const stats::Descriptive& d) {
    return "| " + label + " | " + std::to_string(d.count) + " | " + opt(d.mean) + " | " + opt(d.median) + " | " +
           opt(d.p5) + " | " + opt(d.p95) + " | " + opt(d.min) + " | " + opt(d.max) + " |\n";
}

std::string figures_row_html(const std::string& label, const stats::Descriptive& d) {
    std::string o = "<tr><td>" + html_escape(label) + "</td><td>" + std::to_string(d.count) + "</td>";
    for (const auto& v : {d.mean, d.median, d.p5, d.p95, d.min, d.max}) o += "<td>" + html_escape(opt(v)) + "</td>";
    return o + "</tr>";
}

std::string group_label(const GroupData& g) {
    std::string l = g.label;
    if (!g.subjects.empty() && g.subjects.size() <= 6) {
        std::string list;
        for (const auto& s : g.subjects) list += (list.empty() ? "" : ", ") + (s.empty() ? std::string("(none)") : s);
        l += " (" + list + ")";
    }
    return l;
}

}  // namespace

std::string iso_time(int64_t t_us) {
    const auto secs = static_cast<std::time_t>(t_us / 1'000'000 - (t_us % 1'000'000 < 0 ? 1 : 0));
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string render_markdown(const std::vector<TrialReport>& reports, const RenderContext& ctx) {
    std::ostringstream o;
    o << "# Pilot evaluation\n\nDatabase: `" << ctx.database << "`";
    if (!ctx.generated_at.empty()) o << ", generated " << ctx.generated_at;
    o << ". Method: t-tests on bucket means (paired per bucket against a control group, Welch against a "
         "baseline window), 95% confidence intervals, Hedges' g (see docs/evaluation.md).\n";
    if (reports.empty()) o << "\nNo trials to report.\n";
    for (const auto& r : reports) {
        o << "\n## " << trial_title(r) << "\n\n";
        if (!r.spec.organisation.empty()) o << "- Organisation: " << r.spec.organisation << "\n";
        if (!r.spec.testbed.empty()) o << "- Testbed: " << r.spec.testbed << "\n";
        if (!r.spec.state.empty()) o << "- State: " << r.spec.state << "\n";
        if (r.spec.from_us && r.spec.until_us) {
            o << "- Window: " << iso_time(*r.spec.from_us) << " to " << iso_time(*r.spec.until_us) << "\n";
        }
        o << "- Compared with: " << comparison_text(r) << "\n";
        o << "- Runs: " << (r.runs.empty() ? std::string("none") : std::to_string(r.runs.size())) << "\n\n";
        o << "**Verdict: " << r.overall << ".** " << r.overall_text << "\n";
        if (r.kpis.empty()) o << "\nNo KPI was recorded for this trial.\n";
        for (const auto& k : r.kpis) {
            o << "\n### KPI " << k.metric << " (" << (k.unit.empty() ? "no unit" : k.unit) << ", " << better_text(k.better)
              << ")\n\n";
            if (!k.description.empty()) o << k.description << "\n\n";
            if (k.units_seen.size() <= 1) {
                o << "| group | count | mean | median | p5 | p95 | min | max |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
                o << figures_row_md(group_label(k.trial), k.trial.figures);
                if (k.comparison != "none") o << figures_row_md(group_label(k.reference), k.reference.figures);
                o << "\n";
            }
            if (k.test.ok) {
                o << "- Difference (trial - " << k.reference.label << "): " << format_number(k.test.difference) << " "
                  << k.unit << ", 95% CI " << format_number(k.test.ci_low) << " to " << format_number(k.test.ci_high);
                if (k.test.relative_ok) o << " (" << format_number(100 * k.test.relative, 3) << "%)";
                o << "\n- p-value: " << format_p(k.test.p_value) << " (" << method_text(k.test) << ", df "
                  << format_number(k.test.df, 3) << ", " << periods_text(k) << ")\n";
                o << "- Effect size (Hedges' g): " << (k.test.hedges_g ? format_number(*k.test.hedges_g, 3) : "n/a") << "\n";
            }
            o << "- Verdict: **" << k.verdict << "**. " << k.verdict_text << "\n";
            for (const auto& n : k.notes) o << "- Note: " << n << "\n";
        }
        o << "\n### Guardrails\n\n| guardrail | status | detail |\n|---|---|---|\n";
        for (const auto& g : r.guardrails) o << "| " << g.name << " | " << g.status << " | " << g.detail << " |\n";
        const auto& q = r.quality;
        o << "\n### Data quality\n\n- Feed messages: " << q.messages << ", sequence gaps: " << q.gaps
          << ", duplicates: " << q.duplicates << ", out of order: " << q.out_of_order << "\n- Dropped at ingest: "
          << q.dropped;
        for (const auto& [reason, n] : q.drops) o << " (" << reason << ": " << n << ")";
        o << "\n- Stale-feed periods: " << q.stale_events << "\n";
        if (q.warnings.empty()) o << "- No data-quality problem that could bias the result.\n";
        for (const auto& w : q.warnings) o << "- Warning: " << w << "\n";
    }
    return o.str();
}

std::string render_json(const std::vector<TrialReport>& reports, const RenderContext& ctx) {
    nlohmann::json out{{"database", ctx.database}, {"method", "t-test on bucket means: paired (control group) or "
                                                              "Welch (baseline window)"}};
    if (!ctx.generated_at.empty()) out["generated_at"] = ctx.generated_at;
    out["trials"] = nlohmann::json::array();
    for (const auto& r : reports) {
        nlohmann::json t;
        const auto& s = r.spec;
        auto oi = [](const std::optional<int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
        t["trial"] = {{"id", oi(s.trial_id)}, {"plugin_id", s.plugin_id}, {"organisation", s.organisation},
                      {"testbed", s.testbed}, {"state", s.state}, {"from_us", oi(s.from_us)}, {"until_us", oi(s.until_us)},
                      {"baseline_from_us", oi(s.baseline_from_us)}, {"baseline_until_us", oi(s.baseline_until_us)},
                      {"control", {{"subjects", s.control_subjects}, {"subject_prefix", s.control_prefix}}}};
        t["runs"] = r.runs;
        t["instances"] = r.instances;
        t["overall"] = r.overall;
        t["overall_text"] = r.overall_text;
        t["kpis"] = nlohmann::json::array();
        for (const auto& k : r.kpis) {
            nlohmann::json j{{"metric", k.metric}, {"unit", k.unit}, {"better", k.better}, {"description", k.description},
                             {"units_seen", k.units_seen}, {"comparison", k.comparison}, {"bucket_us", k.bucket_us},
                             {"verdict", k.verdict}, {"verdict_text", k.verdict_text}, {"notes", k.notes},
                             {"trial", group_json(k.trial)}, {"reference", group_json(k.reference)}};
            const auto& c = k.test;
            j["test"] = {{"method", c.method}, {"ok", c.ok}, {"reason", c.reason}, {"n_reference_buckets", c.n_a}, {"n_trial_buckets", c.n_b}};
            if (c.ok) {
                j["test"].update({{"difference", jnum(c.difference)}, {"ci95_low", jnum(c.ci_low)},
                                  {"ci95_high", jnum(c.ci_high)}, {"p_value", jnum(c.p_value)}, {"t", jnum(c.t)},
                                  {"df", jnum(c.df)}, {"hedges_g", jopt(c.hedges_g)},
                                  {"relative", c.relative_ok ? jnum(c.relative) : nlohmann::json(nullptr)},
                                  {"lag1_autocorrelation", jopt(c.lag1_autocorrelation)}});
            }
            t["kpis"].push_back(std::move(j));
        }
        t["guardrails"] = nlohmann::json::array();
        for (const auto& g : r.guardrails) t["guardrails"].push_back({{"name", g.name}, {"status", g.status}, {"detail", g.detail}});
        const auto& q = r.quality;
        nlohmann::json dq{{"messages", q.messages}, {"gaps", q.gaps}, {"duplicates", q.duplicates},
                          {"out_of_order", q.out_of_order}, {"dropped", q.dropped}, {"stale_events", q.stale_events},
                          {"warnings", q.warnings}};
        dq["drops"] = nlohmann::json::object();
        for (const auto& [reason, n] : q.drops) dq["drops"][reason] = n;
        dq["feeds"] = nlohmann::json::array();
        for (const auto& f : q.feeds) {
            dq["feeds"].push_back({{"run_id", f.run_id}, {"source", f.source}, {"messages", f.messages}, {"gaps", f.gaps},
                                   {"duplicates", f.duplicates}, {"out_of_order", f.out_of_order},
                                   {"first_seen_us", oi(f.first_seen_us)}, {"last_seen_us", oi(f.last_seen_us)}});
        }
        t["data_quality"] = std::move(dq);
        out["trials"].push_back(std::move(t));
    }
    return out.dump(2) + "\n";
}

std::string render_csv(const std::vector<TrialReport>& reports, const RenderContext&) {
    std::ostringstream o;
    o << "record,trial,plugin,kpi,unit,group,subject,t_us,field,value\n";
    auto row = [&](const std::string& rec, const TrialReport& r, const std::string& kpi, const std::string& unit,
                   const std::string& group, const std::string& subject, const std::string& t, const std::string& field,
                   const std::string& value) {
        o << rec << "," << (r.spec.trial_id ? std::to_string(*r.spec.trial_id) : "") << "," << csv_field(r.spec.plugin_id)
          << "," << csv_field(kpi) << "," << csv_field(unit) << "," << csv_field(group) << "," << csv_field(subject) << ","
          << t << "," << csv_field(field) << "," << csv_field(value) << "\n";
    };
    // Missing numbers are empty cells (not NaN), so spreadsheets and pandas read them as missing.
    auto num = [](const std::optional<double>& v) { return v && std::isfinite(*v) ? format_number(*v, 10) : ""; };
    for (const auto& r : reports) {
        row("verdict", r, "", "", "", "", "", "overall", r.overall);
        for (const auto& k : r.kpis) {
            for (const auto* g : {&k.trial, &k.reference}) {
                if (g == &k.reference && k.comparison == "none") continue;
                const auto& d = g->figures;
                row("figure", r, k.metric, k.unit, g->label, "", "", "count", std::to_string(d.count));
                const std::pair<const char*, std::optional<double>> f[] = {{"mean", d.mean}, {"median", d.median},
                    {"p5", d.p5}, {"p95", d.p95}, {"min", d.min}, {"max", d.max}, {"sd", d.sd}};
                for (const auto& [name, v] : f) row("figure", r, k.metric, k.unit, g->label, "", "", name, num(v));
            }
            const auto& c = k.test;
            if (c.ok) {
                const std::pair<const char*, std::optional<double>> f[] = {{"difference", c.difference},
                    {"ci95_low", c.ci_low}, {"ci95_high", c.ci_high}, {"p_value", c.p_value}, {"df", c.df},
                    {"hedges_g", c.hedges_g}, {"bucket_s", static_cast<double>(k.bucket_us) / 1e6}};
                for (const auto& [name, v] : f) row("figure", r, k.metric, k.unit, "comparison", "", "", name, num(v));
            }
            row("figure", r, k.metric, k.unit, "comparison", "", "", "verdict", k.verdict);
            for (const auto& n : k.notes) row("figure", r, k.metric, k.unit, "comparison", "", "", "note", n);
        }
        for (const auto& g : r.guardrails) row("guardrail", r, "", "", "", "", "", g.name, g.status + ": " + g.detail);
        const auto& q = r.quality;
        row("quality", r, "", "", "", "", "", "messages", std::to_string(q.messages));
        row("quality", r, "", "", "", "", "", "gaps", std::to_string(q.gaps));
        row("quality", r, "", "", "", "", "", "dropped", std::to_string(q.dropped));
        row("quality", r, "", "", "", "", "", "stale_events", std::to_string(q.stale_events));
        for (const auto& w : q.warnings) row("quality", r, "", "", "", "", "", "warning", w);
        for (const auto& k : r.kpis) {
            for (const auto* g : {&k.trial, &k.reference}) {
                for (const auto& s : g->samples) {
                    row("sample", r, k.metric, k.unit, g->label, "", std::to_string(s.t_us), "value",
                        std::isfinite(s.value) ? format_number(s.value, 12) : "");
                }
            }
        }
    }
    return o.str();
}

std::string render_html(const std::vector<TrialReport>& reports, const RenderContext& ctx) {
    std::ostringstream o;
    o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Pilot evaluation</title>"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>" << kCss << "</style></head><body>";
    o << "<h1>Pilot evaluation</h1><p>Database <code>" << html_escape(ctx.database) << "</code>";
    if (!ctx.generated_at.empty()) o << ", generated " << html_escape(ctx.generated_at);
    o << ". Method: t-tests on bucket means (paired per bucket against a control group, Welch against a "
         "baseline window), 95% confidence intervals, Hedges' g.</p>";
    if (reports.empty()) o << "<p class=\"none\">No trials to report.</p>";
    for (const auto& r : reports) {
        o << "<section class=\"trial\"><h2>" << html_escape(trial_title(r)) << "</h2><table>";
        auto kv = [&](const std::string& k, const std::string& v) {
            o << "<tr><th>" << html_escape(k) << "</th><td>" << html_escape(v) << "</td></tr>";
        };
        if (!r.spec.organisation.empty()) kv("organisation", r.spec.organisation);
        if (!r.spec.testbed.empty()) kv("testbed", r.spec.testbed);
        if (!r.spec.state.empty()) kv("state", r.spec.state);
        if (r.spec.from_us && r.spec.until_us) kv("window", iso_time(*r.spec.from_us) + " to " + iso_time(*r.spec.until_us));
        kv("compared with", comparison_text(r));
        kv("runs", std::to_string(r.runs.size()));
        o << "</table>";
        const std::string vcls = r.overall == "improved" ? "v-improved"
                                 : (r.overall == "harmful" || r.overall == "worsened") ? "v-harmful" : "v-other";
        o << "<p class=\"verdict " << vcls << "\">Verdict: " << html_escape(r.overall) << ". " << html_escape(r.overall_text)
          << "</p>";
        if (r.kpis.empty()) o << "<p class=\"none\">No KPI was recorded for this trial.</p>";
        for (const auto& k : r.kpis) {
            o << "<h3>KPI " << html_escape(k.metric) << " <small>(" << html_escape(k.unit.empty() ? "no unit" : k.unit)
              << ", " << better_text(k.better) << ")</small></h3>";
            if (!k.description.empty()) o << "<p>" << html_escape(k.description) << "</p>";
            if (k.units_seen.size() <= 1) {
                o << "<table><tr><th>group</th><th>count</th><th>mean</th><th>median</th><th>p5</th><th>p95</th>"
                     "<th>min</th><th>max</th></tr>";
                o << figures_row_html(group_label(k.trial), k.trial.figures);
                if (k.comparison != "none") o << figures_row_html(group_label(k.reference), k.reference.figures);
                o << "</table>";
            }
            if (k.test.ok) {
                o << "<table><tr><th>difference (trial - " << html_escape(k.reference.label) << ")</th><td>"
                  << html_escape(format_number(k.test.difference) + " " + k.unit)
                  << (k.test.relative_ok ? " (" + html_escape(format_number(100 * k.test.relative, 3)) + "%)" : "")
                  << "</td></tr><tr><th>95% confidence interval</th><td>" << html_escape(format_number(k.test.ci_low))
                  << " to " << html_escape(format_number(k.test.ci_high)) << "</td></tr><tr><th>p-value</th><td>"
                  << html_escape(format_p(k.test.p_value) + " (" + method_text(k.test) + ")")
                  << "</td></tr><tr><th>effect size (Hedges' g)</th><td>"
                  << html_escape(k.test.hedges_g ? format_number(*k.test.hedges_g, 3) : "n/a (no variation)")
                  << "</td></tr><tr><th>periods compared</th><td>" << html_escape(periods_text(k))
                  << "</td></tr></table>";
            }
            o << "<p><strong>" << html_escape(k.verdict) << "</strong>: " << html_escape(k.verdict_text) << "</p>";
            for (const auto& n : k.notes) o << "<p class=\"note\">Note: " << html_escape(n) << "</p>";
            if (k.units_seen.size() <= 1) {
                o << "<p class=\"legend\"><span style=\"background:#1f7a3f\"></span>trial<span style=\"background:#34495e\">"
                     "</span>"
                  << html_escape(k.reference.label) << " (lines: bucket means, dots: samples)</p>";
                o << time_chart(r, k);
                o << "<p class=\"legend\">Distribution, " << html_escape(k.reference.label)
                  << " <span style=\"background:#8a99ad\"></span> vs trial <span style=\"background:#2e9e57\"></span></p>";
                o << distribution_chart(k);
            }
        }
        o << "<h3>Guardrails</h3><table><tr><th>guardrail</th><th>status</th><th>detail</th></tr>";
        for (const auto& g : r.guardrails) {
            o << "<tr><td>" << html_escape(g.name) << "</td><td class=\"" << g.status << "\">" << g.status << "</td><td class=\"l\">"
              << html_escape(g.detail) << "</td></tr>";
        }
        o << "</table>";
        const auto& q = r.quality;
        o << "<h3>Data quality</h3><table><tr><th>feed messages</th><td>" << q.messages << "</td></tr><tr><th>sequence gaps</th><td>"
          << q.gaps << "</td></tr><tr><th>duplicates / out of order</th><td>" << q.duplicates << " / " << q.out_of_order
          << "</td></tr><tr><th>dropped at ingest</th><td>" << q.dropped << "</td></tr><tr><th>stale-feed periods</th><td>"
          << q.stale_events << "</td></tr></table>";
        if (q.warnings.empty()) o << "<p>No data-quality problem that could bias the result.</p>";
        for (const auto& w : q.warnings) o << "<p class=\"note\">Warning: " << html_escape(w) << "</p>";
        o << "</section>";
    }
    o << "</body></html>\n";
    return o.str();
}

}  // namespace tb::report
