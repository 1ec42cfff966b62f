#include "isolation/protocol.hpp"

#include <algorithm>
#include <zmq.hpp>

#include "wire/wire.hpp"

namespace tb::host::isolation {

static_assert(kHeaderBytes == wire::kHeaderSize);

namespace {

template <class T>
void put(std::string& out, T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));  // little-endian hosts only, as enc()
}

template <class T>
T get(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace

void append_msg_record(std::string& frame, const MsgRecord& r) {
    put<uint64_t>(frame, r.seq);
    put<int64_t>(frame, r.receive_time_us);
    put<uint32_t>(frame, static_cast<uint32_t>(r.topic.size()));
    put<uint32_t>(frame, static_cast<uint32_t>(r.payload.size()));
    frame.append(r.header.substr(0, kHeaderBytes));
    frame.append(kHeaderBytes - std::min(kHeaderBytes, r.header.size()), '\0');
    frame.append(r.topic);
    frame.append(r.payload);
}

bool read_msg_record(std::string_view frame, std::size_t& pos, MsgRecord& out) {
    if (pos > frame.size() || frame.size() - pos < kMsgRecordFixed) return false;
    const char* p = frame.data() + pos;
    const auto topic_len = get<uint32_t>(p + 16);
    const auto payload_len = get<uint32_t>(p + 20);
    const std::size_t rest = frame.size() - pos - kMsgRecordFixed;
    if (topic_len > rest || payload_len > rest - topic_len) return false;
    out.seq = get<uint64_t>(p);
    out.receive_time_us = get<int64_t>(p + 8);
    out.header = frame.substr(pos + 24, kHeaderBytes);
    out.topic = frame.substr(pos + kMsgRecordFixed, topic_len);
    out.payload = frame.substr(pos + kMsgRecordFixed + topic_len, payload_len);
    pos += kMsgRecordFixed + topic_len + payload_len;
    return true;
}

void append_done(std::string& frame, const DoneRecord& r) {
    put<uint64_t>(frame, r.seq);
    put<int32_t>(frame, r.status);
    put<int64_t>(frame, r.started_ns);
    put<int64_t>(frame, r.took_ns);
    put<uint32_t>(frame, static_cast<uint32_t>(r.error.size()));
    frame.append(r.error);
}

bool read_done(std::string_view frame, std::size_t& pos, DoneRecord& out) {
    if (pos > frame.size() || frame.size() - pos < kDoneFixed) return false;
    const char* p = frame.data() + pos;
    const auto error_len = get<uint32_t>(p + 28);
    if (error_len > frame.size() - pos - kDoneFixed) return false;
    out.seq = get<uint64_t>(p);
    out.status = get<int32_t>(p + 8);
    out.started_ns = get<int64_t>(p + 12);
    out.took_ns = get<int64_t>(p + 20);
    out.error = frame.substr(pos + kDoneFixed, error_len);
    pos += kDoneFixed + error_len;
    return true;
}

bool send_frames(zmq::socket_t& sock, const Frames& frames, bool dontwait) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
        auto flags = zmq::send_flags::none;
        if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
        if (dontwait) flags = flags | zmq::send_flags::dontwait;
        try {
            if (!sock.send(zmq::buffer(frames[i].data(), frames[i].size()), flags)) return false;
        } catch (const zmq::error_t&) {
            return false;
        }
    }
    return true;
}

bool send_views(zmq::socket_t& sock, std::span<const std::string_view> frames, bool dontwait) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
        auto flags = zmq::send_flags::none;
        if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
        if (dontwait) flags = flags | zmq::send_flags::dontwait;
        try {
            if (!sock.send(zmq::buffer(frames[i].data(), frames[i].size()), flags)) return false;
        } catch (const zmq::error_t&) {
            return false;
        }
    }
    return true;
}

bool recv_into(zmq::socket_t& sock, Frames& out, bool dontwait) {
    // Reuses the strings already in `out` (their capacity), so a steady stream of messages does
    // not allocate per frame.
    std::size_t n = 0;
    zmq::message_t m;
    for (;;) {
        try {
            const auto flags =
                (dontwait && n == 0) ? zmq::recv_flags::dontwait : zmq::recv_flags::none;
            if (!sock.recv(m, flags)) {
                out.resize(n);
                return false;
            }
        } catch (const zmq::error_t&) {
            out.resize(n);
            return false;
        }
        if (n == out.size()) out.emplace_back();
        out[n++].assign(static_cast<const char*>(m.data()), m.size());
        if (!m.more()) {
            out.resize(n);
            return true;
        }
        if (n > kMaxFrames) {
            // Drain the rest of an absurd message so the next receive starts at a boundary.
            while (m.more()) {
                if (!sock.recv(m, zmq::recv_flags::none)) break;
            }
            out.assign(1, "<too many frames>");
            return true;
        }
    }
}

std::optional<Frames> recv_frames(zmq::socket_t& sock, bool dontwait) {
    Frames out;
    if (!recv_into(sock, out, dontwait)) return std::nullopt;
    return out;
}

}  // namespace tb::host::isolation
