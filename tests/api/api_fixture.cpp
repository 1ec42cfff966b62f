#include "api/api_fixture.hpp"

#include "api/http_client.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <regex>

namespace tb::test {

std::string ApiHost::new_token(const std::string& role, const std::string& name) {
    auto r = run(bin_dir() / "testbed", {"token", "new", "--role", role, "--name", name, "--db", db.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string t = r.out;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    return t;
}

void ApiHost::exec(const std::string& sql) {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    char* err = nullptr;
    const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
    sqlite3_free(err);
    sqlite3_close(h);
}

int64_t ApiHost::add_trial(const std::string& plugin_id, const std::string& organisation, const std::string& state) {
    exec("INSERT INTO trials(plugin_id, plugin_version, plugin_file, plugin_sha256, manifest_json, organisation, "
         "testbed, reads_json, publishes_json, from_us, until_us, purpose, trust, state, created_us, updated_us) "
         "VALUES ('" + plugin_id + "', '1.0', '/x.so', 'abc', '{}', '" + organisation + "', 'api-registry', "
         "'[\"sensor/\"]', '[]', 1, 4102444800000000, 'test', 'in-process', '" + state + "', 1, 1)");
    return query_int(db, "SELECT MAX(id) FROM trials").value_or(0);
}

void ApiHost::start(const std::vector<std::string>& extra_args) {
    staff_token = new_token("staff", "alice-staff");
    water_token = new_token(std::string("org:") + kWaterOrg, "water-team");
    other_token = new_token(std::string("org:") + kOtherOrg, "parksense");
    water_trial = add_trial("groundwater_alert", kWaterOrg, "active");
    other_trial = add_trial("parking_guide", kOtherOrg, "active");
    const fs::path tb = write_testbed(dir / "tb", R"(
[testbed]
id = "api-test"
name = "API test bed"
zone = "zones/city-centre.geojson"
[host]
ingest = ")" + ingest + R"("
output = ""
[[sensors]]
kind = "groundwater"
topic_prefix = "sensor/groundwater/"
id_prefix = "GW-"
count = 4
unit = "m"
[[sensors]]
kind = "parking"
topic_prefix = "sensor/parking/"
id_prefix = "PG-"
count = 2
unit = "%"
[[plugins]]
name = "groundwater_alert"
library = "groundwater_alert"
trusted = true
[plugins.config]
alert_level_m = -0.5
)");
    // The plugins run from [[plugins]] (--dev); the trials above are registry rows on another
    // testbed, so this host's governor leaves them alone while the API lists and decides them.
    std::vector<std::string> args{"--dev", "--testbed", tb.string(), "--db", db.string(), "--plugin-dir",
                                  plugin_dir().string(), "--api", "127.0.0.1:0"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    host = std::make_unique<Process>(bin_dir() / "testbed-host", args, dir.path());
    ASSERT_TRUE(host->wait_for_output("testbed-host: ready", std::chrono::seconds(30))) << host->err();
    std::smatch m;
    const std::string out = host->out();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("api http://127\\.0\\.0\\.1:([0-9]+)/"))) << out;
    port = static_cast<uint16_t>(std::stoi(m[1].str()));
    base = "http://127.0.0.1:" + m[1].str();
}

namespace {
ApiHost::Reply to_reply(const host::Result<host::api::HttpResponse>& r) {
    ApiHost::Reply out;
    EXPECT_TRUE(r.is_ok()) << (r ? "" : r.error().message);
    if (!r) return out;
    out.status = r->status;
    out.text = r->body;
    out.headers = r->headers;
    out.body = nlohmann::json::parse(r->body, nullptr, false);
    return out;
}
}  // namespace

ApiHost::Reply ApiHost::get(const std::string& path, const std::string& token) const {
    return to_reply(host::api::http_request("GET", base + path, token));
}

ApiHost::Reply ApiHost::post(const std::string& path, const std::string& token, const std::string& body) const {
    return to_reply(host::api::http_request("POST", base + path, token, body));
}

}  // namespace tb::test
