// feed_curve.hpp: the CURVE client options shared by the feed subcommands that publish or
// subscribe (sim, replay, record, proxy, bridges). See docs/feeds.md, "CURVE".
// Thread safety: call from the thread that owns the socket.
#pragma once

#include "bus/curve.hpp"

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include <string>

namespace tb::cli {

struct CurveClientArgs {
    std::string server_key;  // the host's public key: 40 Z85 characters or a .pub/.key file
    std::string key_file;    // our own NAME.key
};

inline void add_curve_client_options(CLI::App& cmd, CurveClientArgs& a) {
    cmd.add_option("--curve-server-key", a.server_key, "CURVE: the server's public key (Z85 or NAME.pub file)");
    cmd.add_option("--curve-key", a.key_file, "CURVE: this client's key file (NAME.key from testbed keys new)");
}

// Make `sock` a CURVE client when the options ask for it; both options or neither.
inline host::Status apply_curve_client(zmq::socket_t& sock, const CurveClientArgs& a) {
    if (a.server_key.empty() && a.key_file.empty()) return {};
    if (a.server_key.empty() || a.key_file.empty()) {
        return host::Error{"CURVE needs both --curve-server-key and --curve-key", "usage"};
    }
    auto server = host::resolve_curve_public_key(a.server_key);
    if (!server) return server.error();
    auto mine = host::load_curve_key_file(a.key_file, true);
    if (!mine) return mine.error();
    sock.set(zmq::sockopt::curve_serverkey, *server);
    sock.set(zmq::sockopt::curve_publickey, mine->public_z85);
    sock.set(zmq::sockopt::curve_secretkey, mine->secret_z85);
    return {};
}

}  // namespace tb::cli
