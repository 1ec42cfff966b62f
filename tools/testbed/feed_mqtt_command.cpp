// testbed feed mqtt: bridge The Things Stack v3 (LoRaWAN) uplinks from an MQTT broker into our
// wire format. libmosquitto does MQTT; tools/common/ttn.* turns each uplink into SenML using the
// mapping file. Everything runs on one thread: mosquitto_loop() calls our callbacks, which publish.
// A lost broker connection is retried every second (the broker restarting is normal operation);
// on reconnect the subscription is made again. Rejected uplinks are counted per reason and the
// counts are printed periodically and on exit.
#include "commands.hpp"
#include "common/clock.hpp"
#include "common/feed_publisher.hpp"
#include "common/ttn.hpp"
#include "feed_bridges.hpp"
#include "feed_curve.hpp"

#include <CLI/CLI.hpp>
#include <mosquitto.h>
#include <nlohmann/json.hpp>

#include <array>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

namespace tb::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct MqttArgs {
    std::string broker = "tcp://127.0.0.1:1883";
    std::vector<std::string> topics{"v3/+/devices/+/up"};
    std::string map;
    std::string endpoint;
    std::string username;
    std::string password_env;
    std::string client_id;
    double stats_every_s = 10;
    double wait_s = 10;
    CurveClientArgs curve;
};

struct Bridge {
    const MqttArgs* args = nullptr;
    tools::TtnMapping mapping;
    tools::FeedPublisher* pub = nullptr;
    uint64_t received = 0, published = 0, send_failed = 0, connects = 0;
    std::array<uint64_t, tools::kTtnRejectCount> rejected{};

    std::string stats() const {
        std::string s = std::to_string(received) + " uplink(s) received, " + std::to_string(published) + " republished";
        uint64_t total = 0;
        std::string by;
        for (int i = 1; i < tools::kTtnRejectCount; ++i) {
            if (rejected[i] == 0) continue;
            total += rejected[i];
            by += (by.empty() ? "" : ", ") + std::string(tools::to_string(static_cast<tools::TtnReject>(i))) + "=" +
                  std::to_string(rejected[i]);
        }
        s += ", " + std::to_string(total) + " rejected";
        if (!by.empty()) s += " (" + by + ")";
        if (send_failed) s += ", " + std::to_string(send_failed) + " send failure(s)";
        return s;
    }
};

void on_connect(mosquitto* m, void* self, int rc) {
    auto& b = *static_cast<Bridge*>(self);
    if (rc != 0) {
        std::cerr << "testbed feed mqtt: broker refused the connection: " << mosquitto_connack_string(rc) << std::endl;
        return;
    }
    ++b.connects;
    std::cout << "testbed feed mqtt: connected to " << b.args->broker << (b.connects > 1 ? " (reconnected)" : "") << std::endl;
    for (const auto& t : b.args->topics) {
        const int s = mosquitto_subscribe(m, nullptr, t.c_str(), 1);
        if (s != MOSQ_ERR_SUCCESS) {
            std::cerr << "testbed feed mqtt: cannot subscribe to '" << t << "': " << mosquitto_strerror(s) << std::endl;
        }
    }
}

void on_subscribe(mosquitto*, void* self, int, int qos_count, const int* granted) {
    auto& b = *static_cast<Bridge*>(self);
    for (int i = 0; i < qos_count; ++i) {
        if (granted[i] > 2) std::cerr << "testbed feed mqtt: the broker refused a subscription" << std::endl;
    }
    std::cout << "testbed feed mqtt: subscribed to " << nlohmann::json(b.args->topics).dump() << std::endl;
}

void on_disconnect(mosquitto*, void*, int rc) {
    if (rc != 0 && !g_stop) std::cerr << "testbed feed mqtt: lost the broker connection; retrying every second" << std::endl;
}

void on_message(mosquitto*, void* self, const mosquitto_message* msg) {
    auto& b = *static_cast<Bridge*>(self);
    ++b.received;
    const std::string_view body(static_cast<const char*>(msg->payload), static_cast<std::size_t>(msg->payloadlen));
    const auto r = tools::parse_ttn_uplink(body, b.mapping, host::now_us());
    if (!r.ok) {
        const uint64_t n = ++b.rejected[static_cast<int>(r.reason)];
        if (n <= 5 || n % 1000 == 0) {
            std::cerr << "testbed feed mqtt: rejected uplink on '" << msg->topic << "' (" << tools::to_string(r.reason)
                      << ", #" << n << "): " << r.detail << std::endl;
        }
        return;
    }
    if (b.pub->send(r.message.topic, r.message.payload, wire::ContentType::senml_json, r.message.time_us)) ++b.published;
    else ++b.send_failed;
}

bool parse_broker(const std::string& url, std::string& host_out, int& port) {
    std::string rest = url;
    for (const char* scheme : {"tcp://", "mqtt://"}) {
        if (rest.rfind(scheme, 0) == 0) rest = rest.substr(std::string(scheme).size());
    }
    if (rest.find("://") != std::string::npos) return false;
    const auto colon = rest.rfind(':');
    port = 1883;
    if (colon != std::string::npos) {
        try {
            std::size_t used = 0;
            port = std::stoi(rest.substr(colon + 1), &used);
            if (used != rest.size() - colon - 1) return false;
        } catch (const std::exception&) {
            return false;
        }
        rest = rest.substr(0, colon);
    }
    host_out = rest;
    return !host_out.empty() && port > 0 && port < 65536;
}

int run_mqtt(const MqttArgs& a) {
    std::string broker_host;
    int broker_port = 0;
    if (!parse_broker(a.broker, broker_host, broker_port)) {
        std::cerr << "testbed feed mqtt: --broker '" << a.broker << "' is not tcp://HOST:PORT\n";
        return kExitUsage;
    }
    Bridge b;
    b.args = &a;
    auto mapping = tools::load_ttn_mapping(a.map);
    if (!mapping) {
        std::cerr << "testbed feed mqtt: " << mapping.error().message << "\n";
        return kExitUsage;
    }
    b.mapping = std::move(mapping.value());
    tools::FeedPublisherOptions po;
    po.endpoint = a.endpoint;
    po.bind = false;
    po.curve_server_key = a.curve.server_key;
    po.curve_client_key_file = a.curve.key_file;
    auto pub = tools::FeedPublisher::open(po);
    if (!pub) {
        std::cerr << "testbed feed mqtt: " << pub.error().message << "\n";
        return kExitUsage;
    }
    b.pub = pub->get();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    if (!b.pub->wait_for_subscriber(std::chrono::milliseconds(static_cast<int64_t>(a.wait_s * 1000)))) {
        std::cerr << "testbed feed mqtt: no host subscribed at " << a.endpoint << " within " << a.wait_s
                  << " s; continuing (messages are dropped until one does)" << std::endl;
    }

    mosquitto_lib_init();
    mosquitto* m = mosquitto_new(a.client_id.empty() ? nullptr : a.client_id.c_str(), true, &b);
    if (m == nullptr) {
        std::cerr << "testbed feed mqtt: cannot create an MQTT client (out of memory?)\n";
        mosquitto_lib_cleanup();
        return kExitFailure;
    }
    if (!a.username.empty()) {
        const char* pw = a.password_env.empty() ? nullptr : std::getenv(a.password_env.c_str());
        if (!a.password_env.empty() && pw == nullptr) {
            std::cerr << "testbed feed mqtt: --password-env " << a.password_env << " is not set in the environment\n";
            mosquitto_destroy(m);
            mosquitto_lib_cleanup();
            return kExitUsage;
        }
        mosquitto_username_pw_set(m, a.username.c_str(), pw);
    }
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_disconnect_callback_set(m, on_disconnect);
    mosquitto_message_callback_set(m, on_message);

    std::cout << "testbed feed mqtt: bridging " << a.broker << " " << nlohmann::json(a.topics).dump() << " -> " << a.endpoint
              << " (" << b.mapping.devices.size() << " device(s) mapped)" << std::endl;
    bool connected = mosquitto_connect(m, broker_host.c_str(), broker_port, 30) == MOSQ_ERR_SUCCESS;
    if (!connected) std::cerr << "testbed feed mqtt: broker " << a.broker << " not reachable; retrying every second" << std::endl;
    auto next_stats = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.stats_every_s);
    while (!g_stop) {
        if (connected) {
            const int rc = mosquitto_loop(m, 100, 1);
            if (rc != MOSQ_ERR_SUCCESS) connected = false;
        }
        if (!connected && !g_stop) {
            std::this_thread::sleep_for(std::chrono::seconds(1));
            // mosquitto_reconnect after a failed first connect also works: it reuses the host and port.
            connected = mosquitto_reconnect(m) == MOSQ_ERR_SUCCESS;
        }
        if (a.stats_every_s > 0 && std::chrono::steady_clock::now() >= next_stats) {
            std::cout << "testbed feed mqtt: " << b.stats() << std::endl;
            next_stats = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.stats_every_s);
        }
    }
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    b.pub->close();
    std::cout << "testbed feed mqtt: " << b.stats() << std::endl;
    return kExitOk;
}

}  // namespace

void register_feed_mqtt_command(CLI::App& feed) {
    auto a = std::make_shared<MqttArgs>();
    auto* c = feed.add_subcommand("mqtt", "Bridge The Things Stack v3 uplinks (MQTT) into the testbed's wire format");
    c->add_option("--broker", a->broker, "MQTT broker, tcp://HOST:PORT")->capture_default_str();
    c->add_option("--topic", a->topics, "MQTT topic filter (repeatable)")->capture_default_str();
    c->add_option("--map", a->map, "Mapping file: devices to sensors, fields to SenML (docs/feeds.md)")->required();
    c->add_option("--endpoint", a->endpoint, "Host ingest endpoint to publish to")->required();
    c->add_option("--username", a->username, "MQTT user name (TTS: the application id, e.g. app@ttn)");
    c->add_option("--password-env", a->password_env, "Environment variable holding the MQTT password (TTS API key)");
    c->add_option("--client-id", a->client_id, "MQTT client id (default: random)");
    c->add_option("--stats-every", a->stats_every_s, "Print counters every this many seconds (0: only at exit)")
        ->capture_default_str();
    c->add_option("--wait", a->wait_s, "Seconds to wait for a host to subscribe before bridging")->capture_default_str();
    add_curve_client_options(*c, a->curve);
    c->callback([a] {
        const int rc = run_mqtt(*a);
        if (rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
