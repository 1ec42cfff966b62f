// gov_probe: a test plugin for governance tests (built twice, as gov_probe_a and gov_probe_b,
// so that two trials of different plugins can run at once).
//
// Input:  any message under sensor/ (the manifest declares all of sensor/; the trial narrows it).
// Output: metric "seen" per message (value = wire sequence number, time = when the plugin got
//         it, subject = the topic's last segment, i.e. the id or pseudonym it was shown);
//         with echo_payload = true an INFO event "payload" whose message is the payload;
//         with publish_ok / publish_other set, a publication on <prefix><subject> per message
//         (the tests give one inside and one outside the trial's publish grant).
// Bad input: none; every payload is accepted as opaque bytes.
#include <testbed/plugin.hpp>

#include <string>

#ifndef GOV_PROBE_ID
#define GOV_PROBE_ID "gov_probe_a"
#endif

namespace {

class GovProbe final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest(GOV_PROBE_ID, "1.0.0")
            .organisation("Testbed test suite")
            .contact("tests@testbed.enschede.example")
            .description("Records every delivery, for governance tests.")
            .reads("sensor/")
            .publishes("alert/")
            .metric("seen", "count", tb::Better::neither, "Sequence number of each delivered message")
            .config("echo_payload", tb::ConfigType::boolean, "false", "Record each payload as an event")
            .config("publish_ok", tb::ConfigType::string, "", "Publish each message under this prefix")
            .config("publish_other", tb::ConfigType::string, "", "Also publish each message under this prefix");
    }

    explicit GovProbe(tb::Host& host)
        : tb::Plugin(host),
          echo_(host.config_bool("echo_payload", false)),
          pub_ok_(host.config_string("publish_ok")),
          pub_other_(host.config_string("publish_other")) {}

    void on_message(const tb::Message& msg) override {
        const std::string subject(msg.subject());
        host().record_metric("seen", static_cast<double>(msg.sequence), subject, 0);
        if (echo_) host().record_event(tb::Severity::info, "payload", std::string(msg.payload), subject);
        if (!pub_ok_.empty()) (void)host().publish(pub_ok_ + subject, "{}");
        if (!pub_other_.empty()) (void)host().publish(pub_other_ + subject, "{}");
    }

   private:
    bool echo_;
    std::string pub_ok_, pub_other_;
};

}  // namespace

TB_PLUGIN(GovProbe)
