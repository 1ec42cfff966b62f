// Fuzz target "recording": a TBREC v1 recording file as `testbed feed replay` and `testbed trial
// rehearse` read it (tb::tools::RecordingReader on a real file: open, then next() until the end
// or an error), checked against the in-memory parser tb::tools::parse_recording. The input is
// the file's bytes.
// Invariants: both readers agree (same metadata, same messages, both succeed or both fail, and
// the streaming reader yields exactly the messages before the damage); every error names the
// file; every message has 1..64 frames; what was read, written again with RecordingWriter,
// reads back identically (the format round-trips).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/recording.hpp"
#include "fuzz_target.hpp"

namespace {

namespace fs = std::filesystem;

// One scratch file per process (libFuzzer runs the target single-threaded; a fork of the
// replay test has its own pid).
const fs::path& scratch(const char* what) {
    static const fs::path dir = fs::temp_directory_path();
    static std::map<std::string, fs::path> paths;
    auto& p = paths[what];
    if (p.empty())
        p = dir / ("tb_fuzz_recording_" + std::to_string(::getpid()) + "_" + what + ".tbrec");
    return p;
}

bool same(const tb::tools::RecordedMessage& a, const tb::tools::RecordedMessage& b) {
    return a.receive_time_us == b.receive_time_us && a.frames == b.frames;
}

}  // namespace

TB_FUZZ_TARGET(recording) {
    namespace t = tb::tools;
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    const fs::path& file = scratch("in");
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        TB_FUZZ_CHECK(static_cast<bool>(out));
    }
    nlohmann::json meta;
    const auto whole = t::parse_recording(bytes, &meta);

    auto reader = t::RecordingReader::open(file);
    std::vector<t::RecordedMessage> streamed;
    bool stream_ok = false;
    if (!reader) {
        TB_FUZZ_CHECK(reader.error().message.rfind(file.string() + ": ", 0) == 0);
    } else {
        TB_FUZZ_CHECK((*reader)->meta() == meta || !whole);
        t::RecordedMessage msg;
        // Each successful next() consumes at least 14 bytes, so this ends; the bound is a backstop.
        for (std::size_t i = 0; i <= bytes.size(); ++i) {
            auto got = (*reader)->next(msg);
            if (!got) {
                TB_FUZZ_CHECK(got.error().message.rfind(file.string() + ": record ", 0) == 0);
                break;
            }
            if (!*got) {
                stream_ok = true;
                break;
            }
            TB_FUZZ_CHECK(!msg.frames.empty() && msg.frames.size() <= t::kRecordingMaxFrames);
            streamed.push_back(msg);
        }
        TB_FUZZ_CHECK((*reader)->count() == streamed.size());
    }

    TB_FUZZ_CHECK(static_cast<bool>(whole) == stream_ok);
    if (!whole) {
        TB_FUZZ_CHECK(!whole.error().message.empty() && !whole.error().reason.empty());
        return 0;
    }
    const auto& msgs = whole.value();
    TB_FUZZ_CHECK(msgs.size() == streamed.size());
    for (std::size_t i = 0; i < msgs.size(); ++i) TB_FUZZ_CHECK(same(msgs[i], streamed[i]));

    // Round trip: write what was read, read it back.
    const fs::path& copy = scratch("copy");
    {
        auto w = t::RecordingWriter::create(copy, meta);
        TB_FUZZ_CHECK(static_cast<bool>(w));
        for (const auto& m : msgs) TB_FUZZ_CHECK(static_cast<bool>((*w)->write(m)));
        TB_FUZZ_CHECK(static_cast<bool>((*w)->close()));
    }
    std::ifstream in(copy, std::ios::binary);
    const std::string written((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    nlohmann::json meta2;
    const auto again = t::parse_recording(written, &meta2);
    TB_FUZZ_CHECK(static_cast<bool>(again) && again.value().size() == msgs.size() && meta2 == meta);
    for (std::size_t i = 0; i < msgs.size(); ++i) TB_FUZZ_CHECK(same(msgs[i], again.value()[i]));
    return 0;
}
