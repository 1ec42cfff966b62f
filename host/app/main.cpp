// testbed-host: run one testbed. Thin: the logic lives in testbed_host_core (host/src).
#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "api/api_server.hpp"
#include "common/logging.hpp"
#include "host/host.hpp"

namespace {

std::filesystem::path default_plugin_dir() {
    // Next to the build tree: build/<preset>/bin/testbed-host -> build/<preset>/plugins
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "plugins";
    return exe.parent_path().parent_path() / "plugins";
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "testbed-host: load a testbed's plugins, feed them live city data over ZeroMQ, record "
        "results in SQLite"};
    tb::host::HostOptions opt;
    double duration_s = 0;
    std::string log_level = "info", log_file, output;
    bool no_output = false;
    std::string api_address;
    bool no_api = false;
    app.add_option("--testbed", opt.testbed,
                   "Testbed folder (e.g. testbeds/city-centre) or its testbed.toml")
        ->required();
    app.add_option("--db", opt.db, "Results database (SQLite, created if missing)")
        ->capture_default_str();
    app.add_option("--duration", duration_s,
                   "Stop after this many seconds (default: run until SIGINT/SIGTERM)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--plugin-dir", opt.plugin_dir,
                   "Where plugin libraries named without a path are found");
    app.add_option("--ingest", opt.ingest,
                   "Bind the feed input here instead of [host] ingest (repeatable)");
    app.add_option("--output", output, "Bind the plugin output feed here instead of [host] output");
    app.add_flag("--no-output", no_output, "Do not publish plugin output");
    app.add_option("--api", api_address,
                   "Serve the HTTP API and dashboard on ADDR:PORT instead of [host] api (port 0: "
                   "any free port)");
    app.add_flag("--no-api", no_api, "Do not serve the HTTP API and dashboard");
    app.add_option("--status-file", opt.status_file,
                   "Rewrite this JSON file with the committed row count after each commit");
    app.add_flag(
        "--dev", opt.dev,
        "Development/rehearsal mode: also run testbed.toml [[plugins]] that have no approved trial "
        "(ungoverned; never in production)");
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
        ->capture_default_str();
    app.add_option("--log-file", log_file, "Also append logs to this file");
    CLI11_PARSE(app, argc, argv);

    if (!log_file.empty()) tb::host::set_log_file(log_file);
    if (!tb::host::set_log_level(log_level)) {
        std::cerr << "testbed-host: --log-level '" << log_level
                  << "' is not one of trace, debug, info, warn, error, off\n";
        return 2;
    }
    if (opt.plugin_dir.empty()) opt.plugin_dir = default_plugin_dir();
    if (no_output)
        opt.output = "";
    else if (!output.empty())
        opt.output = output;

    // Block the stop signals in every thread (threads inherit the mask); the main thread waits
    // for them with sigtimedwait, so no handler runs in a random thread.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    auto log = tb::host::logger("host");
    auto host = tb::host::Host::create(opt);
    if (!host) {
        log->error("{}", host.error().message);
        return 1;
    }
    // The HTTP API (docs/api.md): address from --api, else [host] api; "" or --no-api turns it off.
    tb::host::api::ApiOptions api_opt;
    const std::string api_text =
        no_api ? "" : (api_address.empty() ? (*host)->testbed().host.api : api_address);
    if (!api_text.empty()) {
        if (auto s = tb::host::api::parse_api_address(api_text, api_opt); !s) {
            log->error("{}{}",
                       api_address.empty() ? (*host)->testbed().file.string() + ": [host] api: "
                                           : "--api: ",
                       s.message());
            return 2;
        }
    }
    auto last_values = std::make_shared<tb::host::api::LastValues>();
    if (!api_text.empty())
        (*host)->set_feed_observer([last_values](const auto& m) { last_values->update(m); });
    if (auto s = (*host)->start(); !s) {
        log->error("{}", s.message());
        (*host)->stop();
        return 1;
    }
    std::unique_ptr<tb::host::api::ApiServer> api;
    if (!api_text.empty()) {
        api_opt.db = opt.db;
        // Staff suspend/resume go through governance's decide(), as the CLI's do
        // (api/trial_actions.cpp).
        auto started = tb::host::api::ApiServer::start(
            api_opt, **host, tb::host::api::database_trial_actions(opt.db, (*host)->run_id()),
            last_values);
        if (started) {
            api = std::move(started.value());
        } else if (api_address.empty()) {
            // The default address may be taken (several hosts on one machine, parallel tests):
            // the feeds matter more than the dashboard, so carry on without it.
            log->warn("{}; running without the HTTP API", started.error().message);
        } else {
            log->error("{}", started.error().message);
            (*host)->stop();
            return 1;
        }
    }
    std::cout << "testbed-host: ready (testbed " << (*host)->testbed().id << ", run "
              << (*host)->run_id();
    if (api) std::cout << ", api http://" << api->address() << ":" << api->port() << "/";
    std::cout << ")" << std::endl;

    const auto t0 = std::chrono::steady_clock::now();
    int sig = 0;
    for (;;) {
        timespec tick{0, 100'000'000};
        sig = sigtimedwait(&stop_signals, nullptr, &tick);
        if (sig > 0) {
            log->info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (duration_s > 0 &&
            std::chrono::steady_clock::now() - t0 >= std::chrono::duration<double>(duration_s)) {
            log->info("duration of {} s reached, stopping", duration_s);
            break;
        }
    }
    if (api) api->stop();
    const auto summary = (*host)->stop();
    std::cout << tb::host::format_summary(summary) << std::flush;
    return 0;
}
