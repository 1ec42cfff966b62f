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

std::optional<Frames> recv_frames(zmq::socket_t& sock, bool dontwait) {
    Frames out;
    for (;;) {
        zmq::message_t m;
        try {
            const auto flags = (dontwait && out.empty()) ? zmq::recv_flags::dontwait : zmq::recv_flags::none;
            if (!sock.recv(m, flags)) return std::nullopt;
        } catch (const zmq::error_t&) {
            return std::nullopt;
        }
        out.emplace_back(static_cast<const char*>(m.data()), m.size());
        if (!m.more()) return out;
        if (out.size() > 64) {
            // Drain the rest of an absurd message so the next receive starts at a boundary.
            while (m.more()) {
                if (!sock.recv(m, zmq::recv_flags::none)) break;
            }
            return Frames{"<too many frames>"};
        }
    }
}

}  // namespace tb::host::isolation
