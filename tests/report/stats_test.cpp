// Known-answer tests for tools/common/stats: descriptive figures, Welch's test against a hand
// computation, and the statistical validation of the method on synthetic autocorrelated series
// (AR(1) noise) with and without a known effect, over 200 seeded runs.
#include "common/stats.hpp"
#include "feedsim/city_sim.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace {

using tb::stats::Sample;

TEST(Stats, DescribeKnownValues) {
    const auto d = tb::stats::describe({5, 1, 4, 2, 3, NAN});
    EXPECT_EQ(d.count, 5u);
    EXPECT_EQ(d.non_finite, 1u);
    EXPECT_DOUBLE_EQ(*d.mean, 3.0);
    EXPECT_DOUBLE_EQ(*d.median, 3.0);
    EXPECT_DOUBLE_EQ(*d.min, 1.0);
    EXPECT_DOUBLE_EQ(*d.max, 5.0);
    EXPECT_DOUBLE_EQ(*d.p5, 1.2);   // type-7 interpolation: 1 + 0.05 * 4 * (2 - 1)
    EXPECT_DOUBLE_EQ(*d.p95, 4.8);
    EXPECT_NEAR(*d.sd, std::sqrt(2.5), 1e-12);
}

TEST(Stats, DescribeEmptyAndSingle) {
    const auto e = tb::stats::describe({});
    EXPECT_EQ(e.count, 0u);
    EXPECT_FALSE(e.mean.has_value());
    const auto one = tb::stats::describe({7});
    EXPECT_EQ(one.count, 1u);
    EXPECT_DOUBLE_EQ(*one.median, 7.0);
    EXPECT_FALSE(one.sd.has_value());
}

TEST(Stats, WelchMatchesHandComputation) {
    // mean a 3, var 2.5; mean b 6, var 10: se = sqrt(0.5 + 2) , df = 2.5^2 / (0.5^2/4 + 2^2/4).
    const auto c = tb::stats::welch({1, 2, 3, 4, 5}, {2, 4, 6, 8, 10});
    ASSERT_TRUE(c.ok) << c.reason;
    EXPECT_DOUBLE_EQ(c.difference, 3.0);
    EXPECT_NEAR(c.t, 3.0 / std::sqrt(2.5), 1e-12);
    EXPECT_NEAR(c.df, 6.25 / 1.0625, 1e-12);
    EXPECT_NEAR(c.p_value, 0.1075, 0.002);  // R: t.test(c(2,4,6,8,10), 1:5) gives p = 0.1075
    EXPECT_NEAR((c.ci_low + c.ci_high) / 2, 3.0, 1e-12);
    // At the CI bound the test is exactly at the 5% level.
    std::vector<double> shifted = {2, 4, 6, 8, 10};
    for (auto& x : shifted) x -= c.ci_low;
    EXPECT_NEAR(tb::stats::welch({1, 2, 3, 4, 5}, shifted).p_value, 0.05, 1e-9);
    // Hedges' g: d = 3 / sqrt((4*2.5 + 4*10)/8) = 3/2.5, J = 1 - 3/31.
    ASSERT_TRUE(c.hedges_g.has_value());
    EXPECT_NEAR(*c.hedges_g, 1.2 * (1 - 3.0 / 31), 1e-12);
}

TEST(Stats, WelchSaysWhyInWords) {
    const auto few = tb::stats::welch({1}, {1, 2, 3});
    EXPECT_FALSE(few.ok);
    EXPECT_NE(few.reason.find("too few"), std::string::npos);
    const auto flat = tb::stats::welch({2, 2, 2}, {2, 2});
    EXPECT_FALSE(flat.ok);
    EXPECT_NE(flat.reason.find("no variation"), std::string::npos);
}

TEST(Stats, FormatNeverPrintsNan) {
    EXPECT_EQ(tb::stats::format_number(NAN), "n/a");
    EXPECT_EQ(tb::stats::format_number(INFINITY), "too large");
    EXPECT_EQ(tb::stats::format_number(-0.0), "0");
    EXPECT_EQ(tb::stats::format_number(1.23456, 3), "1.23");
}

TEST(Stats, BucketMeansFloorBeforeOrigin) {
    const auto b = tb::stats::bucket_means({{-1, 1.0}, {0, 2.0}, {9, 4.0}, {10, 10.0}}, 0, 10);
    ASSERT_EQ(b.size(), 3u);
    EXPECT_EQ(b[0].start_us, -10);
    EXPECT_DOUBLE_EQ(b[1].mean, 3.0);
    EXPECT_EQ(b[2].count, 1u);
}

// One synthetic group: n samples one second apart, AR(1) noise with coefficient phi around `level`.
std::vector<Sample> ar1_series(std::mt19937_64& rng, std::size_t n, double phi, double level, int64_t start_us) {
    std::vector<Sample> out;
    double e = tb::feedsim::normal01(rng) / std::sqrt(1 - phi * phi);  // start in the stationary state
    for (std::size_t i = 0; i < n; ++i) {
        e = phi * e + tb::feedsim::normal01(rng);
        out.push_back({start_us + static_cast<int64_t>(i) * 1'000'000, level + e});
    }
    return out;
}

std::vector<double> bucket_values(const std::vector<Sample>& s, int64_t width) {
    std::vector<double> v;
    for (const auto& b : tb::stats::bucket_means(s, s.front().t_us, width)) v.push_back(b.mean);
    return v;
}

struct Validation {
    int covered = 0, significant = 0, naive_significant = 0;
};

Validation validate(double true_effect, int runs) {
    constexpr std::size_t kN = 2000;
    constexpr double kPhi = 0.7;
    Validation v;
    for (int seed = 1; seed <= runs; ++seed) {
        std::mt19937_64 rng(static_cast<uint64_t>(seed) * 7919);
        const auto base = ar1_series(rng, kN, kPhi, 10.0, 0);
        const auto trial = ar1_series(rng, kN, kPhi, 10.0 + true_effect, 10'000'000'000);
        const int64_t width = tb::stats::choose_bucket_width_us(base.back().t_us - base.front().t_us,
                                                                trial.back().t_us - trial.front().t_us);
        const auto c = tb::stats::welch(bucket_values(base, width), bucket_values(trial, width));
        EXPECT_TRUE(c.ok) << c.reason;
        if (c.ci_low <= true_effect && true_effect <= c.ci_high) ++v.covered;
        if (c.p_value < 0.05) ++v.significant;
        // The naive test that treats every sample as independent, for contrast.
        std::vector<double> ra, rb;
        for (const auto& s : base) ra.push_back(s.value);
        for (const auto& s : trial) rb.push_back(s.value);
        if (tb::stats::welch(ra, rb).p_value < 0.05) ++v.naive_significant;
    }
    return v;
}

TEST(StatsValidation, CoverageAndPowerWithKnownEffect) {
    const auto v = validate(0.5, 200);
    std::printf("known effect 0.5: CI coverage %d/200, significant %d/200 (naive %d/200)\n", v.covered, v.significant,
                v.naive_significant);
    EXPECT_GE(v.covered, 186);      // >= 93% for a nominal 95% interval
    EXPECT_GE(v.significant, 180);  // the effect is found (power >= 90%)
}

TEST(StatsValidation, FalsePositiveRateWithoutEffect) {
    const auto v = validate(0.0, 200);
    std::printf("no effect: CI coverage %d/200, false positives %d/200 (naive test on raw samples: %d/200)\n",
                v.covered, v.significant, v.naive_significant);
    EXPECT_GE(v.covered, 186);
    EXPECT_LE(v.significant, 18);  // about 5%: at most 9%
    EXPECT_GE(v.significant, 2);   // and not a test that never fires
    // The reason for bucketing: on raw autocorrelated samples the naive test fires far too often.
    EXPECT_GT(v.naive_significant, 40);
}

}  // namespace

namespace {

// Control-group design: both groups share a strong common signal (time of day) plus their own
// AR(1) noise; the paired test must remove the shared part and keep its nominal error rates.
Validation validate_paired(double true_effect, int runs) {
    constexpr std::size_t kN = 2000;
    Validation v;
    for (int seed = 1; seed <= runs; ++seed) {
        std::mt19937_64 rng(static_cast<uint64_t>(seed) * 104729);
        auto control = ar1_series(rng, kN, 0.7, 10.0, 0);
        auto pilot = ar1_series(rng, kN, 0.7, 10.0 + true_effect, 0);
        for (std::size_t i = 0; i < kN; ++i) {
            const double common = 5 * std::sin(static_cast<double>(i) / 150.0);  // shared daily rhythm
            control[i].value += common;
            pilot[i].value += common;
        }
        const int64_t width = tb::stats::choose_bucket_width_us(control.back().t_us, control.back().t_us);
        const auto c = tb::stats::paired(tb::stats::bucket_means(control, 0, width), tb::stats::bucket_means(pilot, 0, width));
        EXPECT_TRUE(c.ok) << c.reason;
        if (c.ci_low <= true_effect && true_effect <= c.ci_high) ++v.covered;
        if (c.p_value < 0.05) ++v.significant;
        std::vector<double> a, b;
        for (const auto& x : tb::stats::bucket_means(control, 0, width)) a.push_back(x.mean);
        for (const auto& x : tb::stats::bucket_means(pilot, 0, width)) b.push_back(x.mean);
        if (tb::stats::welch(a, b).p_value < 0.05) ++v.naive_significant;  // unpaired, for contrast
    }
    return v;
}

TEST(StatsValidation, PairedControlGroupCoverageAndFalsePositives) {
    const auto e = validate_paired(0.5, 200);
    const auto z = validate_paired(0.0, 200);
    std::printf("paired, effect 0.5: coverage %d/200, significant %d/200 (unpaired Welch: %d/200)\n", e.covered,
                e.significant, e.naive_significant);
    std::printf("paired, no effect: coverage %d/200, false positives %d/200\n", z.covered, z.significant);
    EXPECT_GE(e.covered, 186);
    EXPECT_GE(z.covered, 186);
    EXPECT_LE(z.significant, 18);
    EXPECT_GE(z.significant, 2);
    EXPECT_GE(e.significant, 180);
    EXPECT_LT(e.naive_significant, e.significant);  // pairing is what makes the effect visible
}

TEST(Stats, PairedNeedsOverlappingBuckets) {
    const auto c = tb::stats::paired({{0, 3, 1.0}, {10, 3, 2.0}}, {{20, 3, 1.0}, {30, 3, 2.0}});
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.reason.find("too few periods with data in both groups"), std::string::npos);
}

}  // namespace
