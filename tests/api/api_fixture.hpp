// tests/api/api_fixture.hpp: a real testbed-host with its HTTP API on an ephemeral port, a
// results database with tokens and trials, and a test publisher on the host's ingest socket.
// Thread safety: none (one fixture per test).
#pragma once

#include "support/test_support.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace tb::test {

inline constexpr const char* kWaterOrg = "Gemeente Enschede, team Water";  // groundwater_alert's manifest
inline constexpr const char* kOtherOrg = "ParkSense BV";

struct ApiHost {
    TempDir dir;
    fs::path db = dir / "results.db";
    std::string ingest = dir.ipc("in");
    std::unique_ptr<Process> host;
    std::string base;  // http://127.0.0.1:<port>
    uint16_t port = 0;
    std::string staff_token, water_token, other_token;
    int64_t water_trial = 0, other_trial = 0;

    // Create the database, tokens and two active trials, then start the host.
    void start(const std::vector<std::string>& extra_args = {});
    // `testbed token new ...`; returns the printed token.
    std::string new_token(const std::string& role, const std::string& name);
    int64_t add_trial(const std::string& plugin_id, const std::string& organisation, const std::string& state);
    void exec(const std::string& sql);

    // GET/POST with a token; body parsed as JSON (discarded value when not JSON).
    struct Reply {
        int status = 0;
        nlohmann::json body;
        std::string text;
        std::map<std::string, std::string> headers;
    };
    Reply get(const std::string& path, const std::string& token) const;
    Reply post(const std::string& path, const std::string& token, const std::string& body = {}) const;
};

}  // namespace tb::test
