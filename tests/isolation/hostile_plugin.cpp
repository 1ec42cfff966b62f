// tb_test_hostile: a plugin that misbehaves on purpose, for the isolation tests. Config key
// `behaviour` picks how, `after` at which message (counted per runner process, so a restarted
// runner misbehaves again after the same number of messages):
//   none     behave (record "seen" per message)
//   quiet    do nothing at all (for benchmarks: pure delivery cost)
//   segv     dereference a null pointer
//   abort    call abort()
//   throw    throw from on_message (the C++ layer turns it into TB_E_INTERNAL: no incident)
//   loop     loop forever inside on_message
//   alloc    allocate and touch 16 MiB per message from then on, never freeing it
//   flood    publish 500 messages and record 500 samples per message (budgets throttle it)
//   exit     call exit(3)
// Before misbehaving it logs "misbehaving: <behaviour> at message <n>", which the host keeps in
// the incident's log tail.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <testbed/plugin.hpp>
#include <thread>
#include <vector>

namespace {

// A real null dereference. Sanitizer builds check null stores (UBSan) and would end the runner
// with their own report (exit status 1) before the CPU faults; the isolation tests need the
// fault (SIGSEGV), as a plugin in a normal build would produce it.
#if defined(__GNUC__)
__attribute__((no_sanitize_undefined))
#endif
void write_through_null() {
    volatile int* p = nullptr;
    *p = 42;
}

class Hostile final : public tb::Plugin {
 public:
    static tb::Manifest manifest() {
        return tb::Manifest("tb_test_hostile", "1.0.0")
            .organisation("Testbed tests")
            .contact("tests@testbed.example")
            .description("Crashes, hangs, leaks or floods on purpose (isolation tests).")
            .reads("sensor/")
            .publishes("test/flood/")
            .metric("seen", "1", tb::Better::neither, "Sequence number of each message received")
            .config("behaviour", tb::ConfigType::string, "none",
                    "none, segv, abort, throw, loop, alloc, flood, exit, slow")
            .config("after", tb::ConfigType::integer, "1",
                    "Misbehave from this message on (1 = the first)")
            .config("sleep_ms", tb::ConfigType::integer, "0", "slow: how long each callback takes");
    }
    explicit Hostile(tb::Host& host)
        : tb::Plugin(host),
          behaviour_(host.config_string("behaviour", "none")),
          after_(host.config_int("after", 1)),
          sleep_ms_(host.config_int("sleep_ms", 0)) {}

    void on_message(const tb::Message& msg) override {
        ++count_;
        if (behaviour_ == "quiet") return;
        if (behaviour_ == "none" || count_ < after_) {
            (void)host().record_metric("seen", static_cast<double>(msg.sequence));
            return;
        }
        if (count_ == after_ || behaviour_ == "throw" || behaviour_ == "flood") {
            if (count_ == after_)
                host().warn("misbehaving: " + behaviour_ + " at message " + std::to_string(count_));
        }
        if (behaviour_ == "segv") {
            write_through_null();
        } else if (behaviour_ == "abort") {
            std::abort();
        } else if (behaviour_ == "throw") {
            throw std::runtime_error("hostile plugin throws on message " + std::to_string(count_));
        } else if (behaviour_ == "loop") {
            for (volatile uint64_t i = 0;; i = i + 1) {
            }
        } else if (behaviour_ == "alloc") {
            auto* block = new char[16u << 20];
            std::memset(block, 0x5a, 16u << 20);
            hoard_.push_back(block);
        } else if (behaviour_ == "flood") {
            for (int i = 0; i < 500; ++i) {
                (void)host().publish("test/flood/" + std::to_string(i % 10),
                                     "{\"i\":" + std::to_string(i) + "}");
                (void)host().record_metric("seen", static_cast<double>(i));
            }
        } else if (behaviour_ == "exit") {
            std::exit(3);
        } else if (behaviour_ == "slow") {
            std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
            (void)host().record_metric("seen", static_cast<double>(msg.sequence));
        } else {
            throw tb::Error(TB_E_INVALID_ARG, "unknown behaviour '" + behaviour_ + "'");
        }
    }

 private:
    std::string behaviour_;
    int64_t after_;
    int64_t sleep_ms_;
    int64_t count_ = 0;
    std::vector<char*> hoard_;
};

}  // namespace

TB_PLUGIN(Hostile)
