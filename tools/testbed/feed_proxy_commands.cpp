// testbed feed proxy: an XSUB/XPUB forwarder so several hosts (or sites) share feeds.
// Publishers connect to --in; hosts connect to --out (their [host] connect), or, with
// --out-connect, the proxy connects to a host's ingest. Subscriptions travel upstream, so a
// publisher only sends what some host wants.
#include "commands.hpp"
#include "feed_bridges.hpp"
#include "feed_curve.hpp"

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <csignal>
#include <iostream>
#include <thread>

namespace tb::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct ProxyArgs {
    std::string in, out;
    bool in_connect = false, out_connect = false;
    CurveClientArgs curve;  // applied to the --out side (a CURVE host ingest)
};

int run_proxy(const ProxyArgs& a) {
    zmq::context_t ctx(1);
    zmq::socket_t xsub(ctx, zmq::socket_type::xsub);
    zmq::socket_t xpub(ctx, zmq::socket_type::xpub);
    xsub.set(zmq::sockopt::linger, 0);
    xpub.set(zmq::sockopt::linger, 0);
    xsub.set(zmq::sockopt::rcvhwm, 1'000'000);
    xpub.set(zmq::sockopt::sndhwm, 1'000'000);
    if (auto s = apply_curve_client(xpub, a.curve); !s) {
        std::cerr << "testbed feed proxy: " << s.message() << "\n";
        return kExitUsage;
    }
    auto attach = [](zmq::socket_t& s, const std::string& ep, bool connect, const char* what) -> bool {
        try {
            if (connect) s.connect(ep);
            else s.bind(ep);
            return true;
        } catch (const zmq::error_t& e) {
            std::cerr << "testbed feed proxy: " << what << " endpoint '" << ep << "': cannot " << (connect ? "connect" : "bind")
                      << ": " << e.what() << " (use tcp://HOST:PORT or ipc:///path)\n";
            return false;
        }
    };
    if (!attach(xsub, a.in, a.in_connect, "--in") || !attach(xpub, a.out, a.out_connect, "--out")) return kExitUsage;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::cout << "testbed feed proxy: forwarding " << a.in << " -> " << a.out << std::endl;
    std::thread t([&] {
        try {
            zmq::proxy(xsub, xpub);
        } catch (const zmq::error_t&) {
            // ETERM: the context was shut down by the main thread.
        }
    });
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ctx.shutdown();
    t.join();
    std::cout << "testbed feed proxy: stopped" << std::endl;
    return kExitOk;
}

}  // namespace

void register_feed_bridge_commands(CLI::App& app) {
    auto* feed = app.get_subcommand("feed");
    auto a = std::make_shared<ProxyArgs>();
    auto* px = feed->add_subcommand("proxy", "Forward feeds between sites (XSUB --in, XPUB --out)");
    px->add_option("--in", a->in, "Endpoint publishers connect to (bound)")->required();
    px->add_option("--out", a->out, "Endpoint hosts connect to (bound)")->required();
    px->add_flag("--in-connect", a->in_connect, "Connect --in to a publisher that binds");
    px->add_flag("--out-connect", a->out_connect, "Connect --out to a host ingest (which binds)");
    add_curve_client_options(*px, a->curve);
    px->callback([a] {
        const int rc = run_proxy(*a);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });
    register_feed_mqtt_command(*feed);
    register_feed_mavlink_command(*feed);
}

}  // namespace tb::cli
