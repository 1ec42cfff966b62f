#include "common/feed_publisher.hpp"

#include "bus/curve.hpp"

#include <zmq.hpp>

#include <thread>

namespace tb::tools {

FeedPublisher::FeedPublisher() = default;
FeedPublisher::~FeedPublisher() { close(std::chrono::milliseconds(2000)); }

host::Result<std::unique_ptr<FeedPublisher>> FeedPublisher::open(FeedPublisherOptions opt) {
    std::unique_ptr<FeedPublisher> p(new FeedPublisher());
    p->ctx_ = std::make_unique<zmq::context_t>(1);
    p->sock_ = std::make_unique<zmq::socket_t>(*p->ctx_, zmq::socket_type::xpub);
    p->sock_->set(zmq::sockopt::sndhwm, opt.sndhwm);
    p->sock_->set(zmq::sockopt::xpub_verbose, 1);
    if (!opt.curve_server_key.empty() || !opt.curve_client_key_file.empty()) {
        if (opt.curve_server_key.empty() || opt.curve_client_key_file.empty()) {
            return host::Error{"CURVE needs both the server's public key and this client's key file", "usage"};
        }
        auto server = host::resolve_curve_public_key(opt.curve_server_key);
        if (!server) return server.error();
        auto mine = host::load_curve_key_file(opt.curve_client_key_file, true);
        if (!mine) return mine.error();
        p->sock_->set(zmq::sockopt::curve_serverkey, *server);
        p->sock_->set(zmq::sockopt::curve_publickey, mine->public_z85);
        p->sock_->set(zmq::sockopt::curve_secretkey, mine->secret_z85);
    }
    try {
        if (opt.bind) p->sock_->bind(opt.endpoint);
        else p->sock_->connect(opt.endpoint);
    } catch (const zmq::error_t& e) {
        return host::Error{"feed endpoint '" + opt.endpoint + "': cannot " + (opt.bind ? "bind" : "connect") + ": " +
                               e.what() + " (use tcp://HOST:PORT or ipc:///path)",
                           "endpoint"};
    }
    return p;
}

bool FeedPublisher::wait_for_subscriber(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    zmq::pollitem_t items[] = {{static_cast<void*>(*sock_), 0, ZMQ_POLLIN, 0}};
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            zmq::poll(items, 1, std::chrono::milliseconds(20));
        } catch (const zmq::error_t&) {
            return false;  // interrupted by a signal (the caller is stopping) or the socket closed
        }
        if (items[0].revents & ZMQ_POLLIN) {
            zmq::message_t m;
            if (sock_->recv(m, zmq::recv_flags::dontwait) && m.size() > 0 && m.data<char>()[0] == 1) {
                // A subscription arrived. Give the connection a moment to settle on every pipe.
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                return true;
            }
        }
    }
    return false;
}

bool FeedPublisher::send(std::string_view topic, std::string_view payload, wire::ContentType type,
                         int64_t source_time_us, std::optional<uint64_t> sequence) {
    wire::Header h;
    h.content_type = type;
    h.sequence = sequence ? *sequence : ++seq_[std::string(topic)];
    h.source_time_us = source_time_us;
    const auto hdr = wire::encode_header(h);
    try {
        if (!sock_->send(zmq::buffer(topic.data(), topic.size()), zmq::send_flags::sndmore)) return false;
        (void)sock_->send(zmq::buffer(hdr.data(), hdr.size()), zmq::send_flags::sndmore);
        (void)sock_->send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::none);
    } catch (const zmq::error_t&) {
        return false;
    }
    ++sent_;
    return true;
}

bool FeedPublisher::send_frames(const std::vector<std::string>& frames) {
    try {
        for (std::size_t i = 0; i < frames.size(); ++i) {
            (void)sock_->send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
        }
    } catch (const zmq::error_t&) {
        return false;
    }
    ++sent_;
    return true;
}

void FeedPublisher::close(std::chrono::milliseconds linger) {
    if (sock_) {
        sock_->set(zmq::sockopt::linger, static_cast<int>(linger.count()));
        sock_->close();
        sock_.reset();
    }
    if (ctx_) {
        ctx_->close();
        ctx_.reset();
    }
}

}  // namespace tb::tools
