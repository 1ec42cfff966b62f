// tb_fake_runner: stands in for testbed-runner (the host starts it when $TB_RUNNER points here)
// and breaks the runner protocol on the first message, as $TB_FAKE_MODE says:
//   unknown      reply with a verb the protocol does not have
//   malformed    reply 'done' with the wrong number of frames
//   unsolicited  reply 'done' for a request that was never made
//   version      say 'hello' with the previous protocol version (a runner from another build)
// Everything before that (hello, init, ready) is correct, so the host must blame the runner.
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <zmq.hpp>

#include "isolation/protocol.hpp"

namespace iso = tb::host::isolation;

int main(int argc, char** argv) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::string endpoint;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == "--endpoint") endpoint = argv[i + 1];
    }
    const char* env = std::getenv("TB_FAKE_MODE");
    const std::string mode = env ? env : "unknown";
    zmq::context_t ctx(1);
    zmq::socket_t s(ctx, zmq::socket_type::pair);
    s.set(zmq::sockopt::linger, 200);
    s.connect(endpoint);
    const uint32_t version = mode == "version" ? iso::kProtocolVersion - 1 : iso::kProtocolVersion;
    iso::send_frames(s,
                     {std::string(iso::kHello), iso::enc<int32_t>(static_cast<int32_t>(getpid())),
                      iso::enc<uint32_t>(version)});
    for (int n = 0; n < 1'000'000; ++n) {
        auto f = iso::recv_frames(s, false);
        if (!f || f->empty()) continue;
        if ((*f)[0] == iso::kInit) {
            iso::send_frames(s, {std::string(iso::kReady)});
        } else if ((*f)[0] == iso::kMsg) {
            iso::MsgRecord first;
            std::size_t pos = 0;
            if (f->size() != 2 || !iso::read_msg_record((*f)[1], pos, first))
                return 3;  // the host's bug
            if (mode == "malformed") {
                // A 'done' frame too short to hold its fixed part.
                iso::send_frames(s,
                                 {std::string(iso::kDone), std::string(iso::kDoneFixed - 1, '\0')});
            } else if (mode == "unsolicited") {
                std::string done;
                iso::append_done(done, {first.seq + 1000, 0, 0, 1, {}});
                iso::send_frames(s, {std::string(iso::kDone), done});
            } else {
                iso::send_frames(s, {"bogus", "frame"});
            }
        } else if ((*f)[0] == iso::kStop) {
            iso::send_frames(s, {std::string(iso::kBye)});
            return 0;
        }
    }
    return 0;
}
