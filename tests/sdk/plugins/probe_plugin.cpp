// probe_plugin.cpp: a small plugin built several ways to prove the ABI holds
// (tests/sdk/abi_compat_test.cpp):
//   abi10_probe  gcc, against the frozen ABI 1.0 headers in tests/sdk/frozen/abi-1.0/
//   abi11_probe  gcc, against the current SDK headers (uses the ABI 1.1 monotonic_ns)
//   clang_probe  clang++, against the current SDK headers, while the host is built with g++
// PROBE_ID (a string literal) is set by the build.
//
// Input:  SenML packs on sensor/test/<subject>.
// Output: metric "value" per numeric record (subject = last topic segment); metric "abi_minor"
//         with the host's ABI minor as the plugin saw it; with ABI >= 1.1 headers, metric
//         "elapsed_ns" measured with tb::Host::monotonic_ns(); a JSON echo on
//         probe/<id>/<subject>.
// Bad input: a payload that is not SenML is rejected as TB_E_BAD_DATA. Built with ABI >= 1.1
//         headers and run by a 1.0 host, every message fails with TB_E_UNSUPPORTED
//         "monotonic_ns needs host ABI >= 1.1 (host has 1.0)" instead of crashing.
// Thread safety: the host serialises callbacks per instance; no shared state.
#include <testbed/plugin.hpp>
#include <testbed/senml.hpp>

#include <string>

#ifndef PROBE_ID
#error "PROBE_ID must be defined by the build"
#endif

namespace {

class Probe final : public tb::Plugin {
   public:
    static tb::Manifest manifest() {
        return tb::Manifest(PROBE_ID, "1.0.0")
            .organisation("Testbed test suite")
            .contact("tests@testbed.enschede.example")
            .description("ABI compatibility probe")
            .reads("sensor/test/")
            .publishes("probe/")
            .metric("value", "1", tb::Better::neither, "Each numeric SenML value received")
            .metric("abi_minor", "1", tb::Better::neither, "The host ABI minor the plugin saw")
#if TB_ABI_MINOR >= 1
            .metric("elapsed_ns", "ns", tb::Better::lower, "Time spent in on_message")
#endif
            ;
    }

    explicit Probe(tb::Host& host) : tb::Plugin(host) {}

    void on_message(const tb::Message& msg) override {
#if TB_ABI_MINOR >= 1
        const int64_t t0 = host().monotonic_ns();  // throws TB_E_UNSUPPORTED in a 1.0 host
#endif
        const std::string subject(msg.subject());
        const auto pack = tb::senml::parse(msg.payload);
        for (const auto& r : pack) {
            if (r.value) host().record_metric("value", *r.value, subject);
        }
        host().record_metric("abi_minor", static_cast<double>(host().abi_minor()));
        host().publish(std::string("probe/") + PROBE_ID + "/" + subject,
                       "{\"records\":" + std::to_string(pack.size()) + "}");
#if TB_ABI_MINOR >= 1
        const int64_t t1 = host().monotonic_ns();
        if (t1 < t0) throw tb::Error(TB_E_INTERNAL, "monotonic_ns went backwards");
        host().record_metric("elapsed_ns", static_cast<double>(t1 - t0));
#endif
    }
};

}  // namespace

TB_PLUGIN(Probe)
