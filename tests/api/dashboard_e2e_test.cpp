// The dashboard as a person uses it (issue 8): the host runs with the city simulator feeding it,
// headless Chromium (Debian's chromium + chromium-driver, driven over the W3C WebDriver HTTP
// protocol on 127.0.0.1) opens the page, signs in with a token, watches live values change,
// stops a trial as staff, and an organisation's token does not show another organisation's trial.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api_fixture.hpp"
#include "api/http_client.hpp"

namespace tb::test {
namespace {

using nlohmann::json;
constexpr const char* kElementKey = "element-6066-11e4-a52e-4f735466cecf";

uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// A WebDriver session on a chromedriver this test starts (and ends).
class Browser {
 public:
    Browser(const TempDir& dir) {
        port_ = free_port();
        driver_ = std::make_unique<Process>(
            "/usr/bin/chromedriver", std::vector<std::string>{"--port=" + std::to_string(port_)},
            dir.path());
        base_ = "http://127.0.0.1:" + std::to_string(port_);
        ready_ = wait_until(
            [&] {
                auto r = host::api::http_request("GET", base_ + "/status", "", {},
                                                 std::chrono::seconds(2));
                return r.is_ok() && r->status == 200;
            },
            std::chrono::seconds(30));
        if (!ready_) return;
        fs::create_directories(dir / "chromium-profile");
        const json caps{{"capabilities",
                         {{"alwaysMatch",
                           {{"browserName", "chrome"},
                            {"goog:chromeOptions",
                             {{"binary", "/usr/bin/chromium"},
                              {"args",
                               {"--headless", "--no-sandbox", "--disable-gpu",
                                "--disable-background-networking", "--disable-component-update",
                                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                                "--user-data-dir=" + (dir / "chromium-profile").string()}}}}}}}}};
        auto r = call("POST", "/session", caps, std::chrono::seconds(90));
        session_ = r.value("sessionId", "");
        if (session_.empty() && r.contains("value")) session_ = r["value"].value("sessionId", "");
        ready_ = !session_.empty();
        if (!ready_) error_ = r.dump();
    }
    ~Browser() {
        if (!session_.empty())
            call("DELETE", "/session/" + session_, nullptr, std::chrono::seconds(20));
    }
    Browser(const Browser&) = delete;
    Browser& operator=(const Browser&) = delete;

    bool ready() const { return ready_; }
    const std::string& error() const { return error_; }

    json call(const std::string& method, const std::string& path, const json& body,
              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        auto r = host::api::http_request(method, base_ + path, "",
                                         body.is_null() ? "" : body.dump(), timeout);
        if (!r) return json{{"transport_error", r.error().message}};
        json j = json::parse(r->body, nullptr, false);
        return j.is_discarded() ? json{{"bad_reply", r->body}} : j;
    }
    json s(const std::string& method, const std::string& path, const json& body = json::object()) {
        return call(method, "/session/" + session_ + path, body);
    }
    void open(const std::string& url) { s("POST", "/url", {{"url", url}}); }
    std::string element(const std::string& css) {
        auto r = s("POST", "/element", {{"using", "css selector"}, {"value", css}});
        return r.contains("value") && r["value"].is_object() ? r["value"].value(kElementKey, "")
                                                             : "";
    }
    void type(const std::string& css, const std::string& text) {
        s("POST", "/element/" + element(css) + "/value", {{"text", text}});
    }
    bool click(const std::string& css) {
        const std::string id = element(css);
        if (id.empty()) return false;
        auto r = s("POST", "/element/" + id + "/click", json::object());
        return r.contains("value") && r["value"].is_null();
    }
    json js(const std::string& script) {
        auto r = s("POST", "/execute/sync", {{"script", script}, {"args", json::array()}});
        return r.contains("value") ? r["value"] : json();
    }
    void sign_in(const std::string& token) {
        js("sessionStorage.clear(); document.getElementById('token').value = ''; return 0;");
        type("#token", token);
        click("#signin");
    }

 private:
    uint16_t port_ = 0;
    std::unique_ptr<Process> driver_;
    std::string base_, session_, error_;
    bool ready_ = false;
};

TEST(DashboardE2ETest, StaffWatchesLiveDataAndStopsATrialOrgSeesOnlyItsOwn) {
    if (!fs::exists("/usr/bin/chromium") || !fs::exists("/usr/bin/chromedriver")) {
        GTEST_SKIP()
            << "needs Debian's chromium and chromium-driver (tools/setup-deps installs them)";
    }
    ApiHost h;
    h.start();
    // The city simulator feeds the host for the whole test.
    Process sim(bin_dir() / "testbed",
                {"feed", "sim", "--testbed", (h.dir / "tb").string(), "--endpoint", h.ingest,
                 "--rate", "40", "--duration", "300", "--speed", "60"},
                h.dir.path());

    Browser b(h.dir);
    ASSERT_TRUE(b.ready()) << "chromedriver/chromium did not start: " << b.error();
    b.open(h.base + "/");
    b.sign_in(h.staff_token);

    // Live values: the received counter and sensor markers update without reloading.
    auto received = [&]() -> int64_t {
        auto v = b.js(
            "var t = document.getElementById('received').textContent; return /^[0-9]+$/.test(t) ? "
            "Number(t) : -1;");
        return v.is_number() ? v.get<int64_t>() : -1;
    };
    ASSERT_TRUE(wait_until([&] { return received() > 0; }, std::chrono::seconds(30)))
        << b.js("return document.body.innerText;").dump();
    const int64_t first = received();
    EXPECT_TRUE(wait_until([&] { return received() > first; }, std::chrono::seconds(30)));
    EXPECT_TRUE(wait_until(
        [&] {
            return b.js("return document.querySelectorAll('circle.sensor.fresh').length;")
                       .get<int>() > 0;
        },
        std::chrono::seconds(30)));
    EXPECT_EQ(b.js("return document.querySelectorAll('#map path.zone').length;"), 1);
    EXPECT_TRUE(wait_until(
        [&] {
            return b.js("return document.querySelectorAll('#plugins tr[data-instance]').length;")
                       .get<int>() == 1;
        },
        std::chrono::seconds(10)));

    // Staff stops the water team's trial with the button.
    const std::string row = "#trials tr[data-trial-id=\"" + std::to_string(h.water_trial) + "\"]";
    ASSERT_TRUE(wait_until([&] { return !b.element(row + " button.suspend").empty(); },
                           std::chrono::seconds(20)));
    // The table is re-rendered by polling, so a found button can be replaced before the click
    // lands ("stale element"): click again until one lands (a second suspend would be refused).
    ASSERT_TRUE(
        wait_until([&] { return b.click(row + " button.suspend"); }, std::chrono::seconds(20)));
    EXPECT_TRUE(wait_until(
        [&] {
            return b.js("var c = document.querySelector('" + row +
                        " td.state'); return c ? c.textContent : '';") == "suspended";
        },
        std::chrono::seconds(20)));
    EXPECT_EQ(query_rows(h.db, "SELECT state FROM trials WHERE id = " +
                                   std::to_string(h.water_trial))[0][0],
              "suspended");
    // The action shows up in the live event list (via the event stream).
    EXPECT_TRUE(wait_until(
        [&] {
            auto t = b.js("return document.getElementById('events').textContent;");
            return t.is_string() &&
                   t.get<std::string>().find("suspended by alice-staff") != std::string::npos;
        },
        std::chrono::seconds(20)));

    // ParkSense's token: its own trial only, and no stop button.
    b.sign_in(h.other_token);
    const std::string other_row =
        "#trials tr[data-trial-id=\"" + std::to_string(h.other_trial) + "\"]";
    ASSERT_TRUE(wait_until(
        [&] {
            auto t = b.js("return document.getElementById('caller').textContent;");
            return t.is_string() && t.get<std::string>().find("parksense") != std::string::npos;
        },
        std::chrono::seconds(20)));
    ASSERT_TRUE(
        wait_until([&] { return !b.element(other_row).empty(); }, std::chrono::seconds(20)));
    EXPECT_EQ(b.js("return document.querySelectorAll('#trials tbody tr').length;"), 1);
    EXPECT_TRUE(b.element(row).empty());
    EXPECT_EQ(b.js("return document.querySelectorAll('#trials button').length;"), 0);
    EXPECT_EQ(b.js("return document.querySelectorAll('#plugins tr[data-instance]').length;"), 0);
}

}  // namespace
}  // namespace tb::test
