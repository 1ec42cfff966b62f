// reliability_slow: a test plugin that takes `delay_us` per message (default 2000), standing in
// for a plugin that cannot keep up with the city. Records one metric per message it handled.
#include <testbed/plugin.hpp>

#include <chrono>
#include <thread>

namespace {

class SlowPlugin final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest("reliability_slow", "1.0.0")
            .organisation("Testbed tests")
            .contact("tests@testbed.enschede.example")
            .description("Deliberately slow consumer for the overload test.")
            .reads("sensor/groundwater/")
            .metric("handled", "1", tb::Better::neither, "Messages handled")
            .config("delay_us", tb::ConfigType::integer, "2000", "Time spent on each message");
    }
    explicit SlowPlugin(tb::Host& host) : tb::Plugin(host), delay_us_(host.config_int("delay_us", 2000)) {}
    void on_message(const tb::Message& msg) override {
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
        host().record_metric("handled", 1.0, std::string(msg.subject()), msg.source_time_us);
    }

   private:
    int64_t delay_us_;
};

}  // namespace

TB_PLUGIN(SlowPlugin)
