// testbed status / testbed events: what a running host is doing, through its HTTP API
// (docs/api.md). The API address and token come from --api/--token or the TESTBED_API and
// TESTBED_TOKEN environment variables.
#include "api/http_client.hpp"
#include "commands.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

namespace tb::cli {
namespace {

using json = nlohmann::json;

struct ApiArgs {
    std::string api, token;
    bool json_out = false;
    std::string since;
    int limit = 100;
    bool follow = false;
};

void defaults(ApiArgs& a) {
    if (a.api.empty()) a.api = std::getenv("TESTBED_API") ? std::getenv("TESTBED_API") : "http://127.0.0.1:7680";
    if (a.token.empty() && std::getenv("TESTBED_TOKEN")) a.token = std::getenv("TESTBED_TOKEN");
    while (!a.api.empty() && a.api.back() == '/') a.api.pop_back();
}

// GET `path`; on failure print why (naming the command) and set rc.
std::optional<json> get(const char* cmd, const ApiArgs& a, const std::string& path, int& rc) {
    auto r = host::api::http_request("GET", a.api + path, a.token);
    if (!r) {
        std::cerr << cmd << ": " << r.error().message << "\n";
        rc = r.error().reason == "usage" ? kExitUsage : kExitFailure;
        return std::nullopt;
    }
    json body = json::parse(r->body, nullptr, false);
    if (r->status != 200) {
        std::cerr << cmd << ": " << a.api << path << " answered HTTP " << r->status;
        if (!body.is_discarded() && body.is_object()) {
            std::cerr << ": " << body.value("error", "") << ": " << body.value("detail", "");
        }
        if (r->status == 401) std::cerr << " (pass --token or set TESTBED_TOKEN)";
        std::cerr << "\n";
        rc = kExitFailure;
        return std::nullopt;
    }
    if (body.is_discarded()) {
        std::cerr << cmd << ": " << a.api << path << " did not answer JSON\n";
        rc = kExitFailure;
        return std::nullopt;
    }
    return body;
}

int run_status(ApiArgs a) {
    defaults(a);
    int rc = 0;
    auto status = get("testbed status", a, "/api/v1/status", rc);
    if (!status) return rc;
    auto plugins = get("testbed status", a, "/api/v1/plugins", rc);
    auto trials = plugins ? get("testbed status", a, "/api/v1/trials", rc) : std::nullopt;
    auto feeds = trials ? get("testbed status", a, "/api/v1/feeds", rc) : std::nullopt;
    if (!feeds) return rc;
    if (a.json_out) {
        std::cout << json{{"status", *status}, {"plugins", *plugins}, {"trials", *trials}, {"feeds", *feeds}}.dump(2)
                  << "\n";
        return kExitOk;
    }
    const auto& s = *status;
    std::printf("testbed %s (%s), run %lld, up %.0f s; you are %s (%s)\n", s.value("testbed", "").c_str(),
                s.value("name", "").c_str(), static_cast<long long>(s.value("run_id", int64_t{0})),
                s.value("uptime_s", 0.0), s["caller"].value("name", "").c_str(), s["caller"].value("role", "").c_str());
    if (s.contains("received")) {
        std::printf("feeds: %llu message(s) received, %.1f msg/s, %llu dropped as malformed\n",
                    static_cast<unsigned long long>(s.value("received", uint64_t{0})), s.value("received_rate_hz", 0.0),
                    static_cast<unsigned long long>(s.value("ingest_dropped", uint64_t{0})));
    }
    std::printf("\n%-20s %-16s %-10s %-10s %8s %10s %8s %14s\n", "plugin", "organisation", "mode", "state", "inbox",
                "delivered", "dropped", "p50/p99 us");
    for (const auto& p : *plugins) {
        std::printf("%-20s %-16s %-10s %-10s %8llu %10llu %8llu %6.1f/%-7.1f\n", p.value("instance", "").c_str(),
                    p.value("organisation", "").c_str(), p.value("mode", "").c_str(), p.value("state", "").c_str(),
                    static_cast<unsigned long long>(p.value("inbox_depth", uint64_t{0})),
                    static_cast<unsigned long long>(p.value("delivered", uint64_t{0})),
                    static_cast<unsigned long long>(p.value("dropped_inbox", uint64_t{0}) +
                                                    p.value("dropped_not_running", uint64_t{0})),
                    p.value("callback_p50_us", 0.0), p.value("callback_p99_us", 0.0));
    }
    std::printf("\n%-6s %-20s %-16s %-10s\n", "trial", "plugin", "organisation", "state");
    for (const auto& t : *trials) {
        std::printf("%-6lld %-20s %-16s %-10s\n", static_cast<long long>(t.value("id", int64_t{0})),
                    t.value("plugin_id", "").c_str(), t.value("organisation", "").c_str(), t.value("state", "").c_str());
    }
    std::size_t stale = 0;
    uint64_t gaps = 0;
    for (const auto& f : *feeds) {
        stale += f.value("stale", false) ? 1 : 0;
        gaps += f.value("gaps", uint64_t{0});
    }
    std::printf("\nfeeds: %zu source(s), %zu stale, %llu message(s) missing by sequence number\n", feeds->size(),
                stale, static_cast<unsigned long long>(gaps));
    return kExitOk;
}

void print_event(const json& ev, bool as_json) {
    if (as_json) {
        std::cout << ev.dump() << std::endl;
        return;
    }
    const std::string who = ev["instance"].is_string() ? ev["instance"].get<std::string>() : "host";
    std::cout << ev.value("id", int64_t{0}) << " " << ev.value("time", "") << " [" << ev.value("severity", "") << "] "
              << who << " " << ev.value("kind", "") << ": " << ev.value("message", "") << std::endl;
}

int run_events(ApiArgs a) {
    defaults(a);
    if (a.limit < 1 || a.limit > 1000) {
        std::cerr << "testbed events: --limit must be 1..1000\n";
        return kExitUsage;
    }
    int rc = 0;
    std::string path = "/api/v1/events?limit=" + std::to_string(a.limit);
    if (!a.since.empty()) path += "&since=" + a.since;
    auto page = get("testbed events", a, path, rc);
    if (!page) return rc;
    for (const auto& ev : (*page)["events"]) print_event(ev, a.json_out);
    if (!a.follow) return kExitOk;
    const int64_t next = (*page).value("next", int64_t{0});
    auto s = host::api::http_event_stream(
        a.api + "/api/v1/events/stream?since=" + std::to_string(next), a.token,
        [&a](const host::api::SseEvent& e) {
            const json ev = json::parse(e.data, nullptr, false);
            if (!ev.is_discarded()) print_event(ev, a.json_out);
            return true;
        });
    if (!s) {
        std::cerr << "testbed events: " << s.message() << "\n";
        return kExitFailure;
    }
    return kExitOk;
}

void on_done(int rc) {
    if (rc != 0) throw CLI::RuntimeError(rc);
}

void api_options(CLI::App* cmd, ApiArgs& a) {
    cmd->add_option("--api", a.api, "API base URL (default: $TESTBED_API or http://127.0.0.1:7680)");
    cmd->add_option("--token", a.token, "API token (default: $TESTBED_TOKEN)");
    cmd->add_flag("--json", a.json_out, "Print JSON");
}

}  // namespace

void register_status_commands(CLI::App& app) {
    auto a = std::make_shared<ApiArgs>();
    auto* st = app.add_subcommand("status", "Show a running host: plugins, trials and feeds (via its HTTP API)");
    api_options(st, *a);
    st->callback([a] { on_done(run_status(*a)); });
    auto* ev = app.add_subcommand("events", "List a running host's events; --follow streams new ones");
    api_options(ev, *a);
    ev->add_option("--since", a->since, "Only events after this id, or from this UTC time (2026-11-28T16:00:00Z)");
    ev->add_option("--limit", a->limit, "At most this many past events (1..1000)")->capture_default_str();
    ev->add_flag("--follow,-f", a->follow, "Keep streaming new events until interrupted");
    ev->callback([a] { on_done(run_events(*a)); });
}

}  // namespace tb::cli
