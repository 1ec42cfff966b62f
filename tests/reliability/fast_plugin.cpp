// reliability_fast: a test plugin that only records one row per message; in the overload test it
// shares the host with reliability_slow and must not lose messages because of it.
#include <testbed/plugin.hpp>

namespace {

class FastPlugin final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest("reliability_fast", "1.0.0")
            .organisation("Testbed tests")
            .contact("tests@testbed.enschede.example")
            .description("Cheap consumer for the overload test.")
            .reads("sensor/groundwater/")
            .metric("seen", "1", tb::Better::neither, "One row per message (the test counts them)");
    }
    explicit FastPlugin(tb::Host& host) : tb::Plugin(host) {}
    void on_message(const tb::Message& msg) override { host().record_metric("seen", 1.0, "", msg.source_time_us); }
};

}  // namespace

TB_PLUGIN(FastPlugin)
