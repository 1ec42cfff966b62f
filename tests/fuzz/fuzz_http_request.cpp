// Fuzz target "http_request": bytes a client sends on one HTTP API connection, through
// tb::host::api::ApiRequestHandler (the server's Beast request parser with its limits, router,
// token authentication, query and JSON body handling and the handlers), without sockets. The
// host behind it is a real tb::host::Host (minimal testbed, no plugins) on a real results
// database in a scratch folder, with real tokens; the last-value cache holds a few messages.
// Tokens are random, so the input names them by placeholder: "@S@" is replaced by a staff token,
// "@O@" by an organisation token, "@X@" by an expired one and "@R@" by a revoked one.
// Invariants: every response is well-formed HTTP that parses back to the same status and body,
// with a status the API documents (never 500: nothing here should fail internally); JSON
// responses parse, and every error is {"error", "detail"}; without a valid token nothing but
// /healthz and the dashboard answers 200 and no stream starts; a message only staff may see
// never reaches a response unless a staff token was sent.
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <optional>

#include "api/api_server.hpp"
#include "api/tokens.hpp"
#include "fuzz_target.hpp"
#include "host/host.hpp"
#include "store/sqlite_store.hpp"

namespace {

namespace fs = std::filesystem;
namespace api = tb::host::api;

constexpr const char* kStaffOnly = "staff-only-7b3f9e";  // in a topic no organisation reads

struct World {
    fs::path dir;
    std::unique_ptr<tb::host::Host> host;
    std::unique_ptr<api::ApiRequestHandler> handler;
    std::string staff, org, expired, revoked;

    World() {
        spdlog::set_level(spdlog::level::off);
        dir = fs::temp_directory_path() / ("tb_fuzz_http_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
        std::ofstream(dir / "testbed.toml")
            << "[testbed]\nid = \"fuzzbed\"\nname = \"Fuzz bed\"\n\n"
               "[[sensors]]\nkind = \"groundwater\"\n"
               "topic_prefix = \"sensor/groundwater/\"\nid_prefix = \"GW-\"\n"
               "count = 2\nunit = \"m\"\n";
        tb::host::HostOptions ho;
        ho.testbed = dir / "testbed.toml";
        ho.db = dir / "results.db";
        // No TCP: the default output feed would bind 127.0.0.1:7601 (two fuzzing processes, or a
        // test running alongside, would collide; seen in the first CI-length sweep).
        ho.output = std::string();
        ho.ingest = {"ipc://" + (dir / "ingest.sock").string()};
        auto h = tb::host::Host::create(ho);
        if (!h) tb::fuzz::fail(h.error().message.c_str(), __FILE__, __LINE__);
        host = std::move(h.value());

        auto db = tb::host::open_database(ho.db, false);
        TB_FUZZ_CHECK(static_cast<bool>(db));
        auto token = [&](const char* name, const char* role, std::optional<int64_t> expires) {
            auto t = api::create_token(db.value(), name, *api::Role::parse(role), expires);
            TB_FUZZ_CHECK(static_cast<bool>(t));
            return t.value();
        };
        staff = token("fuzz-staff", "staff", std::nullopt);
        org = token("fuzz-water", "org:Water", std::nullopt);
        expired = token("fuzz-expired", "staff", int64_t{1});
        revoked = token("fuzz-revoked", "staff", std::nullopt);
        TB_FUZZ_CHECK(static_cast<bool>(api::revoke_token(db.value(), "fuzz-revoked", 2)));
        sqlite3_close(db.value());

        auto lv = std::make_shared<api::LastValues>();
        auto add = [&](std::string topic, std::string payload, tb::wire::ContentType ct) {
            auto m = std::make_shared<tb::host::FeedMessage>();
            m->topic = std::move(topic);
            m->payload = std::move(payload);
            m->header.content_type = ct;
            m->header.sequence = 7;
            m->receive_time_us = 1'764'340'000'000'000;
            lv->update(m);
        };
        add("sensor/groundwater/GW-0001", R"([{"bn":"GW-0001/","n":"level","u":"m","v":-0.42}])",
            tb::wire::ContentType::senml_json);
        add("sensor/secret/S-1", std::string(R"({"note":")") + kStaffOnly + "\"}",
            tb::wire::ContentType::json);
        add("note/text", "plain text \xff\xfe bytes", tb::wire::ContentType::text);

        // Trial actions as the host wires them would change the database; these are pure, so
        // every input behaves the same however often it runs.
        api::TrialActions actions;
        auto act = [](const char* verb) {
            return [verb](int64_t id, const std::string& actor,
                          const std::string& reason) -> tb::host::Result<nlohmann::json> {
                if (id != 1)
                    return tb::host::Error{"trial " + std::to_string(id) + " does not exist",
                                           "not_found"};
                if (std::string(verb) == "resume")
                    return tb::host::Error{"trial 1 is not suspended", "conflict"};
                return nlohmann::json{
                    {"id", id}, {"state", "suspended"}, {"actor", actor}, {"reason", reason}};
            };
        };
        actions.suspend = act("suspend");
        actions.resume = act("resume");

        api::ApiOptions opt;
        opt.db = ho.db;
        opt.max_body_bytes = 4096;  // small limits so the fuzzer reaches them
        opt.max_header_bytes = 2048;
        auto hd = api::ApiRequestHandler::open(opt, *host, actions, lv);
        if (!hd) tb::fuzz::fail(hd.error().message.c_str(), __FILE__, __LINE__);
        handler = std::move(hd.value());
    }
    ~World() {
        handler.reset();
        host.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

World& world() {
    static World w;
    return w;
}

std::string substitute(std::string s, const World& w, bool& staff, bool& valid) {
    const std::pair<const char*, const std::string*> subs[] = {
        {"@S@", &w.staff}, {"@O@", &w.org}, {"@X@", &w.expired}, {"@R@", &w.revoked}};
    for (const auto& [mark, token] : subs) {
        for (std::size_t pos = 0; (pos = s.find(mark, pos)) != std::string::npos;
             pos += token->size()) {
            s.replace(pos, 3, *token);
        }
    }
    staff = s.find(w.staff) != std::string::npos;
    valid = staff || s.find(w.org) != std::string::npos;
    return s;
}

bool json_error(const std::string& body) {
    const auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_object() && j.contains("error") && j["error"].is_string() && j.contains("detail") &&
           j["detail"].is_string();
}

}  // namespace

TB_FUZZ_TARGET(http_request) {
    namespace http = boost::beast::http;
    World& w = world();
    bool staff = false, valid = false;
    const std::string bytes =
        substitute(std::string(reinterpret_cast<const char*>(data), size), w, staff, valid);
    // Error messages quote the request (path, parameters), so only a marker the input did not
    // bring itself counts as a leak.
    const bool echoes_marker = bytes.find(kStaffOnly) != std::string::npos;
    const auto responses = w.handler->exchange(bytes);
    for (const auto& r : responses) {
        if (r.stream) {
            TB_FUZZ_CHECK(valid && r.status == 200);
            TB_FUZZ_CHECK(r.raw.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
            continue;
        }
        static const unsigned kDocumented[] = {200, 400, 401, 403, 404, 405, 409, 413, 431, 503};
        TB_FUZZ_CHECK(std::find(std::begin(kDocumented), std::end(kDocumented), r.status) !=
                      std::end(kDocumented));

        // What goes on the wire parses back to the same response (a reply to HEAD has no body).
        http::response_parser<http::string_body> p;
        p.eager(true);
        p.body_limit(16u << 20);
        p.skip(r.head);
        boost::beast::error_code ec;
        const std::size_t used = p.put(boost::asio::buffer(r.raw), ec);
        TB_FUZZ_CHECK(!ec && p.is_done() && used == r.raw.size());
        TB_FUZZ_CHECK(p.get().result_int() == r.status && p.get().body() == r.body);

        if (r.head) {
            TB_FUZZ_CHECK(r.body.empty());
            continue;
        }
        if (r.content_type == "application/json") {
            TB_FUZZ_CHECK(nlohmann::json::accept(r.body));
            if (r.status >= 400) TB_FUZZ_CHECK(json_error(r.body));
        }
        if (!valid && r.status == 200 && r.content_type == "application/json") {
            const auto j = nlohmann::json::parse(r.body);
            TB_FUZZ_CHECK(j.is_object() && j.value("status", "") == "ok");  // /healthz
        }
        if (!staff && !echoes_marker) TB_FUZZ_CHECK(r.raw.find(kStaffOnly) == std::string::npos);
    }
    return 0;
}
