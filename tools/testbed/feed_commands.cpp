// testbed feed ...: publish city data into a host.
#include "commands.hpp"
#include "common/clock.hpp"
#include "common/feed_publisher.hpp"
#include "config/testbed_config.hpp"
#include "feed_curve.hpp"
#include "feedsim/city_sim.hpp"
#include "feedsim/drone_sim.hpp"

#include <CLI/CLI.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <csignal>
#include <iostream>
#include <thread>

namespace tb::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct SimArgs {
    std::string testbed;
    std::string endpoint;
    double rate = 200;
    double duration = 10;
    uint64_t count = 0;
    uint64_t seed = 1;
    double speed = 1;
    double start = 0;
    bool max = false;
    double wait_s = 5;
    std::string follow;  // host output endpoint: simulated drivers follow guidance published there
    CurveClientArgs curve;
};

// Subscribes to a host's output PUB for guidance/parking/ and hands each zone to the simulator.
// Non-blocking: the simulator polls it between readings, so pacing is unaffected.
class GuidanceFollower {
   public:
    explicit GuidanceFollower(const std::string& endpoint) : sub_(ctx_, zmq::socket_type::sub) {
        sub_.set(zmq::sockopt::subscribe, "guidance/parking/");
        sub_.set(zmq::sockopt::linger, 0);
        sub_.connect(endpoint);
    }
    void poll(feedsim::CitySim& sim, int64_t t_us) {
        for (int i = 0; i < 1000; ++i) {  // bounded: at most 1000 messages per poll
            std::vector<zmq::message_t> frames;
            const auto n = zmq::recv_multipart(sub_, std::back_inserter(frames), zmq::recv_flags::dontwait);
            if (!n) return;
            if (frames.empty()) continue;
            const std::string topic = frames.front().to_string();
            sim.on_guidance(topic.substr(topic.rfind('/') + 1), t_us);
            ++received;
        }
    }
    uint64_t received = 0;

   private:
    zmq::context_t ctx_;
    zmq::socket_t sub_;
};

int run_sim(const SimArgs& a) {
    auto cfg = host::load_testbed(a.testbed);
    if (!cfg) {
        std::cerr << "testbed feed sim: " << cfg.error().message << "\n";
        return kExitUsage;
    }
    if (cfg->sensors.empty()) {
        std::cerr << "testbed feed sim: " << cfg->file.string() << " declares no [[sensors]]; nothing to simulate\n";
        return kExitUsage;
    }
    const std::string endpoint = a.endpoint.empty() ? cfg->host.ingest.front() : a.endpoint;
    tools::FeedPublisherOptions po;
    po.endpoint = endpoint;
    po.bind = false;
    po.curve_server_key = a.curve.server_key;
    po.curve_client_key_file = a.curve.key_file;
    auto pub = tools::FeedPublisher::open(po);
    if (!pub) {
        std::cerr << "testbed feed sim: " << pub.error().message << "\n";
        return kExitUsage;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    feedsim::CitySim sim(*cfg, a.seed);
    std::unique_ptr<GuidanceFollower> follower;
    if (!a.follow.empty()) {
        try {
            follower = std::make_unique<GuidanceFollower>(a.follow);
        } catch (const zmq::error_t& e) {
            std::cerr << "testbed feed sim: --follow " << a.follow << ": " << e.what()
                      << " (give the host's output endpoint, e.g. tcp://127.0.0.1:7601)\n";
            return kExitUsage;
        }
    }
    if (!(*pub)->wait_for_subscriber(std::chrono::milliseconds(static_cast<int64_t>(a.wait_s * 1000)))) {
        std::cerr << "testbed feed sim: no host subscribed at " << endpoint << " within " << a.wait_s
                  << " s (is testbed-host running on this testbed?)\n";
        return kExitFailure;
    }
    feedsim::DroneSim drones(*cfg, a.seed);
    // Slots: one per city sensor, then one per drone telemetry stream, round-robin.
    const std::size_t city_slots = sim.sensor_count(), slots = city_slots + drones.stream_count();
    std::size_t slot = 0;
    const int64_t sim_start = a.start > 0 ? static_cast<int64_t>(a.start * 1e6) : host::now_us();
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t sent = 0;
    for (;;) {
        if (g_stop) break;
        if (a.count > 0 && sent >= a.count) break;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (a.count == 0 && elapsed >= a.duration) break;
        if (!a.max) {
            // Pace to the requested rate; catch up in bursts rather than sleeping per message.
            const auto due = static_cast<uint64_t>(elapsed * a.rate) + 1;
            if (sent >= due) {
                std::this_thread::sleep_for(std::chrono::microseconds(500));
                continue;
            }
        }
        // Simulated time advances with real time times --speed, or per message at --max.
        const double sim_elapsed_s = a.max ? static_cast<double>(sent) / std::max(a.rate, 1.0) : elapsed;
        const int64_t t_us = sim_start + static_cast<int64_t>(sim_elapsed_s * a.speed * 1e6);
        if (follower) follower->poll(sim, t_us);
        const auto r = slot < city_slots ? sim.next(t_us) : drones.next(t_us);
        slot = (slot + 1) % slots;
        if (!(*pub)->send(r.topic, r.payload, r.type, r.t_us)) {
            std::cerr << "testbed feed sim: send failed after " << sent << " message(s)\n";
            return kExitFailure;
        }
        ++sent;
    }
    (*pub)->close();
    std::cout << "testbed feed sim: sent " << sent << " message(s) from " << sim.sensor_count() << " sensor(s) and "
              << drones.stream_count() / 3 << " drone(s) to " << endpoint;
    if (follower) std::cout << "; followed " << follower->received << " guidance message(s)";
    std::cout << "\n";
    return kExitOk;
}

}  // namespace

void register_feed_commands(CLI::App& app) {
    auto* feed = app.add_subcommand("feed", "Publish, record, replay and bridge city feeds");
    feed->require_subcommand(1);

    auto a = std::make_shared<SimArgs>();
    auto* sim = feed->add_subcommand("sim", "Simulate a testbed's sensors and publish them to a host");
    sim->add_option("--testbed", a->testbed, "Testbed folder or testbed.toml")->required();
    sim->add_option("--endpoint", a->endpoint, "Host ingest endpoint (default: the testbed's first [host] ingest)");
    sim->add_option("--rate", a->rate, "Messages per second over all sensors")->check(CLI::PositiveNumber)->capture_default_str();
    sim->add_option("--duration", a->duration, "Seconds to run (ignored with --count)")->check(CLI::NonNegativeNumber)->capture_default_str();
    sim->add_option("--count", a->count, "Send exactly this many messages, then stop");
    sim->add_option("--seed", a->seed, "Random seed; the same seed gives the same readings")->capture_default_str();
    sim->add_option("--speed", a->speed, "Simulated seconds per real second (e.g. 3600: one hour per second)")
        ->check(CLI::PositiveNumber)->capture_default_str();
    sim->add_option("--start", a->start, "Simulated start time, seconds since the Unix epoch (default: now)");
    sim->add_flag("--max", a->max, "Send as fast as possible (simulated time advances 1/rate per message)");
    sim->add_option("--follow", a->follow,
                    "Host output endpoint to follow: simulated drivers use guidance/parking/<zone> published there");
    sim->add_option("--wait", a->wait_s, "Seconds to wait for the host to subscribe")->capture_default_str();
    add_curve_client_options(*sim, a->curve);
    sim->callback([a] {
        const int rc = run_sim(*a);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
