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

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
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
// One frame holding one to kMaxBatch message records back to back (MsgRecord below). Batching is
// what makes isolation cheap: one ZeroMQ message (and one wake-up of the runner) carries as many
// feed messages as were waiting, and one frame costs ZeroMQ the same whatever it holds.
inline constexpr std::string_view kMsg = "msg";
inline constexpr std::string_view kTick = "tick";  // seq u64, now_us i64
inline constexpr std::string_view kRet = "ret";    // call_id u64, status i32, why, value
inline constexpr std::string_view kStop = "stop";  // (none)
// Verbs, runner -> host.
inline constexpr std::string_view kHello = "hello";             // pid i32, protocol version u32
inline constexpr std::string_view kReady = "ready";             // (none)
inline constexpr std::string_view kInitFailed = "init_failed";  // message
inline constexpr std::string_view kDone = "done";               // one frame: DoneRecord below
inline constexpr std::string_view kLog = "log";                 // level i32, text (no reply)
inline constexpr std::string_view kCall = "call";    // call_id u64, op, args... (reply: ret)
inline constexpr std::string_view kPost = "post";    // op (metric, event), args... (no reply)
inline constexpr std::string_view kFatal = "fatal";  // reason, text (the runner then exits)
inline constexpr std::string_view kBye = "bye";      // (none; the runner then exits 0)

// Host API operations carried by kCall.
inline constexpr std::string_view kOpPublish = "publish";  // topic, data, content_type i32
inline constexpr std::string_view kOpMetric = "metric";    // name, subject, value f64, time_us i64
inline constexpr std::string_view kOpEvent =
    "event";  // severity i32, kind, subject, message, detail_json
inline constexpr std::string_view kOpConfig = "config";  // key (ret value: the text)
inline constexpr std::string_view kOpLog = "log";        // level i32, text (warnings and errors:
                                                         // acknowledged, so they survive a crash)

// Version 2: batched 'msg', one-way 'post' for metrics and events, record budget in 'init'.
// Version 3: a 'msg' batch is one frame (was 5 per message), replies come one 'done' frame per
// batch (was one 4-frame 'done' per message), and the Progress page tells what the runner is doing.
inline constexpr uint32_t kProtocolVersion = 3;
inline constexpr std::size_t kMaxBatch = 512;  // messages per 'msg' at most
inline constexpr std::size_t kMaxFrames = 16;  // no valid message has more frames

// One feed message in a 'msg' frame: seq u64, receive_time_us i64, topic length u32, payload
// length u32, the 24-byte wire header, then the topic and payload bytes.
struct MsgRecord {
    uint64_t seq = 0;
    int64_t receive_time_us = 0;
    std::string_view header;  // kHeaderBytes
    std::string_view topic;
    std::string_view payload;
};
inline constexpr std::size_t kHeaderBytes = 24;
inline constexpr std::size_t kMsgRecordFixed = 8 + 8 + 4 + 4 + kHeaderBytes;

// Appends `r` to a 'msg' frame being built (r.header must be kHeaderBytes long).
void append_msg_record(std::string& frame, const MsgRecord& r);
// Reads the record at `pos` of a 'msg' frame and advances `pos`; false (pos unchanged) when the
// bytes from `pos` do not start with a whole record.
bool read_msg_record(std::string_view frame, std::size_t& pos, MsgRecord& out);

// The reply to one message or tick: seq u64, status i32, started_ns i64 (CLOCK_MONOTONIC when the
// callback began, so the host measures delivery latency up to the plugin), took_ns i64 (the
// callback's duration), error length u32, then the error text (empty when status is TB_OK). A
// 'done' frame holds one or more of these back to back: the runner replies once per batch, and
// at once after a callback that failed.
struct DoneRecord {
    uint64_t seq = 0;
    int32_t status = 0;
    int64_t started_ns = 0;
    int64_t took_ns = 0;
    std::string_view error;
};
inline constexpr std::size_t kDoneFixed = 8 + 4 + 8 + 8 + 4;
void append_done(std::string& frame, const DoneRecord& r);
// As read_msg_record, for a 'done' frame.
bool read_done(std::string_view frame, std::size_t& pos, DoneRecord& out);

// A shared page the runner updates around every callback (a memfd the host creates per instance
// and hands over as --progress-fd). Replies come per batch, so the host reads this to time the
// running callback (watchdog) and, when a runner dies, to tell which in-flight messages it had
// handled. Only the runner writes; a plugin that scribbles on it can fool its own watchdog and
// counters, nothing else (the host reads it as numbers and bounds them).
struct Progress {
    std::atomic<uint64_t> done_seq{0};   // runner: the latest request whose callback returned
    std::atomic<int64_t> started_ns{0};  // runner: CLOCK_MONOTONIC when the latest callback began
    // host: messages up to this seq are not to be delivered (the plugin was suspended); the runner
    // answers them with kSkipped instead of calling the plugin, so a suspension waits for one
    // callback at most, not for a window of messages already on their way.
    std::atomic<uint64_t> skip_through{0};
};
// The status of a done record for a message the runner skipped (Progress::skip_through). No
// plugin status can be this: the runner reports a plugin that returns it as TB_E_INTERNAL.
inline constexpr int32_t kSkipped = INT32_MIN;
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
              std::atomic<int64_t>::is_always_lock_free);
inline constexpr int kProgressFd = 3;  // the descriptor number the runner finds it under

// Exit codes the runner uses for conditions it detects itself (anything else is the plugin's).
inline constexpr int kExitUsage = 120;       // bad command line
inline constexpr int kExitLoad = 121;        // the plugin library could not be loaded
inline constexpr int kExitLink = 122;        // the host link broke or the host sent garbage
inline constexpr int kExitMemory = 123;      // an allocation failed (memory limit reached)
inline constexpr int kExitUncaught = 124;    // an exception escaped a raw C callback
inline constexpr int kExitParentGone = 125;  // the host process went away

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
// The same from views (no copy into strings first).
bool send_views(zmq::socket_t& sock, std::span<const std::string_view> frames,
                bool dontwait = false);
// Receive one multipart message (blocking unless `dontwait`); nullopt when nothing was there. A
// message of more than kMaxFrames frames is drained and returned as {"<too many frames>"}.
std::optional<Frames> recv_frames(zmq::socket_t& sock, bool dontwait);
// The same into `out`, reusing its strings; false (and `out` in an unspecified state) when
// nothing was there.
bool recv_into(zmq::socket_t& sock, Frames& out, bool dontwait);

}  // namespace tb::host::isolation
