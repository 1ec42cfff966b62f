// bench/raw.cpp: the raw limits every workload is compared with, measured in the same run.
//
//   raw_zmq_throughput: the Sender (same generator, frames and socket options as the workloads)
//     into a bare SUB that binds, as the host's receiver does, and only counts messages;
//   raw_zmq_latency: the same at a fixed rate, one-way latency computed exactly like the bench
//     plugin computes it (receiver wall clock minus the header's source time, in µs);
//   raw_sqlite_inserts: the rows our store writes (metrics table and index from the real
//     migrations, WAL, synchronous=NORMAL, foreign keys on) in transactions of 10,000.
// Thread safety: each function owns its sockets and threads and joins them before returning.
#include "raw.hpp"

#include "store/sqlite_store.hpp"
#include "wire/wire.hpp"

#include <sqlite3.h>
#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

namespace tb::bench {
namespace {

struct Receiver {
    zmq::context_t ctx{1};
    zmq::socket_t sock{ctx, zmq::socket_type::sub};
    explicit Receiver(const std::string& endpoint) {
        sock.set(zmq::sockopt::rcvhwm, 1'000'000);
        sock.set(zmq::sockopt::linger, 0);
        sock.set(zmq::sockopt::subscribe, "");
        sock.set(zmq::sockopt::rcvtimeo, 200);
        sock.bind(endpoint);
    }
    // Receive one three-frame message; false on timeout. Header decoded into `h`.
    bool recv(wire::Header& h) {
        zmq::message_t topic, hdr, payload;
        if (!sock.recv(topic, zmq::recv_flags::none)) return false;
        (void)sock.recv(hdr, zmq::recv_flags::none);
        (void)sock.recv(payload, zmq::recv_flags::none);
        wire::DropReason why{};
        return wire::decode_header(hdr.to_string_view(), h, why);
    }
};

}  // namespace

RawThroughput raw_zmq_throughput(const std::string& endpoint, uint64_t n,
                                 std::chrono::seconds limit) {
    Receiver rx(endpoint);
    std::atomic<int64_t> first_send_us{0};
    std::atomic<bool> give_up{false};
    std::thread tx([&] {
        Sender s(endpoint);
        if (!s.wait_for_subscriber(std::chrono::seconds(10))) return;
        ReadingGenerator g;
        Reading r;
        first_send_us = wall_us();
        for (uint64_t i = 0; i < n && !give_up.load(std::memory_order_relaxed); ++i) {
            g.next(r);
            s.send(r, r.t_us);
        }
        // Keep the socket open until everything is received (or the receiver gives up).
        while (!give_up.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    RawThroughput out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    wire::Header h;
    while (out.received < n && std::chrono::steady_clock::now() < deadline) {
        if (rx.recv(h)) ++out.received;
    }
    const int64_t last = wall_us();
    give_up = true;
    tx.join();
    const double secs = static_cast<double>(last - first_send_us.load()) / 1e6;
    out.msgs_per_s = out.received > 0 && secs > 0 ? static_cast<double>(out.received) / secs : 0;
    return out;
}

RawLatency raw_zmq_latency(const std::string& endpoint, double rate,
                           std::chrono::milliseconds duration) {
    Receiver rx(endpoint);
    const auto n = static_cast<uint64_t>(rate * static_cast<double>(duration.count()) / 1000.0);
    std::atomic<bool> give_up{false};
    std::thread tx([&] {
        Sender s(endpoint);
        if (!s.wait_for_subscriber(std::chrono::seconds(10))) return;
        pace(s, rate, n, give_up);
        while (!give_up.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    std::vector<int64_t> lat;
    lat.reserve(n);
    const auto deadline = std::chrono::steady_clock::now() + duration + std::chrono::seconds(15);
    wire::Header h;
    while (lat.size() < n && std::chrono::steady_clock::now() < deadline) {
        if (rx.recv(h)) lat.push_back(wall_us() - h.source_time_us);
    }
    give_up = true;
    tx.join();
    RawLatency out;
    out.received = lat.size();
    if (!lat.empty()) {
        std::sort(lat.begin(), lat.end());
        auto pct = [&](double p) {
            return static_cast<double>(
                lat[static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1))]);
        };
        out.p50_us = pct(0.50);
        out.p99_us = pct(0.99);
        out.p999_us = pct(0.999);
    }
    return out;
}

uint64_t pace(Sender& s, double rate, uint64_t n, const std::atomic<bool>& give_up) {
    ReadingGenerator g;
    Reading r;
    const auto t0 = std::chrono::steady_clock::now();
    const double period_ns = 1e9 / rate;
    uint64_t i = 0;
    for (; i < n && !give_up.load(std::memory_order_relaxed); ++i) {
        g.next(r);
        std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<int64_t>(
                                               period_ns * static_cast<double>(i))));
        s.send(r, wall_us());
    }
    return i;
}

RawInserts raw_sqlite_inserts(const fs::path& file, uint64_t rows, uint64_t batch) {
    RawInserts out;
    auto opened = host::open_database(file, true);  // WAL, foreign keys, the real migrations
    if (!opened) {
        out.error = opened.error().message;
        return out;
    }
    sqlite3* db = *opened;
    const char* setup =
        "PRAGMA synchronous=NORMAL;"
        "INSERT INTO runs(id, testbed, host_version, started_us) VALUES (1, 'bench', 'raw', 0);"
        "INSERT INTO plugins(id, run_id, instance, plugin_id, version, organisation, file, sha256, "
        "mode, manifest_json)"
        " VALUES (1, 1, 'raw', 'raw', '0', 'bench', '-', '-', 'raw', '{}');"
        "INSERT INTO series(id, plugin_row, name, unit, better) VALUES (1, 1, 'level', 'm', "
        "'neither');";
    if (sqlite3_exec(db, setup, nullptr, nullptr, nullptr) != SQLITE_OK) {
        out.error = sqlite3_errmsg(db);
        sqlite3_close(db);
        return out;
    }
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO metrics(series_id, subject, value, t_us) VALUES (?,?,?,?)",
                       -1, &st, nullptr);
    // Same values the W1 plugin records: the reading's level, its sensor and time.
    ReadingGenerator g;
    Reading r;
    const int64_t t0 = mono_ns();
    uint64_t done = 0;
    bool ok = true;
    while (ok && done < rows) {
        const uint64_t end = std::min(rows, done + batch);
        ok = sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK;
        for (; ok && done < end; ++done) {
            g.next(r);
            const auto slash = r.topic.rfind('/');
            const std::string subject = r.topic.substr(slash + 1);
            sqlite3_bind_int64(st, 1, 1);
            sqlite3_bind_text(st, 2, subject.data(), static_cast<int>(subject.size()),
                              SQLITE_TRANSIENT);
            sqlite3_bind_double(st, 3, static_cast<double>(r.level_mm) / 1000.0);
            sqlite3_bind_int64(st, 4, r.t_us);
            ok = sqlite3_step(st) == SQLITE_DONE;
            sqlite3_reset(st);
        }
        if (ok) ok = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
    }
    const int64_t t1 = mono_ns();
    if (!ok) out.error = sqlite3_errmsg(db);
    sqlite3_finalize(st);
    sqlite3_close(db);
    out.rows = done;
    out.rows_per_s = static_cast<double>(done) / (static_cast<double>(t1 - t0) / 1e9);
    return out;
}

}  // namespace tb::bench
