// api_load_bench: does the HTTP API slow the feed data path? (issue 8, docs/api.md)
//
// Runs a real Host in this process (the city-centre zone, the groundwater_alert plugin, ingest on
// an ipc socket) with its ApiServer, publishes a burst of SenML readings as fast as ZeroMQ takes
// them, and measures feed throughput: messages routed per second until the whole burst has passed
// the host. Alternates two scenarios several times and reports the medians:
//   idle: the API is up, nobody calls it;
//   load: 20 clients poll GET /api/v1/plugins every 100 ms and two event streams are open.
// Usage: api_load_bench [messages per burst (default 300000)] [rounds (default 3)]
// The last line, "api_load_bench: result idle=... loaded=... polls=... poll_errors=...
// stream_events=... complete=0|1", is read by `tb-bench suite` (bench/api_rows.cpp).
#include "api/api_server.hpp"
#include "api/http_client.hpp"
#include "api/tokens.hpp"
#include "common/clock.hpp"
#include "common/logging.hpp"
#include "common/feed_publisher.hpp"
#include "host/host.hpp"
#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tb;

namespace {

struct Load {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> polls{0}, poll_errors{0}, stream_events{0};
    std::vector<std::thread> threads;

    void start(const std::string& base, const std::string& token) {
        for (int i = 0; i < 20; ++i) {
            threads.emplace_back([this, base, token] {
                while (!stop) {
                    const auto t0 = std::chrono::steady_clock::now();
                    auto r = host::api::http_request("GET", base + "/api/v1/plugins", token);
                    (r && r->status == 200 ? polls : poll_errors).fetch_add(1);
                    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(100));
                }
            });
        }
        for (int i = 0; i < 2; ++i) {
            threads.emplace_back([this, base, token] {
                while (!stop) {
                    (void)host::api::http_event_stream(
                        base + "/api/v1/events/stream", token,
                        [this](const host::api::SseEvent&) {
                            stream_events.fetch_add(1);
                            return !stop.load();
                        },
                        std::chrono::milliseconds(500));
                }
            });
        }
    }
    void finish() {
        stop = true;
        for (auto& t : threads) t.join();
        threads.clear();
        stop = false;
    }
};

// Publishes n readings and waits until the host routed them all; `complete` is cleared when the
// wait ran out first.
double burst(host::Host& h, tools::FeedPublisher& pub, uint64_t n, uint64_t& seq_base, bool& complete) {
    const uint64_t before = h.snapshot().value("routed", uint64_t{0});
    const auto t0 = std::chrono::steady_clock::now();
    char payload[200];
    for (uint64_t i = 0; i < n; ++i) {
        const int sensor = static_cast<int>((seq_base + i) % 40) + 1;
        std::snprintf(payload, sizeof payload,
                      R"([{"bn":"urn:dev:enschede:gw:GW-%04d:","n":"level","u":"m","v":%.3f,"t":%lld}])", sensor,
                      -1.5 + 0.001 * static_cast<double>(i % 500), static_cast<long long>(1'800'000'000 + i));
        char topic[64];
        std::snprintf(topic, sizeof topic, "sensor/groundwater/GW-%04d", sensor);
        pub.send(topic, payload, wire::ContentType::senml_json, host::now_us());
    }
    seq_base += n;
    // Bounded wait for the whole burst (a minute is far beyond any plausible run).
    bool all = false;
    for (int i = 0; i < 60'000 && !all; ++i) {
        all = h.snapshot().value("routed", uint64_t{0}) - before >= n;
        if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    complete = complete && all;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(n) / s;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 300'000;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
    if (n == 0 || rounds < 1) {
        std::fprintf(stderr, "api_load_bench: messages and rounds must be positive numbers "
                             "(usage: api_load_bench [messages per burst] [rounds])\n");
        return 2;
    }
    host::set_log_level("warn");
    char tmpl[] = "/tmp/api_load_bench.XXXXXX";
    const fs::path dir = mkdtemp(tmpl);
    fs::create_directories(dir / "zones");
    fs::copy_file(fs::path(TB_SOURCE_DIR) / "testbeds/city-centre/zones/city-centre.geojson",
                  dir / "zones/city-centre.geojson");
    const std::string ingest = "ipc://" + (dir / "in.sock").string();
    std::ofstream(dir / "testbed.toml") << "[testbed]\nid = \"bench\"\nname = \"bench\"\n"
                                           "zone = \"zones/city-centre.geojson\"\n[host]\ningest = \""
                                        << ingest << "\"\noutput = \"\"\n"
                                        << "[[sensors]]\nkind = \"groundwater\"\ntopic_prefix = \"sensor/groundwater/\"\n"
                                           "id_prefix = \"GW-\"\ncount = 40\nunit = \"m\"\n"
                                           "[[plugins]]\nname = \"groundwater_alert\"\nlibrary = \"groundwater_alert\"\n"
                                           "trusted = true\ninbox_capacity = 1000000\n";
    host::HostOptions opt;
    opt.testbed = dir;
    opt.db = dir / "results.db";
    opt.dev = true;  // the benchmark's [[plugins]] run without a trial
    std::error_code ec;
    opt.plugin_dir = fs::read_symlink("/proc/self/exe", ec).parent_path().parent_path() / "plugins";

    auto created = host::Host::create(opt);
    if (!created) {
        std::fprintf(stderr, "api_load_bench: %s\n", created.error().message.c_str());
        return 1;
    }
    auto& h = *created.value();
    auto last = std::make_shared<host::api::LastValues>();
    h.set_feed_observer([last](const host::FeedMessagePtr& m) { last->update(m); });
    if (auto s = h.start(); !s) {
        std::fprintf(stderr, "api_load_bench: %s\n", s.message().c_str());
        return 1;
    }
    std::string token;
    {
        auto db = host::open_database(opt.db, false);
        token = host::api::create_token(db.value(), "bench", *host::api::Role::parse("staff"), std::nullopt).value();
        sqlite3_close(db.value());
    }
    host::api::ApiOptions ao;
    ao.port = 0;
    ao.db = opt.db;
    auto api = host::api::ApiServer::start(ao, h, host::api::database_trial_actions(opt.db, h.run_id()), last);
    if (!api) {
        std::fprintf(stderr, "api_load_bench: %s\n", api.error().message.c_str());
        return 1;
    }
    const std::string base = "http://127.0.0.1:" + std::to_string(api.value()->port());
    tools::FeedPublisherOptions po;
    po.endpoint = ingest;
    po.sndhwm = 2'000'000;
    auto pub = tools::FeedPublisher::open(po);
    if (!pub || !(*pub)->wait_for_subscriber(std::chrono::seconds(10))) {
        std::fprintf(stderr, "api_load_bench: the host did not subscribe\n");
        return 1;
    }
    uint64_t seq = 0;
    bool complete = true;
    burst(h, **pub, n / 10, seq, complete);  // warm-up
    std::vector<double> idle, loaded;
    Load load;
    for (int r = 0; r < rounds; ++r) {
        idle.push_back(burst(h, **pub, n, seq, complete));
        load.start(base, token);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // clients connected and polling
        loaded.push_back(burst(h, **pub, n, seq, complete));
        load.finish();
        std::printf("round %d: idle %.0f msg/s, with API load %.0f msg/s\n", r + 1, idle.back(), loaded.back());
    }
    const double mi = median(idle), ml = median(loaded);
    std::printf("api_load_bench: %llu messages per burst, %d rounds, %u cores\n", static_cast<unsigned long long>(n),
                rounds, std::thread::hardware_concurrency());
    std::printf("  feed throughput, API idle:                          %10.0f msg/s (median)\n", mi);
    std::printf("  feed throughput, 20 pollers @100 ms + 2 streams:    %10.0f msg/s (median)\n", ml);
    std::printf("  change: %+.1f%%; polls served %llu (errors %llu), stream events %llu\n", (ml - mi) / mi * 100.0,
                static_cast<unsigned long long>(load.polls.load()),
                static_cast<unsigned long long>(load.poll_errors.load()),
                static_cast<unsigned long long>(load.stream_events.load()));
    std::printf("api_load_bench: result idle=%.1f loaded=%.1f polls=%llu poll_errors=%llu stream_events=%llu "
                "complete=%d\n",
                mi, ml, static_cast<unsigned long long>(load.polls.load()),
                static_cast<unsigned long long>(load.poll_errors.load()),
                static_cast<unsigned long long>(load.stream_events.load()), complete ? 1 : 0);
    std::fflush(stdout);
    api.value()->stop();
    h.stop();
    fs::remove_all(dir, ec);
    return 0;
}
