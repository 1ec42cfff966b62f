// testbed feed record / replay: capture any feed losslessly into a TBREC recording
// (tools/common/recording.hpp) and play it back with the original or scaled timing.
//
// The recorder is a SUB socket that, like a host's ingest, binds by default (publishers connect);
// with --connect it connects to a publisher or proxy that binds. It stores every frame of every
// message as received (malformed messages included: the recording is of the feed, not of what a
// host would accept) together with the receive time. The replayer sends the frames unchanged, so
// topics, sequence numbers and source timestamps are those of the live run.
#include "commands.hpp"
#include "common/clock.hpp"
#include "common/feed_publisher.hpp"
#include "common/recording.hpp"
#include "feed_curve.hpp"

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <thread>

namespace tb::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct RecordArgs {
    std::string endpoint;
    std::string out;
    double duration = 0;
    uint64_t count = 0;
    std::vector<std::string> topics;
    bool connect = false;
    CurveClientArgs curve;
};

int run_record(const RecordArgs& a) {
    nlohmann::json meta{{"tool", "testbed feed record"}, {"endpoint", a.endpoint}, {"started_us", host::now_us()},
                        {"topics", a.topics}};
    auto w = tools::RecordingWriter::create(a.out, meta);
    if (!w) {
        std::cerr << "testbed feed record: " << w.error().message << "\n";
        return kExitUsage;
    }
    zmq::context_t ctx(1);
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::rcvhwm, 1'000'000);
    if (auto s = apply_curve_client(sub, a.curve); !s) {
        std::cerr << "testbed feed record: " << s.message() << "\n";
        return kExitUsage;
    }
    if (a.topics.empty()) {
        sub.set(zmq::sockopt::subscribe, "");
    } else {
        for (const auto& t : a.topics) sub.set(zmq::sockopt::subscribe, t);
    }
    try {
        if (a.connect) sub.connect(a.endpoint);
        else sub.bind(a.endpoint);
    } catch (const zmq::error_t& e) {
        std::cerr << "testbed feed record: endpoint '" << a.endpoint << "': cannot " << (a.connect ? "connect" : "bind")
                  << ": " << e.what() << " (use tcp://HOST:PORT or ipc:///path; is a host already bound there?)\n";
        return kExitUsage;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::cout << "testbed feed record: recording " << a.endpoint << " to " << a.out << std::endl;
    const auto t0 = std::chrono::steady_clock::now();
    tools::RecordedMessage msg;
    zmq::pollitem_t items[] = {{static_cast<void*>(sub), 0, ZMQ_POLLIN, 0}};
    int rc = kExitOk;
    while (!g_stop) {
        if (a.count > 0 && (*w)->count() >= a.count) break;
        if (a.duration > 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= a.duration) {
            break;
        }
        msg.frames.clear();
        zmq::message_t part;
        try {
            zmq::poll(items, 1, std::chrono::milliseconds(100));
            if (!(items[0].revents & ZMQ_POLLIN)) continue;
            if (!sub.recv(part, zmq::recv_flags::dontwait)) continue;
            msg.receive_time_us = host::now_us();
            msg.frames.emplace_back(part.to_string());
            while (part.more()) {
                (void)sub.recv(part, zmq::recv_flags::none);
                // A message with more frames than a recording holds keeps its first 64.
                if (msg.frames.size() < tools::kRecordingMaxFrames) msg.frames.emplace_back(part.to_string());
            }
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) continue;  // SIGINT/SIGTERM: the loop condition ends the recording
            std::cerr << "testbed feed record: " << e.what() << "\n";
            rc = kExitFailure;
            break;
        }
        if (auto s = (*w)->write(msg); !s) {
            std::cerr << "testbed feed record: " << s.message() << "\n";
            rc = kExitFailure;
            break;
        }
    }
    const uint64_t n = (*w)->count();
    if (auto s = (*w)->close(); !s) {
        std::cerr << "testbed feed record: " << s.message() << "\n";
        return kExitFailure;
    }
    std::cout << "testbed feed record: wrote " << n << " message(s) to " << a.out << std::endl;
    return rc;
}

struct ReplayArgs {
    std::string file;
    std::string endpoint;
    double speed = 1;
    bool max = false;
    bool bind = false;
    double wait_s = 5;
    CurveClientArgs curve;
};

int run_replay(const ReplayArgs& a) {
    auto r = tools::RecordingReader::open(a.file);
    if (!r) {
        std::cerr << "testbed feed replay: " << r.error().message << "\n";
        return kExitUsage;
    }
    tools::FeedPublisherOptions po;
    po.endpoint = a.endpoint;
    po.bind = a.bind;
    po.curve_server_key = a.curve.server_key;
    po.curve_client_key_file = a.curve.key_file;
    auto pub = tools::FeedPublisher::open(po);
    if (!pub) {
        std::cerr << "testbed feed replay: " << pub.error().message << "\n";
        return kExitUsage;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    if (!(*pub)->wait_for_subscriber(std::chrono::milliseconds(static_cast<int64_t>(a.wait_s * 1000)))) {
        std::cerr << "testbed feed replay: no subscriber at " << a.endpoint << " within " << a.wait_s
                  << " s (is testbed-host running there?)\n";
        return kExitFailure;
    }
    tools::RecordedMessage msg;
    int64_t first_us = 0;
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t sent = 0;
    int rc = kExitOk;
    while (!g_stop) {
        auto got = (*r)->next(msg);
        if (!got) {
            // Everything before the damage has been sent; say how much.
            std::cerr << "testbed feed replay: " << got.error().message << "; replayed " << sent
                      << " message(s) before it\n";
            rc = kExitUsage;
            break;
        }
        if (!*got) break;
        if (sent == 0) first_us = msg.receive_time_us;
        if (!a.max) {
            // Original spacing divided by --speed, measured from the first message (no drift).
            const double due_s = static_cast<double>(msg.receive_time_us - first_us) / 1e6 / a.speed;
            const auto due = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(std::max(0.0, due_s)));
            while (!g_stop && std::chrono::steady_clock::now() < due) {
                std::this_thread::sleep_until(std::min(due, std::chrono::steady_clock::now() + std::chrono::milliseconds(100)));
            }
            if (g_stop) break;
        }
        if (!(*pub)->send_frames(msg.frames)) {
            std::cerr << "testbed feed replay: send failed after " << sent << " message(s)\n";
            rc = kExitFailure;
            break;
        }
        ++sent;
    }
    (*pub)->close();
    std::cout << "testbed feed replay: sent " << sent << " of " << (*r)->count() << " recorded message(s) read from "
              << a.file << " to " << a.endpoint << std::endl;
    return rc;
}

}  // namespace

void register_feed_record_commands(CLI::App& app) {
    auto* feed = app.get_subcommand("feed");

    auto ra = std::make_shared<RecordArgs>();
    auto* rec = feed->add_subcommand("record", "Record a feed losslessly (all frames, receive times) to a TBREC file");
    rec->add_option("--endpoint", ra->endpoint, "Endpoint to listen on (bound, like a host ingest)")->required();
    rec->add_option("--out", ra->out, "Recording file to create")->required();
    rec->add_option("--duration", ra->duration, "Stop after this many seconds")->check(CLI::PositiveNumber);
    rec->add_option("--count", ra->count, "Stop after this many messages");
    rec->add_option("--topic", ra->topics, "Record only topics with this prefix (repeatable; default: all)");
    rec->add_flag("--connect", ra->connect, "Connect to the endpoint (a publisher or proxy that binds) instead of binding");
    add_curve_client_options(*rec, ra->curve);
    rec->callback([ra] {
        const int rc = run_record(*ra);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });

    auto pa = std::make_shared<ReplayArgs>();
    auto* rep = feed->add_subcommand("replay", "Play a recording back into a host with original or scaled timing");
    rep->add_option("file", pa->file, "Recording file (from testbed feed record)")->required();
    rep->add_option("--endpoint", pa->endpoint, "Host ingest endpoint to connect to")->required();
    rep->add_option("--speed", pa->speed, "Time scale: 2 plays twice as fast as recorded")->check(CLI::PositiveNumber)->capture_default_str();
    rep->add_flag("--max", pa->max, "Send as fast as possible, ignoring the recorded timing");
    rep->add_flag("--bind", pa->bind, "Bind the endpoint instead of connecting (for hosts that connect)");
    rep->add_option("--wait", pa->wait_s, "Seconds to wait for a subscriber")->capture_default_str();
    add_curve_client_options(*rep, pa->curve);
    rep->callback([pa] {
        const int rc = run_replay(*pa);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
