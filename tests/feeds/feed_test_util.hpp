// tests/feeds/feed_test_util.hpp: small helpers for the feed tests: a SUB socket standing in for
// a host's ingest, a free 127.0.0.1 TCP/UDP port, and UDP sending.
// Thread safety: single-threaded test use.
#pragma once

#include <zmq.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tb::test {

// A SUB socket bound like a host ingest (publishers connect to it), subscribed to everything.
class IngestSink {
   public:
    explicit IngestSink(const std::string& endpoint, const std::string& curve_secret_z85 = "") {
        sock_.set(zmq::sockopt::linger, 0);
        if (!curve_secret_z85.empty()) {
            sock_.set(zmq::sockopt::curve_server, 1);
            sock_.set(zmq::sockopt::curve_secretkey, curve_secret_z85);
        }
        sock_.set(zmq::sockopt::subscribe, "");
        sock_.bind(endpoint);
    }
    // libzmq attaches a connecting publisher (and sends it our subscription) only when this
    // socket is used, so keep it serviced while waiting for a publisher to get ready.
    template <class Pred>
    bool serve_until(Pred pred, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            (void)sock_.get(zmq::sockopt::events);
            if (pred()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    // The next message's frames, or nullopt after `timeout`.
    std::optional<std::vector<std::string>> recv(std::chrono::milliseconds timeout) {
        sock_.set(zmq::sockopt::rcvtimeo, static_cast<int>(timeout.count()));
        std::vector<std::string> frames;
        zmq::message_t m;
        if (!sock_.recv(m)) return std::nullopt;
        frames.push_back(m.to_string());
        while (m.more()) {
            (void)sock_.recv(m);
            frames.push_back(m.to_string());
        }
        return frames;
    }

   private:
    zmq::context_t ctx_{1};
    zmq::socket_t sock_{ctx_, zmq::socket_type::sub};
};

// A port on 127.0.0.1 that was free a moment ago (bind to 0, read it, close).
inline int free_port(int type = SOCK_STREAM) {
    const int fd = ::socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    (void)::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

inline bool tcp_listening(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

inline void udp_send(int port, const std::string& bytes) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    (void)::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::close(fd);
}

}  // namespace tb::test
