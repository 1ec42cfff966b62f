// tb_test_counter: a well-behaved plugin for isolation tests. It records one "seen" sample per
// message (value = the message's sequence number), so a test can count in the database that it
// received every message while a hostile plugin next to it misbehaves.
#include <testbed/plugin.hpp>

namespace {

class Counter final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest("tb_test_counter", "1.0.0")
            .organisation("Testbed tests")
            .contact("tests@testbed.example")
            .description("Counts messages (isolation tests).")
            .reads("sensor/")
            .metric("seen", "1", tb::Better::neither, "Sequence number of each message received");
    }
    explicit Counter(tb::Host& host) : tb::Plugin(host) {}
    void on_message(const tb::Message& msg) override {
        const auto s = host().record_metric("seen", static_cast<double>(msg.sequence), std::string(msg.subject()));
        if (!s) throw tb::Error(s.code(), s.message());
    }
};

}  // namespace

TB_PLUGIN(Counter)
