// testbed feed mavlink: receive MAVLink v1/v2 over UDP (from a drone, a ground station's
// forwarding port or SITL) and republish drone telemetry as JSON on drone/<sysid>/<kind>
// (docs/feeds.md lists every field and unit). tools/common/mavlink.* does the decoding; bad
// frames (checksum, unknown id, truncated, garbage) are counted per reason and skipped.
#include "commands.hpp"
#include "common/clock.hpp"
#include "common/feed_publisher.hpp"
#include "common/mavlink.hpp"
#include "feed_bridges.hpp"
#include "feed_curve.hpp"

#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>

namespace tb::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct MavlinkArgs {
    std::string udp = "127.0.0.1:14550";
    std::string endpoint;
    double stats_every_s = 10;
    double wait_s = 10;
    CurveClientArgs curve;
};

std::string stats_text(const tools::MavStats& st, uint64_t datagrams, uint64_t published) {
    std::string s = std::to_string(datagrams) + " datagram(s), " + std::to_string(st.frames) + " frame(s) decoded, " +
                    std::to_string(published) + " published, " + std::to_string(st.errors_total()) + " skipped";
    std::string by;
    for (int i = 1; i < tools::kMavErrorCount; ++i) {
        if (st.errors[i] == 0) continue;
        by += (by.empty() ? "" : ", ") + std::string(tools::to_string(static_cast<tools::MavError>(i))) + "=" +
              std::to_string(st.errors[i]);
    }
    if (!by.empty()) s += " (" + by + ")";
    return s;
}

int run_mavlink(const MavlinkArgs& a) {
    const auto colon = a.udp.rfind(':');
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    int port = 0;
    try {
        port = colon == std::string::npos ? -1 : std::stoi(a.udp.substr(colon + 1));
    } catch (const std::exception&) {
        port = -1;
    }
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, a.udp.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
        std::cerr << "testbed feed mavlink: --udp '" << a.udp << "' is not IPv4-ADDRESS:PORT (e.g. 127.0.0.1:14550)\n";
        return kExitUsage;
    }
    addr.sin_port = htons(static_cast<uint16_t>(port));
    tools::FeedPublisherOptions po;
    po.endpoint = a.endpoint;
    po.bind = false;
    po.curve_server_key = a.curve.server_key;
    po.curve_client_key_file = a.curve.key_file;
    auto pub = tools::FeedPublisher::open(po);
    if (!pub) {
        std::cerr << "testbed feed mavlink: " << pub.error().message << "\n";
        return kExitUsage;
    }
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        std::cerr << "testbed feed mavlink: cannot listen on UDP " << a.udp << ": " << std::strerror(errno)
                  << " (is another bridge or ground station using the port?)\n";
        if (fd >= 0) ::close(fd);
        return kExitFailure;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    if (!(*pub)->wait_for_subscriber(std::chrono::milliseconds(static_cast<int64_t>(a.wait_s * 1000)))) {
        std::cerr << "testbed feed mavlink: no host subscribed at " << a.endpoint << " within " << a.wait_s
                  << " s; continuing (messages are dropped until one does)" << std::endl;
    }
    std::cout << "testbed feed mavlink: listening on udp " << a.udp << ", publishing to " << a.endpoint << std::endl;
    tools::MavStats st;
    uint64_t datagrams = 0, published = 0;
    std::string buf(65536, '\0');
    std::string topic;
    auto next_stats = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.stats_every_s);
    while (!g_stop) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLIN)) {
            const auto n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n > 0) {
                ++datagrams;
                const int64_t t_us = host::now_us();
                for (const auto& f : tools::parse_mavlink(std::string_view(buf.data(), static_cast<std::size_t>(n)), st)) {
                    const auto tel = tools::to_telemetry(f);
                    topic = "drone/" + std::to_string(f.sysid) + "/" + tel.subtopic;
                    if ((*pub)->send(topic, tel.json, wire::ContentType::json, t_us)) ++published;
                }
            }
        }
        if (a.stats_every_s > 0 && std::chrono::steady_clock::now() >= next_stats) {
            std::cout << "testbed feed mavlink: " << stats_text(st, datagrams, published) << std::endl;
            next_stats = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.stats_every_s);
        }
    }
    ::close(fd);
    (*pub)->close();
    std::cout << "testbed feed mavlink: " << stats_text(st, datagrams, published) << std::endl;
    return kExitOk;
}

}  // namespace

void register_feed_mavlink_command(CLI::App& feed) {
    auto a = std::make_shared<MavlinkArgs>();
    auto* c = feed.add_subcommand("mavlink", "Bridge MAVLink v1/v2 drone telemetry (UDP) into drone/<sysid>/... JSON");
    c->add_option("--udp", a->udp, "UDP address and port to listen on")->capture_default_str();
    c->add_option("--endpoint", a->endpoint, "Host ingest endpoint to publish to")->required();
    c->add_option("--stats-every", a->stats_every_s, "Print counters every this many seconds (0: only at exit)")
        ->capture_default_str();
    c->add_option("--wait", a->wait_s, "Seconds to wait for a host to subscribe before bridging")->capture_default_str();
    add_curve_client_options(*c, a->curve);
    c->callback([a] {
        const int rc = run_mavlink(*a);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
