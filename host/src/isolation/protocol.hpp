// isolation/protocol.hpp: the control protocol between the host and one testbed-runner process
// (normative description: docs/isolation.md, section "Runner protocol").
//
// One ZeroMQ PAIR socket pair over ipc per runner generation: the host binds, the runner
// connects. Every message is multipart; frame 0 is a short ASCII verb, the other frames are
// either raw bytes (topics, payloads, text) or fixed-size little-endian integers/doubles. A
// message whose verb is unknown or whose frames do not have the expected count and sizes is
// malformed; the host treats a runner that sends one as a faulty plugin (incident, restart).
//
// Thread safety: stateless helpers; a Frames value is not shared.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace zmq {
class socket_t;
}

namespace tb::host::isolation {

// Verbs, host -> runner.
inline constexpr std::string_view kInit = "init";  // config_json, record_budget_per_s f64
// One to kMaxBatch messages, each as kMsgFrames frames: seq u64, topic, header[24], payload,
// receive_time_us i64. Batching is what makes isolation cheap: one ZeroMQ message (and one wake-up
// of the runner) carries as many feed messages as were waiting.
inline constexpr std::string_view kMsg = "msg";
inline constexpr std::string_view kTick = "tick";  // seq u64, now_us i64
inline constexpr std::string_view kRet = "ret";    // call_id u64, status i32, why, value
inline constexpr std::string_view kStop = "stop";  // (none)
// Verbs, runner -> host.
inline constexpr std::string_view kHello = "hello";        // pid i32, protocol version u32
inline constexpr std::string_view kReady = "ready";        // (none)
inline constexpr std::string_view kInitFailed = "init_failed";  // message
inline constexpr std::string_view kDone = "done";          // seq u64, status i32, error_text, callback_ns i64
inline constexpr std::string_view kLog = "log";            // level i32, text (no reply)
inline constexpr std::string_view kCall = "call";          // call_id u64, op, args... (reply: ret)
inline constexpr std::string_view kPost = "post";          // op (metric, event), args... (no reply)
inline constexpr std::string_view kFatal = "fatal";        // reason, text (the runner then exits)
inline constexpr std::string_view kBye = "bye";            // (none; the runner then exits 0)

// Host API operations carried by kCall.
inline constexpr std::string_view kOpPublish = "publish";  // topic, data, content_type i32
inline constexpr std::string_view kOpMetric = "metric";    // name, subject, value f64, time_us i64
inline constexpr std::string_view kOpEvent = "event";      // severity i32, kind, subject, message, detail_json
inline constexpr std::string_view kOpConfig = "config";    // key (ret value: the text)
inline constexpr std::string_view kOpLog = "log";          // level i32, text (warnings and errors:
                                                           // acknowledged, so they survive a crash)

// Version 2: batched 'msg', one-way 'post' for metrics and events, record budget in 'init'.
inline constexpr uint32_t kProtocolVersion = 2;
inline constexpr std::size_t kMsgFrames = 5;   // frames per message in a 'msg' batch
inline constexpr std::size_t kMaxBatch = 128;  // messages per 'msg' at most
inline constexpr std::size_t kMaxFrames = 1 + kMsgFrames * kMaxBatch;  // longest valid message

// Exit codes the runner uses for conditions it detects itself (anything else is the plugin's).
inline constexpr int kExitUsage = 120;          // bad command line
inline constexpr int kExitLoad = 121;           // the plugin library could not be loaded
inline constexpr int kExitLink = 122;           // the host link broke or the host sent garbage
inline constexpr int kExitMemory = 123;         // an allocation failed (memory limit reached)
inline constexpr int kExitUncaught = 124;       // an exception escaped a raw C callback
inline constexpr int kExitParentGone = 125;     // the host process went away

using Frames = std::vector<std::string>;

template <class T>
std::string enc(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::string s(sizeof(T), '\0');
    std::memcpy(s.data(), &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
    return s;
}

template <class T>
std::optional<T> dec(std::string_view s) {
    if (s.size() != sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, s.data(), sizeof(T));
    return v;
}

// Send all frames (blocking unless `dontwait`). False when the socket refused.
bool send_frames(zmq::socket_t& sock, const Frames& frames, bool dontwait = false);
// The same from views (no copy of topics and payloads into strings first).
bool send_views(zmq::socket_t& sock, const std::vector<std::string_view>& frames, bool dontwait = false);
// Receive one multipart message (blocking unless `dontwait`); nullopt when nothing was there. A
// message of more than kMaxFrames frames is drained and returned as {"<too many frames>"}.
std::optional<Frames> recv_frames(zmq::socket_t& sock, bool dontwait);
// The same into `out`, reusing its strings; false (and `out` in an unspecified state) when
// nothing was there.
bool recv_into(zmq::socket_t& sock, Frames& out, bool dontwait);

}  // namespace tb::host::isolation
