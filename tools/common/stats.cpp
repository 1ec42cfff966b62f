#include "common/stats.hpp"

#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace tb::stats {
namespace {

double mean_of(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
}

// Sample variance (n - 1), two-pass for accuracy with large offsets (e.g. timestamps, levels).
double variance_of(const std::vector<double>& v, double m) {
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return s / static_cast<double>(v.size() - 1);
}

}  // namespace

double percentile_sorted(const std::vector<double>& sorted, double q) {
    const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

Descriptive describe(const std::vector<double>& values) {
    Descriptive d;
    std::vector<double> v;
    v.reserve(values.size());
    for (double x : values) {
        if (std::isfinite(x)) v.push_back(x);
        else ++d.non_finite;
    }
    d.count = v.size();
    if (v.empty()) return d;
    std::sort(v.begin(), v.end());
    const double m = mean_of(v);
    d.mean = m;
    d.median = percentile_sorted(v, 0.5);
    d.p5 = percentile_sorted(v, 0.05);
    d.p95 = percentile_sorted(v, 0.95);
    d.min = v.front();
    d.max = v.back();
    if (v.size() >= 2) d.sd = std::sqrt(variance_of(v, m));
    return d;
}

std::vector<Bucket> bucket_means(const std::vector<Sample>& samples, int64_t origin_us, int64_t width_us) {
    std::map<int64_t, std::pair<std::size_t, double>> acc;
    if (width_us <= 0) width_us = 1;
    for (const auto& s : samples) {
        if (!std::isfinite(s.value)) continue;
        // Floor division, so samples before the origin land in negative buckets, not bucket 0.
        int64_t k = (s.t_us - origin_us) / width_us;
        if ((s.t_us - origin_us) % width_us != 0 && s.t_us < origin_us) --k;
        auto& [n, sum] = acc[k];
        ++n;
        sum += s.value;
    }
    std::vector<Bucket> out;
    out.reserve(acc.size());
    for (const auto& [k, ns] : acc) {
        out.push_back({origin_us + k * width_us, ns.first, ns.second / static_cast<double>(ns.first)});
    }
    return out;
}

int64_t choose_bucket_width_us(int64_t span_a_us, int64_t span_b_us) {
    constexpr int64_t kDayUs = 86'400'000'000;
    const int64_t shorter = std::max<int64_t>(0, std::min(span_a_us, span_b_us));
    if (shorter >= kMinDaysForDaily * kDayUs) return kDayUs;
    // +1 so the last sample (at exactly the end of the span) falls in the last bucket, not a new one.
    return std::max<int64_t>(1000, shorter / kTargetBuckets + 1);
}

std::optional<double> lag1_autocorrelation(const std::vector<double>& v) {
    if (v.size() < 3) return std::nullopt;
    const double m = mean_of(v);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        den += (v[i] - m) * (v[i] - m);
        if (i + 1 < v.size()) num += (v[i] - m) * (v[i + 1] - m);
    }
    if (!(den > 0)) return std::nullopt;
    return num / den;
}

Comparison welch(const std::vector<double>& a, const std::vector<double>& b, double confidence) {
    Comparison c;
    c.method = "welch";
    c.n_a = a.size();
    c.n_b = b.size();
    if (a.size() < 2 || b.size() < 2) {
        c.reason = "too few independent periods to test (comparison " + std::to_string(a.size()) + ", trial " +
                   std::to_string(b.size()) + "; at least 2 each are needed)";
        return c;
    }
    c.mean_a = mean_of(a);
    c.mean_b = mean_of(b);
    c.difference = c.mean_b - c.mean_a;
    if (c.mean_a != 0) {
        c.relative = c.difference / std::fabs(c.mean_a);
        c.relative_ok = std::isfinite(c.relative);
    }
    const double var_a = variance_of(a, c.mean_a), var_b = variance_of(b, c.mean_b);
    const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
    const double sa = var_a / na, sb = var_b / nb;
    const double se = std::sqrt(sa + sb);
    if (!(se > 0) || !std::isfinite(se)) {
        c.reason = "no variation within either group, so no confidence interval can be given";
        return c;
    }
    c.df = (sa + sb) * (sa + sb) / (sa * sa / (na - 1) + sb * sb / (nb - 1));
    c.t = c.difference / se;
    const boost::math::students_t dist(c.df);
    const double q = boost::math::quantile(boost::math::complement(dist, (1 - confidence) / 2));
    c.ci_low = c.difference - q * se;
    c.ci_high = c.difference + q * se;
    c.p_value = std::clamp(2 * boost::math::cdf(boost::math::complement(dist, std::fabs(c.t))), 0.0, 1.0);
    const double pooled = std::sqrt(((na - 1) * var_a + (nb - 1) * var_b) / (na + nb - 2));
    if (pooled > 0) {
        const double j = 1 - 3 / (4 * (na + nb) - 9);  // small-sample correction of Cohen's d
        c.hedges_g = c.difference / pooled * j;
    }
    const auto ra = lag1_autocorrelation(a), rb = lag1_autocorrelation(b);
    if (ra && rb) c.lag1_autocorrelation = (*ra + *rb) / 2;
    else if (ra) c.lag1_autocorrelation = ra;
    else if (rb) c.lag1_autocorrelation = rb;
    c.ok = std::isfinite(c.ci_low) && std::isfinite(c.ci_high) && std::isfinite(c.p_value);
    if (!c.ok) c.reason = "the test did not give finite figures (extreme values?)";
    return c;
}

Comparison paired(const std::vector<Bucket>& a, const std::vector<Bucket>& b, double confidence) {
    std::map<int64_t, double> by_start;
    for (const auto& x : a) by_start[x.start_us] = x.mean;
    std::vector<double> xa, xb, d;
    for (const auto& y : b) {
        const auto it = by_start.find(y.start_us);
        if (it == by_start.end()) continue;
        xa.push_back(it->second);
        xb.push_back(y.mean);
        d.push_back(y.mean - it->second);
    }
    Comparison c;
    c.method = "paired";
    c.n_a = c.n_b = d.size();
    if (d.size() < 2) {
        c.reason = "too few periods with data in both groups to pair (" + std::to_string(d.size()) +
                   "; at least 2 are needed)";
        return c;
    }
    c.mean_a = mean_of(xa);
    c.mean_b = mean_of(xb);
    c.difference = mean_of(d);
    if (c.mean_a != 0) {
        c.relative = c.difference / std::fabs(c.mean_a);
        c.relative_ok = std::isfinite(c.relative);
    }
    const double n = static_cast<double>(d.size());
    const double se = std::sqrt(variance_of(d, c.difference) / n);
    if (!(se > 0) || !std::isfinite(se)) {
        c.reason = "the paired differences do not vary, so no confidence interval can be given";
        return c;
    }
    c.df = n - 1;
    c.t = c.difference / se;
    const boost::math::students_t dist(c.df);
    const double q = boost::math::quantile(boost::math::complement(dist, (1 - confidence) / 2));
    c.ci_low = c.difference - q * se;
    c.ci_high = c.difference + q * se;
    c.p_value = std::clamp(2 * boost::math::cdf(boost::math::complement(dist, std::fabs(c.t))), 0.0, 1.0);
    const double var_a = variance_of(xa, c.mean_a), var_b = variance_of(xb, c.mean_b);
    const double pooled = std::sqrt((var_a + var_b) / 2);
    if (pooled > 0) c.hedges_g = c.difference / pooled * (1 - 3 / (4 * (2 * n) - 9));
    c.lag1_autocorrelation = lag1_autocorrelation(d);
    c.ok = std::isfinite(c.ci_low) && std::isfinite(c.ci_high) && std::isfinite(c.p_value);
    if (!c.ok) c.reason = "the test did not give finite figures (extreme values?)";
    return c;
}

std::string format_number(double v, int digits) {
    if (std::isnan(v)) return "n/a";
    if (std::isinf(v)) return v > 0 ? "too large" : "too small";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    std::string s = buf;
    if (s == "-0") s = "0";
    return s;
}

}  // namespace tb::stats
