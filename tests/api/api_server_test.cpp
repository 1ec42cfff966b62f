// HTTP API against the real testbed-host (issue 8): status codes and JSON errors, token roles,
// organisation isolation, the staff emergency stop, the event stream, /metrics and the CLI.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include "api/api_fixture.hpp"
#include "api/http_client.hpp"

namespace tb::test {
namespace {

using nlohmann::json;

void expect_error(const ApiHost::Reply& r, int status, const std::string& error) {
    EXPECT_EQ(r.status, status) << r.text;
    ASSERT_TRUE(r.body.is_object()) << r.text;
    EXPECT_EQ(r.body.value("error", ""), error) << r.text;
    EXPECT_FALSE(r.body.value("detail", "").empty()) << r.text;
}

class ApiServerTest : public ::testing::Test {
 protected:
    void SetUp() override { h.start(); }
    ApiHost h;
};

TEST_F(ApiServerTest, HealthzIsOpenEverythingElseNeedsAValidToken) {
    auto r = h.get("/healthz", "");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.value("status", ""), "ok");
    expect_error(h.get("/api/v1/status", ""), 401, "missing_token");
    expect_error(h.get("/api/v1/plugins", "tbk_not-a-real-token"), 401, "invalid_token");
    expect_error(h.get("/metrics", ""), 401, "missing_token");
    // Expired and revoked tokens are refused with their own error.
    const std::string old_token = h.new_token("staff", "old-timer");
    h.exec("UPDATE api_tokens SET expires_us = 1 WHERE name = 'old-timer'");
    expect_error(h.get("/api/v1/status", old_token), 401, "token_expired");
    auto rv = run(bin_dir() / "testbed",
                  {"token", "revoke", "--name", "water-team", "--db", h.db.string()});
    EXPECT_EQ(rv.exit_code, 0) << rv.err;
    expect_error(h.get("/api/v1/status", h.water_token), 401, "token_revoked");
    // A valid token works, and only the hash is stored.
    r = h.get("/api/v1/status", h.staff_token);
    EXPECT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["caller"]["name"], "alice-staff");
    EXPECT_EQ(r.body["testbed"], "api-test");
    EXPECT_EQ(r.body.value("input_rescues", -1), 0) << r.text;  // staff see the feed counters
    EXPECT_EQ(query_int(h.db, "SELECT COUNT(*) FROM api_tokens WHERE token_hash = '" +
                                  h.staff_token + "'"),
              0);
}

TEST_F(ApiServerTest, BadRequestsGetTheRightStatusAndAJsonError) {
    expect_error(h.get("/api/v1/nothing-here", h.staff_token), 404, "not_found");
    expect_error(h.get("/nope", ""), 404, "not_found");
    auto r = host::api::http_request("DELETE", h.base + "/api/v1/status", h.staff_token);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->headers["allow"], "GET");
    EXPECT_EQ(json::parse(r->body).value("error", ""), "method_not_allowed");
    expect_error(h.get("/api/v1/trials/1/suspend", h.staff_token), 405, "method_not_allowed");
    expect_error(h.get("/api/v1/trials/abc", h.staff_token), 400, "bad_trial_id");
    expect_error(h.get("/api/v1/events?since=yesterday", h.staff_token), 400, "bad_parameter");
    expect_error(h.get("/api/v1/events?limit=0", h.staff_token), 400, "bad_parameter");
    expect_error(h.post("/api/v1/trials/" + std::to_string(h.water_trial) + "/suspend",
                        h.staff_token, "{not json"),
                 400, "malformed_body");

    // Not HTTP at all.
    auto raw = host::api::http_raw("127.0.0.1", h.port, "HELLO THERE\r\n\r\n");
    ASSERT_TRUE(raw.is_ok());
    EXPECT_NE(raw->find("400 Bad Request"), std::string::npos) << *raw;
    EXPECT_NE(raw->find("\"malformed_request\""), std::string::npos) << *raw;

    // A body over the limit is refused from its Content-Length, before it is read.
    raw = host::api::http_raw(
        "127.0.0.1", h.port,
        "POST /api/v1/trials/1/suspend HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
            h.staff_token + "\r\nContent-Length: 10000000\r\n\r\n{");
    ASSERT_TRUE(raw.is_ok());
    EXPECT_NE(raw->find("413 Payload Too Large"), std::string::npos) << *raw;
    EXPECT_NE(raw->find("\"body_too_large\""), std::string::npos) << *raw;
    // ...and so is a chunked body that grows past it.
    std::string chunked =
        "POST /api/v1/trials/1/suspend HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 40; ++i) chunked += "1000\r\n" + std::string(4096, 'x') + "\r\n";
    raw = host::api::http_raw("127.0.0.1", h.port, chunked);
    ASSERT_TRUE(raw.is_ok());
    EXPECT_NE(raw->find("413 Payload Too Large"), std::string::npos) << raw->substr(0, 200);

    // Oversized headers.
    raw = host::api::http_raw(
        "127.0.0.1", h.port,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40000, 'a') + "\r\n\r\n");
    ASSERT_TRUE(raw.is_ok());
    EXPECT_NE(raw->find("431"), std::string::npos) << raw->substr(0, 200);

    // Clients that send half a request and then nothing, or never read, do not block others.
    std::vector<int> idle;
    for (int i = 0; i < 8; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(h.port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        const std::string partial =
            i % 2 ? "GET /api/v1/status HTTP/1.1\r\nHost: x\r\n"
                  : "GET /metrics HTTP/1.1\r\nAuthorization: Bearer " + h.staff_token +
                        "\r\n\r\n";  // complete, but the reply is never read
        ASSERT_GT(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL), 0);
        idle.push_back(fd);
    }
    // The host is still serving after all that.
    EXPECT_EQ(h.get("/api/v1/status", h.staff_token).status, 200);
    EXPECT_EQ(h.get("/healthz", "").status, 200);
    for (int fd : idle) ::close(fd);
}

// HEAD gets the headers GET would (Content-Length included) and no body, so a keep-alive client
// that sends HEAD and then GET on one connection reads two whole responses.
TEST_F(ApiServerTest, HeadIsAnsweredWithHeadersOnly) {
    const auto get = h.get("/api/v1/status", h.staff_token);
    ASSERT_EQ(get.status, 200);
    const std::string auth = "Authorization: Bearer " + h.staff_token + "\r\n";
    auto raw = host::api::http_raw(
        "127.0.0.1", h.port,
        "HEAD /api/v1/status HTTP/1.1\r\nHost: x\r\n" + auth +
            "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(raw.is_ok());
    const auto end_of_head = raw->find("\r\n\r\n");
    ASSERT_NE(end_of_head, std::string::npos) << *raw;
    const std::string first = raw->substr(0, end_of_head);
    EXPECT_EQ(first.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << first;
    EXPECT_NE(first.find("Content-Length: "), std::string::npos) << first;
    // The next bytes are the second response, not a body.
    EXPECT_EQ(raw->substr(end_of_head + 4, 17), "HTTP/1.1 200 OK\r\n") << *raw;
    EXPECT_NE(raw->find("\"status\":\"ok\""), std::string::npos) << *raw;  // /healthz's body
}

TEST_F(ApiServerTest, AnOrganisationSeesOnlyItsOwnTrialsPluginsAndEvents) {
    auto staff = h.get("/api/v1/trials", h.staff_token);
    ASSERT_EQ(staff.status, 200);
    EXPECT_EQ(staff.body.size(), 2u);

    auto other = h.get("/api/v1/trials", h.other_token);
    ASSERT_EQ(other.status, 200) << other.text;
    ASSERT_EQ(other.body.size(), 1u) << other.text;
    EXPECT_EQ(other.body[0]["organisation"], kOtherOrg);
    // Another organisation's trial looks exactly like one that does not exist.
    expect_error(h.get("/api/v1/trials/" + std::to_string(h.water_trial), h.other_token), 404,
                 "not_found");
    EXPECT_EQ(h.get("/api/v1/trials/" + std::to_string(h.other_trial), h.other_token).status, 200);

    auto plugins = h.get("/api/v1/plugins", h.other_token);
    ASSERT_EQ(plugins.status, 200);
    EXPECT_TRUE(plugins.body.empty()) << plugins.text;
    plugins = h.get("/api/v1/plugins", h.water_token);
    ASSERT_EQ(plugins.body.size(), 1u) << plugins.text;
    EXPECT_EQ(plugins.body[0]["instance"], "groundwater_alert");
    EXPECT_TRUE(plugins.body[0].contains("callback_p99_us"));

    // Only staff may act, even on the organisation's own trial.
    expect_error(
        h.post("/api/v1/trials/" + std::to_string(h.other_trial) + "/suspend", h.other_token), 403,
        "forbidden");
    EXPECT_EQ(query_rows(h.db, "SELECT state FROM trials WHERE id = " +
                                   std::to_string(h.other_trial))[0][0],
              "active");

    // An alert from the water team's plugin: visible to them and staff, not to ParkSense.
    TestPublisher pub(h.ingest);
    ASSERT_TRUE(pub.wait_for_subscriber());
    ASSERT_TRUE(pub.send("sensor/groundwater/GW-0001",
                         senml("urn:dev:enschede:gw:GW-0001:", "level", "m", 0.2, 1e9)));
    ASSERT_TRUE(wait_until(
        [&] {
            auto e = h.get("/api/v1/events", h.water_token);
            return e.status == 200 && !e.body["events"].empty();
        },
        std::chrono::seconds(20)));
    auto ev = h.get("/api/v1/events", h.water_token);
    EXPECT_EQ(ev.body["events"][0]["kind"], "groundwater_high");
    EXPECT_EQ(ev.body["events"][0]["organisation"], kWaterOrg);
    EXPECT_EQ(h.get("/api/v1/events", h.staff_token).body["events"].size(),
              ev.body["events"].size());
    EXPECT_TRUE(h.get("/api/v1/events", h.other_token).body["events"].empty());
    // Feeds and latest values follow the organisation's reads: groundwater is not ParkSense's.
    EXPECT_FALSE(h.get("/api/v1/latest?prefix=sensor/", h.water_token).body.empty());
    EXPECT_TRUE(h.get("/api/v1/latest?prefix=sensor/", h.other_token).body.empty());
    EXPECT_TRUE(h.get("/api/v1/feeds", h.other_token).body.empty());
}

TEST_F(ApiServerTest, StaffSuspendAndResumeAreRecordedWithTheTokenName) {
    const std::string path = "/api/v1/trials/" + std::to_string(h.water_trial);
    auto r = h.post(path + "/suspend", h.staff_token, R"({"reason":"flooding the output"})");
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["trial"]["state"], "suspended");
    EXPECT_EQ(r.body["actor"], "alice-staff");
    EXPECT_EQ(query_rows(h.db, "SELECT state FROM trials WHERE id = " +
                                   std::to_string(h.water_trial))[0][0],
              "suspended");
    EXPECT_EQ(h.get(path, h.staff_token).body["state"], "suspended");
    // The decision takes the CLI's governance path: a hash-chained audit row names the token...
    auto audit =
        query_rows(h.db, "SELECT actor, action, outcome, reason FROM audit_log WHERE trial_id = " +
                             std::to_string(h.water_trial) + " AND action = 'suspend'");
    ASSERT_EQ(audit.size(), 1u);
    EXPECT_EQ(audit[0][0], "alice-staff");
    EXPECT_EQ(audit[0][2], "done");
    EXPECT_EQ(audit[0][3], "flooding the output");
    EXPECT_EQ(run(bin_dir() / "testbed", {"audit", "verify", "--db", h.db.string()}).exit_code, 0);
    // ...and an event puts it in the live event list.
    auto rows = query_rows(h.db, "SELECT message FROM events WHERE kind = 'staff_action'");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_NE(rows[0][0].find("alice-staff"), std::string::npos) << rows[0][0];

    expect_error(h.post(path + "/suspend", h.staff_token), 409, "conflict");
    r = h.post(path + "/resume", h.staff_token);
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["trial"]["state"], "active");
    expect_error(h.post("/api/v1/trials/9999/suspend", h.staff_token), 404, "not_found");
}

TEST_F(ApiServerTest, EventStreamDeliversNewEventsToAllowedSubscribers) {
    json got_staff, got_other;
    std::thread staff_listener([&] {
        auto s = host::api::http_event_stream(
            h.base + "/api/v1/events/stream", h.staff_token,
            [&](const host::api::SseEvent& e) {
                got_staff = json::parse(e.data, nullptr, false);
                return false;
            },
            std::chrono::seconds(30));
        EXPECT_TRUE(s.is_ok()) << s.message();
    });
    std::thread other_listener([&] {
        // ParkSense must not see the water team's alert; it listens briefly and gets nothing.
        auto s = host::api::http_event_stream(
            h.base + "/api/v1/events/stream", h.other_token,
            [&](const host::api::SseEvent& e) {
                got_other = json::parse(e.data, nullptr, false);
                return false;
            },
            std::chrono::seconds(8));
        EXPECT_TRUE(s.is_ok()) << s.message();
    });
    // Both streams are open once the API counts them.
    EXPECT_TRUE(wait_until(
        [&] { return h.get("/api/v1/status", h.staff_token).body["api"]["streams"] == 2; },
        std::chrono::seconds(10)));
    TestPublisher pub(h.ingest);
    ASSERT_TRUE(pub.wait_for_subscriber());
    ASSERT_TRUE(pub.send("sensor/groundwater/GW-0002",
                         senml("urn:dev:enschede:gw:GW-0002:", "level", "m", 0.3, 1e9)));
    staff_listener.join();
    other_listener.join();
    ASSERT_TRUE(got_staff.is_object());
    EXPECT_EQ(got_staff["kind"], "groundwater_high");
    EXPECT_EQ(got_staff["instance"], "groundwater_alert");
    EXPECT_TRUE(got_other.is_null()) << got_other.dump();
    // A stream without a token is refused like any other endpoint.
    auto s = host::api::http_event_stream(
        h.base + "/api/v1/events/stream", "", [](const auto&) { return false; },
        std::chrono::seconds(5));
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("401"), std::string::npos) << s.message();
}

TEST_F(ApiServerTest, MetricsAreValidPrometheusTextWithPerPluginAndPerFeedLabels) {
    TestPublisher pub(h.ingest);
    ASSERT_TRUE(pub.wait_for_subscriber());
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(pub.send("sensor/groundwater/GW-0003",
                             senml("urn:dev:enschede:gw:GW-0003:", "level", "m", -1.0, 1e9 + i)));
    }
    ASSERT_TRUE(pub.send("sensor/parking/PG-0001",
                         senml("urn:dev:enschede:pg:PG-0001:", "occupancy", "%", 40, 1e9)));
    // Wait until the plugin has processed all five and the snapshot shows it.
    const std::regex delivered(
        R"(testbed_plugin_delivered_total\{[^}]*instance="groundwater_alert"[^}]*\} 5)");
    ASSERT_TRUE(wait_until(
        [&] {
            // The fixture configures 4 + 2 sensors; all are listed, two have been heard.
            const auto feeds = h.get("/api/v1/feeds", h.staff_token).body;
            std::size_t heard = 0;
            for (const auto& f : feeds) heard += f["messages"].get<uint64_t>() > 0 ? 1 : 0;
            return feeds.size() == 6 && heard == 2 &&
                   std::regex_search(h.get("/metrics", h.staff_token).text, delivered);
        },
        std::chrono::seconds(20)));
    auto r = h.get("/metrics", h.staff_token);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"].rfind("text/plain; version=0.0.4", 0), 0u);
    const std::regex sample(
        R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.eE+-]+$)");
    const std::regex meta(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
    std::istringstream lines(r.text);
    std::string line;
    std::size_t samples = 0;
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        EXPECT_TRUE(std::regex_match(line, line[0] == '#' ? meta : sample))
            << "not Prometheus text: " << line;
        samples += line[0] == '#' ? 0 : 1;
    }
    EXPECT_GT(samples, 10u);
    EXPECT_TRUE(std::regex_search(r.text, delivered)) << r.text;
    EXPECT_NE(r.text.find("testbed_feed_source_messages_total{testbed=\"api-test\",source=\"sensor/"
                          "parking/PG-0001\"} 1"),
              std::string::npos)
        << r.text;
    EXPECT_NE(r.text.find("testbed_uptime_seconds"), std::string::npos);
    // An organisation's metrics hold only its plugins and the feeds it reads.
    auto other = h.get("/metrics", h.other_token);
    ASSERT_EQ(other.status, 200);
    EXPECT_EQ(other.text.find("groundwater_alert"), std::string::npos) << other.text;
    EXPECT_EQ(other.text.find("sensor/"), std::string::npos) << other.text;
    EXPECT_EQ(other.text.find("testbed_uptime_seconds{"), std::string::npos) << other.text;
}

TEST_F(ApiServerTest, CliStatusAndEventsUseTheApi) {
    auto r = run(bin_dir() / "testbed", {"status", "--api", h.base, "--token", h.staff_token});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("groundwater_alert"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("alice-staff"), std::string::npos) << r.out;
    r = run(bin_dir() / "testbed", {"status", "--api", h.base});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
    r = run(bin_dir() / "testbed", {"status", "--api", "ftp://nowhere"});
    EXPECT_EQ(r.exit_code, 2) << r.err;

    ASSERT_EQ(h.post("/api/v1/trials/" + std::to_string(h.water_trial) + "/suspend", h.staff_token)
                  .status,
              200);
    ASSERT_TRUE(wait_until(
        [&] {
            auto e =
                run(bin_dir() / "testbed", {"events", "--api", h.base, "--token", h.staff_token});
            return e.exit_code == 0 && e.out.find("staff_action") != std::string::npos;
        },
        std::chrono::seconds(20)));
    // --follow streams: start it, cause an event, and see it arrive.
    Process follow(
        bin_dir() / "testbed",
        {"events", "--follow", "--api", h.base, "--token", h.staff_token, "--since", "999999"},
        h.dir.path());
    ASSERT_TRUE(wait_until(
        [&] { return h.get("/api/v1/status", h.staff_token).body["api"]["streams"] == 1; },
        std::chrono::seconds(10)));
    ASSERT_EQ(
        h.post("/api/v1/trials/" + std::to_string(h.water_trial) + "/resume", h.staff_token).status,
        200);
    EXPECT_TRUE(follow.wait_for_output("resumed by alice-staff", std::chrono::seconds(20)))
        << follow.out() << follow.err();
}

}  // namespace
}  // namespace tb::test
