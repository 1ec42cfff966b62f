#include "isolation/protocol.hpp"

#include <zmq.hpp>

namespace tb::host::isolation {

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

bool send_views(zmq::socket_t& sock, const std::vector<std::string_view>& frames, bool dontwait) {
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
            const auto flags = (dontwait && n == 0) ? zmq::recv_flags::dontwait : zmq::recv_flags::none;
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
