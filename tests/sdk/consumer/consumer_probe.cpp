// consumer_probe: the smallest useful plugin, built out of tree against the installed SDK.
// Input: SenML packs on sensor/test/<subject>. Output: metric "value" per numeric record.
// Bad input: a payload that is not SenML is rejected as TB_E_BAD_DATA.
// Thread safety: the host serialises callbacks per instance.
#include <testbed/plugin.hpp>
#include <testbed/senml.hpp>

#include <string>

namespace {

class ConsumerProbe final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest("consumer_probe", "1.0.0")
            .organisation("Out-of-tree consumer")
            .contact("consumer@testbed.enschede.example")
            .reads("sensor/test/")
            .metric("value", "1", tb::Better::neither, "Each numeric SenML value received");
    }
    explicit ConsumerProbe(tb::Host& host) : tb::Plugin(host) {}
    void on_message(const tb::Message& msg) override {
        for (const auto& r : tb::senml::parse(msg.payload)) {
            if (r.value) host().record_metric("value", *r.value, std::string(msg.subject()));
        }
    }
};

}  // namespace

TB_PLUGIN(ConsumerProbe)
