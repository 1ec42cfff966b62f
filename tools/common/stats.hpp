// common/stats.hpp: the statistics behind `testbed report` (docs/evaluation.md explains the choices).
//
// City time series are autocorrelated: a busy hour is followed by another busy hour, so treating
// every sample as independent makes a confidence interval far too narrow and a p-value far too
// small. The comparison here therefore works on bucket aggregates: each group (baseline or
// control, and trial) is cut into time buckets, each bucket becomes one number (its mean), and
// the two sets of bucket means are compared with Welch's unequal-variance t-test, which also
// gives the 95% confidence interval of the difference. The effect size is Hedges' g on the same
// bucket means. Every function returns "no value" (std::nullopt) or a reason in words when the
// data cannot support a figure, so no NaN or infinity ever reaches a report.
// Thread safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tb::stats {

struct Sample {
    int64_t t_us = 0;
    double value = 0;
};

// Count, mean, median, p5/p95, min/max and standard deviation of finite values (non-finite
// values are skipped and counted). Mean etc. are empty when there are no finite values; sd is
// empty with fewer than two.
struct Descriptive {
    std::size_t count = 0;
    std::size_t non_finite = 0;
    std::optional<double> mean, median, p5, p95, min, max, sd;
};
Descriptive describe(const std::vector<double>& values);

// Percentile by linear interpolation between closest ranks (type 7, as R and numpy default).
// `sorted` must be sorted and non-empty; q in [0, 1].
double percentile_sorted(const std::vector<double>& sorted, double q);

// Bucket means: samples grouped into consecutive buckets of `width_us` starting at `origin_us`;
// empty buckets are left out. Samples need not be sorted.
struct Bucket {
    int64_t start_us = 0;
    std::size_t count = 0;
    double mean = 0;
};
std::vector<Bucket> bucket_means(const std::vector<Sample>& samples, int64_t origin_us, int64_t width_us);

// Bucket width for a comparison: one day when both groups span at least kMinDaysForDaily days,
// otherwise the shorter span divided by kTargetBuckets (at least 1 ms).
inline constexpr int kMinDaysForDaily = 10;
inline constexpr int kTargetBuckets = 20;
int64_t choose_bucket_width_us(int64_t span_a_us, int64_t span_b_us);

// Welch's t-test of mean(b) - mean(a) on two sets of independent values (bucket means).
struct Comparison {
    std::string method;       // "welch" or "paired"
    bool ok = false;
    std::string reason;       // why there is no result, in words (when !ok)
    double difference = 0;    // mean(b) - mean(a)
    double ci_low = 0, ci_high = 0;  // 95% CI of the difference
    double relative = 0;      // difference / |mean(a)|, 0 when mean(a) is 0 (see relative_ok)
    bool relative_ok = false;
    double t = 0, df = 0;
    double p_value = 1;       // two-sided
    std::optional<double> hedges_g;  // standardised effect; empty when both groups are constant
    std::size_t n_a = 0, n_b = 0;
    double mean_a = 0, mean_b = 0;
    std::optional<double> lag1_autocorrelation;  // of the bucket means, pooled (a warning sign)
};
Comparison welch(const std::vector<double>& a, const std::vector<double>& b, double confidence = 0.95);

// Paired t-test for a control group measured in the same period: bucket means of both groups on
// the same grid, paired by bucket start, and a one-sample t-test on the differences b - a. Pairing
// removes what both groups share (time of day, weather, events), which dominates city series.
// Hedges' g is still the between-group standardised difference of the paired bucket means.
Comparison paired(const std::vector<Bucket>& a, const std::vector<Bucket>& b, double confidence = 0.95);

// Lag-1 autocorrelation of a sequence (empty with fewer than 3 values or zero variance).
std::optional<double> lag1_autocorrelation(const std::vector<double>& v);

// Formats a figure for people: up to `digits` significant digits, never "nan" or "inf".
std::string format_number(double v, int digits = 4);

}  // namespace tb::stats
