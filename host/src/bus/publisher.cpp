#include "bus/publisher.hpp"

#include "common/clock.hpp"
#include "common/logging.hpp"

#include <zmq.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace tb::host {

struct Publisher::Impl {
    struct Item {
        std::string topic, payload;
        wire::ContentType type;
        int64_t t_us;
    };
    std::unique_ptr<zmq::socket_t> sock;
    std::size_t capacity = 0;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Item> queue;  // guarded by mu
    bool stopping = false;   // guarded by mu
    std::atomic<uint64_t> sent{0};
    std::thread thread;

    void run() {
        std::unordered_map<std::string, uint64_t> seq;
        std::deque<Item> batch;
        for (;;) {
            {
                std::unique_lock lock(mu);
                cv.wait(lock, [&] { return stopping || !queue.empty(); });
                batch.swap(queue);
                if (batch.empty() && stopping) break;
            }
            for (auto& it : batch) {
                wire::Header h;
                h.content_type = it.type;
                h.sequence = ++seq[it.topic];
                h.source_time_us = it.t_us;
                const auto hdr = wire::encode_header(h);
                try {
                    sock->send(zmq::buffer(it.topic), zmq::send_flags::sndmore);
                    sock->send(zmq::buffer(hdr.data(), hdr.size()), zmq::send_flags::sndmore);
                    sock->send(zmq::buffer(it.payload), zmq::send_flags::none);
                    sent.fetch_add(1, std::memory_order_relaxed);
                } catch (const zmq::error_t& e) {
                    logger("publisher")->warn("sending on output feed failed: {}", e.what());
                }
            }
            batch.clear();
        }
        sock->close();
    }
};

Publisher::Publisher() : impl_(std::make_unique<Impl>()) {}
Publisher::~Publisher() { stop(); }

Result<std::unique_ptr<Publisher>> Publisher::start(zmq::context_t& ctx, const std::string& endpoint,
                                                    std::size_t queue_capacity) {
    std::unique_ptr<Publisher> p(new Publisher());
    p->impl_->capacity = queue_capacity;
    try {
        p->impl_->sock = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pub);
        p->impl_->sock->set(zmq::sockopt::linger, 0);
        p->impl_->sock->set(zmq::sockopt::sndhwm, 100000);
        p->impl_->sock->bind(endpoint);
    } catch (const zmq::error_t& e) {
        return Error{"output feed '" + endpoint + "': cannot bind: " + e.what() +
                         " (is another host using it? set [host] output or --output)",
                     "bind"};
    }
    auto* im = p->impl_.get();
    im->thread = std::thread([im] { im->run(); });
    return p;
}

bool Publisher::publish(std::string_view topic, std::string_view payload, wire::ContentType type) {
    {
        std::lock_guard lock(impl_->mu);
        if (impl_->stopping || impl_->queue.size() >= impl_->capacity) return false;
        impl_->queue.push_back({std::string(topic), std::string(payload), type, now_us()});
    }
    impl_->cv.notify_one();
    return true;
}

uint64_t Publisher::sent() const { return impl_->sent.load(); }

void Publisher::stop() {
    {
        std::lock_guard lock(impl_->mu);
        if (impl_->stopping) return;
        impl_->stopping = true;
    }
    impl_->cv.notify_one();
    if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace tb::host
