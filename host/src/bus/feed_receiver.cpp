#include "bus/feed_receiver.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <zmq.hpp>

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "runtime/inline_delivery.hpp"

namespace tb::host {

namespace asio = boost::asio;

struct FeedReceiver::Impl {
    struct Health {
        FeedHealthRow row;
        uint64_t last_seq = 0;
    };
    std::unique_ptr<zmq::socket_t> sock;
    ReceiverOptions opt;
    Sink sink;
    ReceiverCounters counters;
    std::atomic<bool> stopping{false};
    // The receive loop on the worker pool (see on_readable()).
    asio::io_context* io = nullptr;
    std::mutex fd_mu;  // arm() against stop()'s cancel
    // ZeroMQ's ZMQ_FD, not owned (released in stop()).
    std::optional<asio::posix::stream_descriptor> fd;
    std::vector<zmq::message_t> frames;  // the receive loop only
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;            // guarded by done_mu: the loop has ended
    bool stop_requested = false;  // main thread only
    std::shared_ptr<spdlog::logger> log = logger("feeds");

    int64_t started_us = 0;  // silence of a never-heard expected source counts from here
    mutable std::mutex health_mu;
    std::unordered_map<std::string, Health> health;  // guarded by health_mu
    std::vector<StalePeriod> periods;                // guarded by health_mu; bounded by kMaxPeriods
    static constexpr std::size_t kMaxPeriods = 10000;

    // ZAP (ZeroMQ authentication) handler for CURVE: its own thread and REP socket.
    std::unique_ptr<zmq::socket_t> zap;
    std::thread zap_thread;
    std::atomic<uint64_t> curve_refused{0};

    void run_zap() {
        zmq::pollitem_t items[] = {{static_cast<void*>(*zap), 0, ZMQ_POLLIN, 0}};
        while (!stopping.load(std::memory_order_relaxed)) {
            try {
                zmq::poll(items, 1, std::chrono::milliseconds(50));
                if (!(items[0].revents & ZMQ_POLLIN)) continue;
                // Request (RFC 27): version, request id, domain, address, identity, mechanism,
                // credentials...
                std::vector<zmq::message_t> req;
                do {
                    req.emplace_back();
                    (void)zap->recv(req.back(), zmq::recv_flags::none);
                } while (req.back().more() && req.size() < 16);
                while (req.back().more()) {
                    zmq::message_t skip;
                    (void)zap->recv(skip, zmq::recv_flags::none);
                }
                std::string request_id = req.size() > 1 ? req[1].to_string() : "";
                std::string status = "400", text = "malformed ZAP request";
                if (req.size() >= 7 && req[0].to_string_view() == "1.0" &&
                    req[5].to_string_view() == "CURVE" && req[6].size() == 32) {
                    std::array<char, 41> z85{};
                    zmq_z85_encode(z85.data(), req[6].data<uint8_t>(), 32);
                    if (opt.curve_authorized_keys.count(z85.data())) {
                        status = "200", text = "OK";
                    } else {
                        status = "400", text = "client key not authorized";
                        const uint64_t n = curve_refused.fetch_add(1);
                        if (n < 5 || n % 1000 == 0) {
                            log->warn(
                                "refused a CURVE publisher with key {} from {}: not in the "
                                "authorized keys (add its NAME.pub to [host] "
                                "curve_authorized_keys)",
                                z85.data(), req[3].to_string());
                        }
                    }
                }
                const std::string user = status == "200" ? "publisher" : "";
                (void)zap->send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
                (void)zap->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
                (void)zap->send(zmq::buffer(status), zmq::send_flags::sndmore);
                (void)zap->send(zmq::buffer(text), zmq::send_flags::sndmore);
                (void)zap->send(zmq::buffer(user), zmq::send_flags::sndmore);
                (void)zap->send(zmq::str_buffer(""), zmq::send_flags::none);
            } catch (const zmq::error_t& e) {
                if (e.num() == ETERM) break;
                log->error("ZAP handler: {}", e.what());
            }
        }
    }

    void drop(wire::DropReason r, std::string_view detail) {
        const uint64_t n =
            counters.dropped[static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed);
        if (n < 5 || n % 10000 == 0) {
            log->warn("dropped a malformed feed message ({}): {} (#{} for this reason)",
                      wire::to_string(r), detail, n + 1);
        }
    }

    void track(const FeedMessage& m) {
        std::lock_guard lock(health_mu);
        auto [it, created] = health.try_emplace(m.topic);
        auto& h = it->second;
        auto& r = h.row;
        const uint64_t seq = m.header.sequence;
        // An expected source is seeded with no messages; its first message is its first sight.
        const bool fresh = r.messages == 0;
        if (created) {
            r.source = m.topic;
            if (opt.stale_after_s) r.stale_after_s = opt.stale_after_s(m.topic);
        }
        if (fresh) {
            r.first_seen_us = m.receive_time_us;
        } else if (seq == h.last_seq) {
            ++r.duplicates;
        } else if (seq > h.last_seq + 1) {
            r.gaps += seq - h.last_seq - 1;
        } else if (seq < h.last_seq) {
            // Sequence 1 after a higher number means the publisher restarted, not disorder.
            if (seq > 1) ++r.out_of_order;
        }
        if (fresh || seq > h.last_seq || seq <= 1) h.last_seq = seq;
        ++r.messages;
        r.bytes += m.payload.size();
        r.last_seen_us = m.receive_time_us;
    }

    // Receiving runs on the plugin worker pool (docs/architecture.md, "Threads"): the executor
    // waits on the socket's ZMQ_FD, and a readable wake-up reads messages without blocking. When
    // a message makes an in-process plugin's drain due, the reading thread runs that drain at once
    // (runtime/inline_delivery.hpp), so no thread hand-off lies between ZeroMQ and the callback
    // beyond ZeroMQ's own (W3 in docs/performance.md), and then reads on. Exactly one reader is
    // outstanding at any time, so two workers never read at once: an armed wait, a posted read,
    // or on_readable() running.
    //
    // A callback run this way holds the input while it runs. Instances whose callbacks took
    // longer than kInlineMaxCallbackNs lately are not run this way (in_process.cpp), and a
    // callback that holds the input for longer than `after` is rescued by rescue_stalled_input():
    // another worker becomes the reader, and the old one leaves when its callback returns.
    static constexpr int kReadBatch = 256;
    static constexpr int64_t kRescued = -1;
    std::atomic<int64_t> inline_since{0};  // mono ns the reader began a drain; 0 none; kRescued
    int orphans = 0;  // guarded by done_mu: rescued readers still in a callback
    std::atomic<uint64_t> rescues{0};

    void arm() {
        std::lock_guard lock(fd_mu);  // against stop()'s cancel from the main thread
        if (stopping.load(std::memory_order_relaxed)) {
            finish();
            return;
        }
        fd->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) { on_readable(ec); });
    }

    void read_on() {
        asio::post(*io, [this] { on_readable({}); });
    }

    void on_readable(const boost::system::error_code& ec) {
        if (ec || stopping.load(std::memory_order_relaxed)) {
            if (ec && ec != asio::error::operation_aborted) {
                log->error(
                    "feed socket: waiting for input failed: {}; no more feed messages are read",
                    ec.message());
            }
            finish();
            return;
        }
        for (int n = 0; n < kReadBatch; ++n) {
            if (stopping.load(std::memory_order_relaxed)) {
                finish();
                return;
            }
            InlineRunnable* ready = nullptr;
            try {
                InlineSlot slot;
                if (!read_one()) {
                    // EAGAIN: ZeroMQ has consumed its signal, and the next message signals anew.
                    arm();
                    return;
                }
                ready = slot.take();
            } catch (const zmq::error_t& e) {
                if (e.num() == ETERM) {
                    finish();
                    return;
                }
                log->error("feed socket error: {}", e.what());
            }
            if (ready != nullptr && !run_inline(*ready))
                return;  // rescued: another worker reads now
        }
        // More may be queued, and ZMQ_FD would not signal them again: read on after whatever else
        // waits for a worker.
        read_on();
    }

    // Runs the claimed drain on this thread; false when this thread was rescued meanwhile and is
    // no longer the reader (then it has touched nothing of the receiver since).
    bool run_inline(InlineRunnable& ready) {
        const int64_t since = mono_ns();
        inline_since.store(since, std::memory_order_relaxed);
        ready.run_drain(true);
        int64_t expected = since;
        if (inline_since.compare_exchange_strong(expected, 0)) return true;
        std::lock_guard lock(done_mu);  // the receiver stays alive until this orphan has left
        --orphans;
        done_cv.notify_all();
        return false;
    }

    void rescue(int64_t now, int64_t after_ns) {
        int64_t since = inline_since.load();
        if (since <= 0 || now - since < after_ns) return;
        {
            std::lock_guard lock(done_mu);
            if (done || !inline_since.compare_exchange_strong(since, kRescued)) return;
            ++orphans;
        }
        const uint64_t n = rescues.fetch_add(1);
        if (n < 5 || n % 1000 == 0) {
            log->warn(
                "an in-process plugin callback has held the feed input for {} ms, so another "
                "worker reads on (#{}); the plugin names itself in an 'on_message took' warning "
                "when the callback returns",
                (now - since) / 1'000'000, n + 1);
        }
        read_on();
    }

    // One multipart message, without blocking; false when none is waiting.
    bool read_one() {
        frames.clear();
        zmq::message_t part;
        if (!sock->recv(part, zmq::recv_flags::dontwait)) return false;
        frames.push_back(std::move(part));
        // The parts of a multipart message arrive together: these receives never wait.
        while (frames.back().more() && frames.size() < 16) {
            zmq::message_t next;
            (void)sock->recv(next, zmq::recv_flags::none);
            frames.push_back(std::move(next));
        }
        while (frames.back().more()) {  // too many frames: consume the rest
            zmq::message_t skip;
            (void)sock->recv(skip, zmq::recv_flags::none);
            frames.push_back(std::move(skip));
        }
        handle();
        return true;
    }

    void finish() {
        std::lock_guard lock(done_mu);
        done = true;
        done_cv.notify_all();
    }

    void handle() {  // the message in `frames`
        if (frames.size() != 3) {
            drop(wire::DropReason::frame_count,
                 std::to_string(frames.size()) + " frame(s), expected 3 (topic, header, payload)");
            return;
        }
        const auto topic = frames[0].to_string_view();
        if (!wire::valid_topic(topic)) {
            drop(wire::DropReason::bad_topic,
                 "topic is empty, over 255 bytes, or has spaces/control characters");
            return;
        }
        wire::Header h;
        wire::DropReason why{};
        if (!wire::decode_header(frames[1].to_string_view(), h, why)) {
            drop(why, "topic '" + std::string(topic) + "', header of " +
                          std::to_string(frames[1].size()) + " bytes");
            return;
        }
        const auto payload = frames[2].to_string_view();
        if (payload.size() > wire::kMaxPayloadSize) {
            drop(wire::DropReason::payload_too_large, "topic '" + std::string(topic) + "'");
            return;
        }
        if (opt.validate_json &&
            (h.content_type == wire::ContentType::senml_json ||
             h.content_type == wire::ContentType::json) &&
            !wire::valid_json(payload)) {
            drop(wire::DropReason::invalid_json, "topic '" + std::string(topic) + "'");
            return;
        }
        auto msg = std::make_shared<FeedMessage>();
        msg->topic.assign(topic);
        msg->payload.assign(payload);
        msg->header = h;
        msg->receive_time_us = now_us();
        msg->receive_mono_ns = mono_ns();
        counters.received.fetch_add(1, std::memory_order_relaxed);
        counters.bytes.fetch_add(payload.size(), std::memory_order_relaxed);
        track(*msg);
        const std::size_t n = sink(msg);
        (n > 0 ? counters.routed : counters.unrouted).fetch_add(1, std::memory_order_relaxed);
        counters.deliveries.fetch_add(n, std::memory_order_relaxed);
    }
};

FeedReceiver::FeedReceiver() : impl_(std::make_unique<Impl>()) {}
FeedReceiver::~FeedReceiver() { stop(); }

Result<std::unique_ptr<FeedReceiver>> FeedReceiver::start(zmq::context_t& ctx, ReceiverOptions opt,
                                                          Sink sink, boost::asio::io_context& io) {
    std::unique_ptr<FeedReceiver> r(new FeedReceiver());
    auto& im = *r->impl_;
    im.opt = std::move(opt);
    im.sink = std::move(sink);
    im.started_us = now_us();
    for (const auto& source : im.opt.expected_sources) {
        auto& row = im.health[source].row;
        row.source = source;
        if (im.opt.stale_after_s) row.stale_after_s = im.opt.stale_after_s(source);
    }
    im.opt.expected_sources.clear();
    im.opt.expected_sources.shrink_to_fit();
    if (!im.opt.curve_secret_z85.empty()) {
        // The ZAP endpoint is per context; it must be bound before the server socket binds.
        im.zap = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::rep);
        im.zap->set(zmq::sockopt::linger, 0);
        try {
            im.zap->bind("inproc://zeromq.zap.01");
        } catch (const zmq::error_t& e) {
            return Error{
                std::string("CURVE: cannot start the ZAP authentication handler: ") + e.what(),
                "zap"};
        }
    }
    im.sock = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::sub);
    im.sock->set(zmq::sockopt::linger, 0);
    if (!im.opt.curve_secret_z85.empty()) {
        im.sock->set(zmq::sockopt::curve_server, true);
        im.sock->set(zmq::sockopt::curve_secretkey, im.opt.curve_secret_z85);
        im.sock->set(zmq::sockopt::zap_domain, "testbed-ingest");
    }
    im.sock->set(zmq::sockopt::rcvhwm, im.opt.rcvhwm);
    im.sock->set(zmq::sockopt::subscribe, "");  // every source, so feed health covers them all
    for (const auto& ep : im.opt.bind) {
        try {
            im.sock->bind(ep);
        } catch (const zmq::error_t& e) {
            return Error{"ingest endpoint '" + ep + "': cannot bind: " + e.what() +
                             " (is another host running on it? set [host] ingest or --ingest)",
                         "bind"};
        }
    }
    for (const auto& ep : im.opt.connect) {
        try {
            im.sock->connect(ep);
        } catch (const zmq::error_t& e) {
            return Error{"feed endpoint '" + ep + "': cannot connect: " + e.what(), "connect"};
        }
    }
    if (im.zap) im.zap_thread = std::thread([&im] { im.run_zap(); });
    im.frames.reserve(4);
    im.io = &io;
    im.fd.emplace(io, im.sock->get(zmq::sockopt::fd));
    // Messages may have queued since the bind; the first read finds them or arms the wait.
    im.read_on();
    return r;
}

void FeedReceiver::stop() {
    auto& im = *impl_;
    if (im.fd && !im.stop_requested) {
        // The loop sees `stopping` at its next step, or its armed wait ends with
        // operation_aborted; either way it calls finish().
        im.stop_requested = true;
        {
            std::lock_guard lock(im.fd_mu);
            im.stopping.store(true);
            boost::system::error_code ignored;
            im.fd->cancel(ignored);
        }
        std::unique_lock lock(im.done_mu);
        im.done_cv.wait(lock, [&] { return im.done && im.orphans == 0; });
    }
    if (im.fd) {
        (void)im.fd->release();  // the descriptor belongs to ZeroMQ
        im.fd.reset();
    }
    impl_->stopping.store(true);
    if (impl_->zap_thread.joinable()) impl_->zap_thread.join();
    if (impl_->sock) impl_->sock->close();
    if (impl_->zap) impl_->zap->close();
}

const ReceiverCounters& FeedReceiver::counters() const { return impl_->counters; }

uint64_t FeedReceiver::dropped_total() const {
    uint64_t n = 0;
    for (const auto& d : impl_->counters.dropped) n += d.load();
    return n;
}

std::map<std::string, uint64_t> FeedReceiver::drops_by_reason() const {
    std::map<std::string, uint64_t> out;
    for (int i = 1; i < wire::kDropReasonCount; ++i) {
        const uint64_t n = impl_->counters.dropped[i].load();
        if (n > 0) out[std::string(wire::to_string(static_cast<wire::DropReason>(i)))] = n;
    }
    return out;
}

std::vector<FeedHealthRow> FeedReceiver::feed_health() const {
    std::lock_guard lock(impl_->health_mu);
    std::vector<FeedHealthRow> out;
    out.reserve(impl_->health.size());
    for (const auto& [k, h] : impl_->health) out.push_back(h.row);
    return out;
}

std::vector<FeedStaleChange> FeedReceiver::check_stale(int64_t now) {
    std::vector<FeedStaleChange> out;
    std::lock_guard lock(impl_->health_mu);
    for (auto& [source, h] : impl_->health) {
        auto& r = h.row;
        if (r.stale_after_s <= 0) continue;
        // A source never heard from (an expected one) has been silent since the receiver started.
        const bool never_heard = r.messages == 0;
        const int64_t since = never_heard ? impl_->started_us : r.last_seen_us;
        const int64_t silent = now - since;
        if (!r.stale && silent > r.stale_after_s * 1'000'000) {
            r.stale = true;
            r.stale_since_us = since;
            ++r.stale_count;
            if (impl_->periods.size() < Impl::kMaxPeriods)
                impl_->periods.push_back({source, since, 0});
            out.push_back({source, true, r.last_seen_us, silent, r.stale_after_s, never_heard});
        } else if (r.stale && r.last_seen_us > r.stale_since_us) {
            // A message arrived after the silence began.
            for (auto it = impl_->periods.rbegin(); it != impl_->periods.rend(); ++it) {
                if (it->source == source && it->until_us == 0) {
                    it->until_us = r.last_seen_us;
                    break;
                }
            }
            out.push_back({source, false, r.last_seen_us, r.last_seen_us - r.stale_since_us,
                           r.stale_after_s, false});
            r.stale = false;
            r.stale_since_us = 0;
        }
    }
    return out;
}

std::vector<StalePeriod> FeedReceiver::stale_periods() const {
    std::lock_guard lock(impl_->health_mu);
    return impl_->periods;
}

uint64_t FeedReceiver::curve_refused() const { return impl_->curve_refused.load(); }

void FeedReceiver::rescue_stalled_input(std::chrono::milliseconds after) {
    if (impl_->fd && !impl_->stop_requested) impl_->rescue(mono_ns(), after.count() * 1'000'000);
}

uint64_t FeedReceiver::input_rescues() const { return impl_->rescues.load(); }

}  // namespace tb::host
