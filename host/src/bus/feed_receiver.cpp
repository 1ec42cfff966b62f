#include "bus/feed_receiver.hpp"

#include "common/clock.hpp"
#include "common/logging.hpp"

#include <zmq.hpp>

#include <mutex>
#include <thread>
#include <unordered_map>

namespace tb::host {

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
    std::thread thread;
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
                // Request (RFC 27): version, request id, domain, address, identity, mechanism, credentials...
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
                if (req.size() >= 7 && req[0].to_string_view() == "1.0" && req[5].to_string_view() == "CURVE" &&
                    req[6].size() == 32) {
                    std::array<char, 41> z85{};
                    zmq_z85_encode(z85.data(), req[6].data<uint8_t>(), 32);
                    if (opt.curve_authorized_keys.count(z85.data())) {
                        status = "200", text = "OK";
                    } else {
                        status = "400", text = "client key not authorized";
                        const uint64_t n = curve_refused.fetch_add(1);
                        if (n < 5 || n % 1000 == 0) {
                            log->warn("refused a CURVE publisher with key {} from {}: not in the authorized keys "
                                      "(add its NAME.pub to [host] curve_authorized_keys)",
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
        const uint64_t n = counters.dropped[static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed);
        if (n < 5 || n % 10000 == 0) {
            log->warn("dropped a malformed feed message ({}): {} (#{} for this reason)", wire::to_string(r), detail, n + 1);
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

    // Blocking receives with a 50 ms timeout (to notice stop()), as a plain ZeroMQ subscriber
    // reads: no zmq_poll and no failing non-blocking receive per message, which at low rates cost
    // a few system calls each on the latency path (W3 in docs/performance.md).
    void run() {
        std::vector<zmq::message_t> frames;
        frames.reserve(4);
        while (!stopping.load(std::memory_order_relaxed)) {
            try {
                frames.clear();
                zmq::message_t part;
                if (!sock->recv(part, zmq::recv_flags::none)) continue;  // the timeout
                frames.push_back(std::move(part));
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
                handle(frames);
            } catch (const zmq::error_t& e) {
                if (e.num() == ETERM) break;
                log->error("feed socket error: {}", e.what());
            }
        }
    }

    void handle(std::vector<zmq::message_t>& frames) {
        if (frames.size() != 3) {
            drop(wire::DropReason::frame_count, std::to_string(frames.size()) + " frame(s), expected 3 (topic, header, payload)");
            return;
        }
        const auto topic = frames[0].to_string_view();
        if (!wire::valid_topic(topic)) {
            drop(wire::DropReason::bad_topic, "topic is empty, over 255 bytes, or has spaces/control characters");
            return;
        }
        wire::Header h;
        wire::DropReason why{};
        if (!wire::decode_header(frames[1].to_string_view(), h, why)) {
            drop(why, "topic '" + std::string(topic) + "', header of " + std::to_string(frames[1].size()) + " bytes");
            return;
        }
        const auto payload = frames[2].to_string_view();
        if (payload.size() > wire::kMaxPayloadSize) {
            drop(wire::DropReason::payload_too_large, "topic '" + std::string(topic) + "'");
            return;
        }
        if (opt.validate_json && (h.content_type == wire::ContentType::senml_json || h.content_type == wire::ContentType::json) &&
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

Result<std::unique_ptr<FeedReceiver>> FeedReceiver::start(zmq::context_t& ctx, ReceiverOptions opt, Sink sink) {
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
            return Error{std::string("CURVE: cannot start the ZAP authentication handler: ") + e.what(), "zap"};
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
    im.sock->set(zmq::sockopt::rcvtimeo, 50);   // run() checks for stop() this often when idle
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
    im.thread = std::thread([&im] { im.run(); });
    return r;
}

void FeedReceiver::stop() {
    impl_->stopping.store(true);
    if (impl_->thread.joinable()) impl_->thread.join();
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
            if (impl_->periods.size() < Impl::kMaxPeriods) impl_->periods.push_back({source, since, 0});
            out.push_back({source, true, r.last_seen_us, silent, r.stale_after_s, never_heard});
        } else if (r.stale && r.last_seen_us > r.stale_since_us) {
            // A message arrived after the silence began.
            for (auto it = impl_->periods.rbegin(); it != impl_->periods.rend(); ++it) {
                if (it->source == source && it->until_us == 0) {
                    it->until_us = r.last_seen_us;
                    break;
                }
            }
            out.push_back({source, false, r.last_seen_us, r.last_seen_us - r.stale_since_us, r.stale_after_s, false});
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

}  // namespace tb::host
