// The HTML evaluation report opened in a real browser: headless Chromium loads the file written
// by `testbed report --format html`, and a probe script appended to a copy of it measures every
// chart element after layout (getBBox), so the test sees what a person would see: charts present,
// with non-empty geometry. Skipped (with the reason) only when Chromium is not installed.
#include "report_fixture.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include <unistd.h>

namespace {

using namespace tb::test;
using namespace tb::test::report;

std::optional<fs::path> find_chromium() {
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
        const char* path = std::getenv("PATH");
        std::string dirs = path ? path : "/usr/bin:/bin";
        std::size_t start = 0;
        while (start <= dirs.size()) {
            const auto end = dirs.find(':', start);
            const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
            if (::access(candidate.c_str(), X_OK) == 0) return candidate;
            if (end == std::string::npos) break;
            start = end + 1;
        }
    }
    return std::nullopt;
}

// Counts, per chart, the path/rect elements whose rendered box has a non-zero area (lines: length).
const char* kProbe = R"js(<script>
(function () {
  var out = [];
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var shapes = 0, visible = 0;
    svg.querySelectorAll('path, rect').forEach(function (el) {
      shapes++;
      var b = el.getBBox();
      if ((b.width > 0 || b.height > 0) && el.getTotalLength && el.getTotalLength() > 0) visible++;
      else if (el.tagName === 'rect' && b.width > 0 && b.height > 0) visible++;
    });
    var r = svg.getBoundingClientRect();
    out.push(svg.getAttribute('class') + ' shapes=' + shapes + ' visible=' + visible +
             ' size=' + Math.round(r.width) + 'x' + Math.round(r.height));
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = 'CHARTS ' + out.length + '\n' + out.join('\n');
  document.body.appendChild(pre);
})();
</script></body>)js";

TEST(HtmlReport, ChartsRenderInHeadlessChromium) {
    const auto chromium = find_chromium();
    if (!chromium) GTEST_SKIP() << "chromium is not installed (tools/setup-deps installs the Debian package)";
    TempDir dir;
    const auto db = (dir / "results.db").string();
    {
        ResultsDb d(db);
        const auto run = d.run();
        const auto trial = d.trial("parking_guide", R"({"subjects": ["C-1"]})");
        const auto s = d.series(d.plugin(run, "parking_guide", trial), "search_time", "s", "lower");
        d.ar1(s, "P-1", 300, 90, kT0, 1);
        d.ar1(s, "C-1", 300, 120, kT0, 2);
        // A second, before/after trial so both kinds of shading are drawn.
        const auto r0 = d.run();
        const auto s0 = d.series(d.plugin(r0, "footfall_counter"), "visitors", "count", "higher");
        d.ar1(s0, "FF-1", 200, 500, kT0 - 500 * kMinute, 3);
        const auto t2 = d.trial("footfall_counter", "", kT0 - 500 * kMinute, kT0 - 300 * kMinute);
        const auto s2 = d.series(d.plugin(run, "footfall_counter", t2), "visitors", "count", "higher");
        d.ar1(s2, "FF-1", 200, 560, kT0, 4);
    }
    const auto html = dir / "report.html";
    const auto r = run(bin_dir() / "testbed",
                       {"report", "--db", db, "--testbed", "city-centre", "--format", "html", "--out", html.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string text = read_file(html);
    // Self-contained: no scripts, no external resources.
    EXPECT_EQ(text.find("<script"), std::string::npos);
    EXPECT_EQ(text.find("http://"), std::string::npos);
    EXPECT_EQ(text.find("https://"), std::string::npos);
    EXPECT_EQ(text.find(" src="), std::string::npos);
    EXPECT_EQ(text.find("<link"), std::string::npos);

    const auto pos = text.rfind("</body>");
    ASSERT_NE(pos, std::string::npos);
    text.replace(pos, 7, kProbe);
    const auto probed = dir / "probed.html";
    write_file(probed, text);
    const auto b = run(*chromium,
                       {"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run",
                        "--user-data-dir=" + (dir / "chromium-profile").string(), "--virtual-time-budget=3000",
                        "--dump-dom", "file://" + probed.string()},
                       std::chrono::seconds(120));
    ASSERT_EQ(b.exit_code, 0) << b.err;
    const std::string marker = "<pre id=\"probe\">";
    auto start = b.out.find(marker);
    ASSERT_NE(start, std::string::npos) << "the probe did not run; chromium said:\n" << b.err.substr(0, 2000);
    start += marker.size();
    const std::string probe = b.out.substr(start, b.out.find("</pre>", start) - start);
    std::printf("%s\n", probe.c_str());
    // Two trials, one KPI each: a timeline and a distribution per KPI.
    EXPECT_NE(probe.find("CHARTS 4"), std::string::npos) << probe;
    const std::regex line(R"((chart \w+) shapes=(\d+) visible=(\d+) size=(\d+)x(\d+))");
    int timelines = 0, distributions = 0;
    for (auto it = std::sregex_iterator(probe.begin(), probe.end(), line); it != std::sregex_iterator(); ++it) {
        const auto& m = *it;
        const int shapes = std::stoi(m[2]), visible = std::stoi(m[3]);
        EXPECT_GT(std::stoi(m[4]), 100) << m[0];
        EXPECT_GT(std::stoi(m[5]), 100) << m[0];
        if (m[1] == "chart timeline") {
            ++timelines;
            EXPECT_GE(visible, 5) << "a timeline needs shading, dots and bucket lines: " << m[0];
        } else {
            ++distributions;
            EXPECT_GE(visible, 10) << "a histogram needs bars for both groups: " << m[0];
        }
        EXPECT_LE(visible, shapes);
    }
    EXPECT_EQ(timelines, 2);
    EXPECT_EQ(distributions, 2);
}

}  // namespace
