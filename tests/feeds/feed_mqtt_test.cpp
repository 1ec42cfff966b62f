// testbed feed mqtt against a real mosquitto broker: TTN-shaped uplinks published with
// mosquitto_pub arrive on the ZeroMQ side as SenML; bad uplinks are counted per reason; the
// bridge reconnects and resubscribes after the broker restarts.
#include "feed_test_util.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>

namespace tb::test {
namespace {

using namespace std::chrono_literals;

const char* kMapping = R"(# devices -> sensors; decoded_payload fields -> SenML
[types.groundwater]
topic_prefix = "sensor/groundwater/"
[[types.groundwater.fields]]
field = "level_cm"
name = "level"
unit = "m"
scale = 0.01
[[types.groundwater.fields]]
field = "battery_v"
name = "battery"
unit = "V"
required = false

[devices]
"eui-70b3d57ed005a1b2" = { sensor = "GW-0001", type = "groundwater" }
"eui-70b3d57ed005a1b3" = { sensor = "GW-0002", type = "groundwater" }
)";

std::string uplink(const std::string& device, const std::string& decoded) {
    return R"({"end_device_ids":{"device_id":")" + device +
           R"(","application_ids":{"application_id":"enschede-zuid"},"dev_eui":"70B3D57ED005A1B2"},)"
           R"("received_at":"2026-03-01T12:00:00.250Z","uplink_message":{"f_port":1,"f_cnt":42,)"
           R"("frm_payload":"AQI=",)" +
           (decoded.empty() ? std::string() : R"("decoded_payload":)" + decoded + ",") +
           R"("rx_metadata":[{"gateway_ids":{"gateway_id":"gw-utwente"},"rssi":-97,"snr":7.5},)"
           R"({"gateway_ids":{"gateway_id":"gw-zuid"},"rssi":-110,"snr":-2}],)"
           R"("settings":{"data_rate":{"lora":{"bandwidth":125000,"spreading_factor":7}},"frequency":"868100000"}}})";
}

class Broker {
   public:
    Broker(const TempDir& d, int port) : d_(d), port_(port) {
        write_file(d / "mosquitto.conf", "listener " + std::to_string(port) +
                                             " 127.0.0.1\nallow_anonymous true\npersistence false\n");
    }
    void start() {
        proc_ = std::make_unique<Process>("/usr/sbin/mosquitto", std::vector<std::string>{"-c", (d_ / "mosquitto.conf").string()},
                                          d_.path());
        ASSERT_TRUE(wait_until([&] { return tcp_listening(port_); }, 20s)) << proc_->err();
    }
    void stop() { proc_.reset(); }
    void publish(const std::string& topic, const std::string& body) {
        const auto r = run("/usr/bin/mosquitto_pub", {"-h", "127.0.0.1", "-p", std::to_string(port_), "-q", "1", "-t", topic,
                                                      "-m", body},
                           20s);
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

   private:
    const TempDir& d_;
    int port_;
    int starts_ = 0;
    std::unique_ptr<Process> proc_;
};

int count_of(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

TEST(FeedMqtt, UplinksBecomeSenmlBadOnesAreCountedAndTheBridgeSurvivesABrokerRestart) {
    TempDir d;
    const int port = free_port();
    Broker broker(d, port);
    broker.start();
    write_file(d / "map.toml", kMapping);
    const std::string ep = d.ipc("ingest");
    IngestSink sink(ep);
    Process bridge(bin_dir() / "testbed", {"feed", "mqtt", "--broker", "tcp://127.0.0.1:" + std::to_string(port), "--topic",
                                           "v3/+/devices/+/up", "--map", (d / "map.toml").string(), "--endpoint", ep,
                                           "--stats-every", "0"},
                   d.path());
    ASSERT_TRUE(sink.serve_until([&] { return bridge.out().find("subscribed") != std::string::npos; }, 30s))
        << bridge.err();
    EXPECT_EQ(bridge.err().find("no host subscribed"), std::string::npos) << bridge.err();

    broker.publish("v3/enschede-zuid@ttn/devices/eui-70b3d57ed005a1b2/up",
                   uplink("eui-70b3d57ed005a1b2", R"({"level_cm":-123,"battery_v":3.6})"));
    auto m = sink.recv(20s);
    ASSERT_TRUE(m) << bridge.err();
    ASSERT_EQ(m->size(), 3u);
    EXPECT_EQ((*m)[0], "sensor/groundwater/GW-0001");
    ASSERT_EQ((*m)[1].size(), 24u);
    EXPECT_EQ((*m)[1][3], 1);  // SenML JSON
    const auto pack = nlohmann::json::parse((*m)[2]);
    ASSERT_EQ(pack.size(), 3u) << (*m)[2];
    EXPECT_EQ(pack[0]["n"], "level");
    EXPECT_EQ(pack[0]["u"], "m");
    EXPECT_DOUBLE_EQ(pack[0]["v"].get<double>(), -1.23);
    EXPECT_DOUBLE_EQ(pack[0]["bt"].get<double>(), 1772366400.25);  // received_at
    EXPECT_EQ(pack[1]["n"], "battery");
    EXPECT_DOUBLE_EQ(pack[1]["v"].get<double>(), 3.6);
    EXPECT_EQ(pack[2]["n"], "rssi");
    EXPECT_DOUBLE_EQ(pack[2]["v"].get<double>(), -127.0);  // best gateway, -97 dBm = -127 dBW

    // Every kind of bad uplink, then a good one as a marker: only the marker may arrive.
    const std::string t = "v3/enschede-zuid@ttn/devices/x/up";
    broker.publish(t, "this is not json {");
    broker.publish(t, uplink("eui-70b3d57ed005a1b2", ""));                                 // no decoded_payload
    broker.publish(t, uplink("eui-ffffffffffffffff", R"({"level_cm":-10})"));              // unknown device
    broker.publish(t, uplink("eui-70b3d57ed005a1b2", R"({"temperature":12})"));            // missing field
    broker.publish(t, uplink("eui-70b3d57ed005a1b2", R"({"level_cm":"low"})"));            // wrong type
    broker.publish(t, R"({"end_device_ids":{"device_id":"eui-70b3d57ed005a1b2"}})");       // not an uplink
    broker.publish(t, uplink("eui-70b3d57ed005a1b3", R"({"level_cm":-80})"));
    m = sink.recv(20s);
    ASSERT_TRUE(m) << bridge.err();
    EXPECT_EQ((*m)[0], "sensor/groundwater/GW-0002");
    EXPECT_DOUBLE_EQ(nlohmann::json::parse((*m)[2])[0]["v"].get<double>(), -0.8);
    EXPECT_FALSE(sink.recv(300ms));

    // The broker restarts: the bridge reconnects, resubscribes and carries on.
    broker.stop();
    ASSERT_TRUE(bridge.wait_for_output("lost the broker connection", 30s)) << bridge.err();
    broker.start();
    ASSERT_TRUE(wait_until([&] { return count_of(bridge.out(), "subscribed to") >= 2; }, 30s)) << bridge.out() << bridge.err();
    EXPECT_NE(bridge.out().find("(reconnected)"), std::string::npos);
    broker.publish("v3/enschede-zuid@ttn/devices/eui-70b3d57ed005a1b2/up",
                   uplink("eui-70b3d57ed005a1b2", R"({"level_cm":-50})"));
    m = sink.recv(20s);
    ASSERT_TRUE(m) << bridge.err();
    EXPECT_EQ((*m)[0], "sensor/groundwater/GW-0001");

    EXPECT_EQ(bridge.stop(), 0);
    const std::string out = bridge.out();
    EXPECT_NE(out.find("9 uplink(s) received, 3 republished, 6 rejected"), std::string::npos) << out;
    for (const char* reason : {"not_json=1", "no_decoded_payload=1", "unknown_device=1", "missing_field=1", "wrong_type=1",
                               "not_uplink=1"}) {
        EXPECT_NE(out.find(reason), std::string::npos) << reason << " in " << out;
    }
    EXPECT_NE(bridge.err().find("is not in the mapping file"), std::string::npos) << bridge.err();
}

TEST(FeedMqtt, BadMappingFileAndBrokerUrlAreUsageErrors) {
    TempDir d;
    write_file(d / "bad.toml", "[types.gw]\ntopic_prefix = \"sensor/gw\"\n");
    auto r = run(bin_dir() / "testbed", {"feed", "mqtt", "--map", (d / "bad.toml").string(), "--endpoint", d.ipc("x")}, 30s);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("bad.toml:1"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("topic_prefix"), std::string::npos) << r.err;
    write_file(d / "map.toml", kMapping);
    r = run(bin_dir() / "testbed", {"feed", "mqtt", "--broker", "http://x:y", "--map", (d / "map.toml").string(), "--endpoint",
                                    d.ipc("x")},
            30s);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("http://x:y"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tb::test
