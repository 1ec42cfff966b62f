// testbed register --out DIR: the public register of trials, as register.json and index.html.
//
// Following the practice of Dutch city sensor registers (e.g. Amsterdam's sensorenregister):
// who runs what, where, when, which data it uses, for what purpose, and in which state. It holds
// no personal data: no staff names from the audit log, no plugin file paths (which can contain
// user names), no plugin config, no pseudonyms or keys. The audit head hash is included so that
// anyone can later check that the published history was not rewritten.
#include "commands.hpp"
#include "trial_common.hpp"

#include "common/clock.hpp"
#include "governance/audit.hpp"
#include "governance/time_parse.hpp"
#include "governance/trial.hpp"
#include "store/sqlite_store.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace tb::cli {
namespace {

namespace fs = std::filesystem;

struct RegisterArgs {
    std::string db = "results.db", out;
};

std::string html_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            case '\'': o += "&#39;"; break;
            default: o += c;
        }
    }
    return o;
}

std::string join(const std::vector<std::string>& v) {
    std::string o;
    for (const auto& x : v) o += (o.empty() ? "" : ", ") + x;
    return o.empty() ? "none" : o;
}

int run_register(const RegisterArgs& a) {
    auto opened = host::open_database(a.db, false);
    if (!opened) {
        std::cerr << "testbed register: " << opened.error().message << "\n";
        return kExitUsage;
    }
    DbHandle h{*opened};
    auto trials = host::gov::load_trials(h.db);
    if (!trials) {
        std::cerr << "testbed register: " << trials.error().message << "\n";
        return kExitFailure;
    }
    auto verdict = host::gov::verify_audit(h.db);
    nlohmann::json reg{{"format", "testbed-trial-register-1"},
                       {"generated", host::gov::format_time(host::now_us())},
                       {"audit", {{"intact", verdict && verdict->ok},
                                  {"rows", verdict ? verdict->rows : 0},
                                  {"head_hash", verdict ? verdict->head_hash : ""}}},
                       {"trials", nlohmann::json::array()}};
    for (const auto& t : *trials) {
        nlohmann::json j{{"id", t.id},
                         {"organisation", t.organisation},
                         {"plugin", t.plugin_id},
                         {"version", t.plugin_version},
                         {"sha256", t.plugin_sha256},
                         {"testbed", t.testbed},
                         {"from", host::gov::format_time(t.from_us)},
                         {"until", host::gov::format_time(t.until_us)},
                         {"reads", t.reads},
                         {"publishes", t.publishes},
                         {"purpose", t.purpose},
                         {"trust", t.trust},
                         {"state", host::gov::to_string(t.state)}};
        if (t.retention_days) j["retention_days"] = *t.retention_days;
        j["personal_data"] = "household ids are replaced by per-trial pseudonyms";
        reg["trials"].push_back(j);
    }
    std::error_code ec;
    fs::create_directories(a.out, ec);
    if (ec) {
        std::cerr << "testbed register: cannot create --out folder " << a.out << ": " << ec.message() << "\n";
        return kExitUsage;
    }
    {
        std::ofstream f(fs::path(a.out) / "register.json");
        f << reg.dump(2) << "\n";
        if (!f) {
            std::cerr << "testbed register: cannot write " << (fs::path(a.out) / "register.json").string() << "\n";
            return kExitFailure;
        }
    }
    std::ofstream html(fs::path(a.out) / "index.html");
    html << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Enschede Innovation Testbed: "
            "register of trials</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}"
            "</style></head><body>\n<h1>Register of trials in public space</h1>\n<p>Generated "
         << html_escape(reg["generated"].get<std::string>())
         << ". Which innovations run where, when, on which city data and why. Household-level data is only ever seen "
            "under a per-trial pseudonym. Audit log: "
         << reg["audit"]["rows"] << " entries, "
         << (reg["audit"]["intact"].get<bool>() ? "verified intact" : "<strong>NOT intact</strong>")
         << ", head hash <code>" << html_escape(reg["audit"]["head_hash"].get<std::string>())
         << "</code>.</p>\n<table>\n<tr><th>#</th><th>Organisation</th><th>Plugin</th><th>Testbed</th><th>When "
            "(UTC)</th><th>Reads</th><th>Publishes</th><th>Purpose</th><th>State</th></tr>\n";
    for (const auto& t : *trials) {
        html << "<tr><td>" << t.id << "</td><td>" << html_escape(t.organisation) << "</td><td>"
             << html_escape(t.plugin_id + " " + t.plugin_version) << "</td><td>" << html_escape(t.testbed)
             << "</td><td>" << html_escape(host::gov::format_time(t.from_us)) << " &ndash; "
             << html_escape(host::gov::format_time(t.until_us)) << "</td><td>" << html_escape(join(t.reads))
             << "</td><td>" << html_escape(join(t.publishes)) << "</td><td>" << html_escape(t.purpose) << "</td><td>"
             << html_escape(std::string(host::gov::to_string(t.state))) << "</td></tr>\n";
    }
    html << "</table>\n</body></html>\n";
    if (!html) {
        std::cerr << "testbed register: cannot write index.html in " << a.out << "\n";
        return kExitFailure;
    }
    std::cout << "testbed register: " << trials->size() << " trial(s) written to " << a.out
              << "/register.json and index.html\n";
    return kExitOk;
}

}  // namespace

void register_register_commands(CLI::App& app) {
    auto a = std::make_shared<RegisterArgs>();
    auto* reg = app.add_subcommand("register", "Write the public register of trials (JSON + static HTML)");
    reg->add_option("--db", a->db, "Results database")->capture_default_str();
    reg->add_option("--out", a->out, "Output folder")->required();
    reg->callback([a] {
        if (const int rc = run_register(*a); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
