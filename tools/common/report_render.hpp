// common/report_render.hpp: turn evaluated trials into Markdown, JSON, CSV or one self-contained
// HTML page with inline SVG charts (docs/evaluation.md shows how to read them).
//
// Every renderer prints a missing figure as words ("no data", "n/a" with the reason nearby) and
// JSON as null, never NaN. HTML needs no network: styles and charts are inline, no scripts.
// Thread safety: pure functions of their arguments.
#pragma once

#include "common/evaluation.hpp"

#include <string>
#include <vector>

namespace tb::report {

struct RenderContext {
    std::string database;      // shown in the header
    std::string generated_at;  // ISO time, shown in the header ("" to omit)
};

std::string render_markdown(const std::vector<TrialReport>& reports, const RenderContext& ctx);
std::string render_json(const std::vector<TrialReport>& reports, const RenderContext& ctx);
// One tidy table: record (figure | sample | guardrail | quality), trial, kpi, group, subject,
// t_us, field, value. Analysts filter by `record`.
std::string render_csv(const std::vector<TrialReport>& reports, const RenderContext& ctx);
std::string render_html(const std::vector<TrialReport>& reports, const RenderContext& ctx);

// ISO 8601 UTC time of microseconds since the epoch, e.g. 2026-11-28T16:00:00Z.
std::string iso_time(int64_t t_us);

}  // namespace tb::report
