#include "common/recording.hpp"

#include <cstring>
#include <sstream>

namespace tb::tools {
namespace {

void put_u16(std::string& s, uint16_t v) {
    for (int i = 0; i < 2; ++i) s.push_back(static_cast<char>(v >> (8 * i) & 0xFF));
}
void put_u32(std::string& s, uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i) & 0xFF));
}
void put_i64(std::string& s, int64_t v) {
    const auto u = static_cast<uint64_t>(v);
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(u >> (8 * i) & 0xFF));
}
uint64_t get_le(const char* p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    return v;
}

// Decode one record body; `where` names it in errors.
host::Result<RecordedMessage> decode_body(const std::string& body, const std::string& where) {
    if (body.size() < 10) return host::Error{where + ": record body of " + std::to_string(body.size()) + " bytes is too short", "corrupt"};
    RecordedMessage m;
    m.receive_time_us = static_cast<int64_t>(get_le(body.data(), 8));
    const auto n = static_cast<std::size_t>(get_le(body.data() + 8, 2));
    if (n == 0 || n > kRecordingMaxFrames) {
        return host::Error{where + ": record claims " + std::to_string(n) + " frames (allowed 1.." +
                               std::to_string(kRecordingMaxFrames) + ")",
                           "corrupt"};
    }
    std::size_t pos = 10;
    for (std::size_t i = 0; i < n; ++i) {
        if (pos + 4 > body.size()) return host::Error{where + ": frame " + std::to_string(i) + " length is cut off", "corrupt"};
        const auto len = static_cast<std::size_t>(get_le(body.data() + pos, 4));
        pos += 4;
        if (len > body.size() - pos) {
            return host::Error{where + ": frame " + std::to_string(i) + " claims " + std::to_string(len) + " bytes, record has " +
                                   std::to_string(body.size() - pos) + " left",
                               "corrupt"};
        }
        m.frames.emplace_back(body.data() + pos, len);
        pos += len;
    }
    if (pos != body.size()) return host::Error{where + ": " + std::to_string(body.size() - pos) + " stray byte(s) after the frames", "corrupt"};
    return m;
}

host::Result<nlohmann::json> decode_header(const std::string& head, const std::string& file) {
    if (head.size() < 12 || std::memcmp(head.data(), "TBREC", 5) != 0) {
        return host::Error{file + ": not a testbed recording (it does not start with \"TBREC\"; record one with `testbed feed record`)",
                           "not_a_recording"};
    }
    const auto version = static_cast<unsigned char>(head[5]);
    if (version != kRecordingVersion) {
        return host::Error{file + ": recording format version " + std::to_string(version) + "; this tool reads version " +
                               std::to_string(kRecordingVersion) + " (use a matching testbed release)",
                           "version"};
    }
    return nlohmann::json();
}

}  // namespace

RecordingWriter::~RecordingWriter() { (void)close(); }

host::Result<std::unique_ptr<RecordingWriter>> RecordingWriter::create(const std::filesystem::path& file,
                                                                       const nlohmann::json& meta) {
    std::unique_ptr<RecordingWriter> w(new RecordingWriter());
    w->file_ = file;
    w->out_.open(file, std::ios::binary | std::ios::trunc);
    if (!w->out_) return host::Error{file.string() + ": cannot create the recording file (check the folder and permissions)", "io"};
    std::string head = "TBREC";
    head.push_back(static_cast<char>(kRecordingVersion));
    put_u16(head, 0);
    const std::string m = meta.dump();
    put_u32(head, static_cast<uint32_t>(m.size()));
    head += m;
    w->out_.write(head.data(), static_cast<std::streamsize>(head.size()));
    if (!w->out_) return host::Error{file.string() + ": write failed", "io"};
    return w;
}

host::Status RecordingWriter::write(const RecordedMessage& msg) {
    if (msg.frames.empty() || msg.frames.size() > kRecordingMaxFrames) {
        return host::Error{file_.string() + ": a message must have 1.." + std::to_string(kRecordingMaxFrames) + " frames", "invalid"};
    }
    std::string body;
    put_i64(body, msg.receive_time_us);
    put_u16(body, static_cast<uint16_t>(msg.frames.size()));
    for (const auto& f : msg.frames) {
        put_u32(body, static_cast<uint32_t>(f.size()));
        body += f;
    }
    if (body.size() > kRecordingMaxRecord) return host::Error{file_.string() + ": message of " + std::to_string(body.size()) + " bytes is too large to record", "invalid"};
    std::string len;
    put_u32(len, static_cast<uint32_t>(body.size()));
    out_.write(len.data(), 4);
    out_.write(body.data(), static_cast<std::streamsize>(body.size()));
    if (!out_) return host::Error{file_.string() + ": write failed (disk full?)", "io"};
    ++count_;
    return {};
}

host::Status RecordingWriter::close() {
    if (!out_.is_open()) return {};
    out_.flush();
    const bool ok = static_cast<bool>(out_);
    out_.close();
    if (!ok) return host::Error{file_.string() + ": flushing the recording failed (disk full?)", "io"};
    return {};
}

host::Result<std::unique_ptr<RecordingReader>> RecordingReader::open(const std::filesystem::path& file) {
    std::unique_ptr<RecordingReader> r(new RecordingReader());
    r->file_ = file;
    r->in_.open(file, std::ios::binary);
    if (!r->in_) return host::Error{file.string() + ": cannot open the recording (check the path)", "not_found"};
    std::string head(12, '\0');
    r->in_.read(head.data(), 12);
    head.resize(static_cast<std::size_t>(r->in_.gcount()));
    if (auto h = decode_header(head, file.string()); !h) return h.error();
    const auto meta_len = static_cast<std::size_t>(get_le(head.data() + 8, 4));
    if (meta_len > kRecordingMaxRecord) return host::Error{file.string() + ": header metadata length " + std::to_string(meta_len) + " is implausible (corrupt file)", "corrupt"};
    std::string meta(meta_len, '\0');
    r->in_.read(meta.data(), static_cast<std::streamsize>(meta_len));
    if (static_cast<std::size_t>(r->in_.gcount()) != meta_len) return host::Error{file.string() + ": truncated inside the header", "truncated"};
    try {
        r->meta_ = nlohmann::json::parse(meta);
    } catch (const nlohmann::json::exception&) {
        return host::Error{file.string() + ": header metadata is not valid JSON (corrupt file)", "corrupt"};
    }
    r->offset_ = 12 + meta_len;
    return r;
}

host::Result<bool> RecordingReader::next(RecordedMessage& msg) {
    char len_buf[4];
    in_.read(len_buf, 4);
    const auto got = in_.gcount();
    if (got == 0) return false;
    const std::string where = file_.string() + ": record " + std::to_string(count_ + 1) + " at byte " + std::to_string(offset_);
    if (got != 4) return host::Error{where + ": file is truncated (" + std::to_string(count_) + " complete record(s) before it)", "truncated"};
    const auto len = static_cast<std::size_t>(get_le(len_buf, 4));
    if (len > kRecordingMaxRecord) return host::Error{where + ": record length " + std::to_string(len) + " is implausible (corrupt file)", "corrupt"};
    std::string body(len, '\0');
    in_.read(body.data(), static_cast<std::streamsize>(len));
    if (static_cast<std::size_t>(in_.gcount()) != len) {
        return host::Error{where + ": file is truncated (" + std::to_string(count_) + " complete record(s) before it)", "truncated"};
    }
    auto m = decode_body(body, where);
    if (!m) return m.error();
    msg = std::move(m.value());
    offset_ += 4 + len;
    ++count_;
    return true;
}

host::Result<std::vector<RecordedMessage>> parse_recording(const std::string& bytes, nlohmann::json* meta) {
    if (auto h = decode_header(bytes, "recording"); !h) return h.error();
    const auto meta_len = static_cast<std::size_t>(get_le(bytes.data() + 8, 4));
    if (meta_len > bytes.size() - 12) return host::Error{"recording: truncated inside the header", "truncated"};
    try {
        auto j = nlohmann::json::parse(bytes.substr(12, meta_len));
        if (meta) *meta = std::move(j);
    } catch (const nlohmann::json::exception&) {
        return host::Error{"recording: header metadata is not valid JSON", "corrupt"};
    }
    std::vector<RecordedMessage> out;
    std::size_t pos = 12 + meta_len;
    while (pos < bytes.size()) {
        const std::string where = "recording: record " + std::to_string(out.size() + 1) + " at byte " + std::to_string(pos);
        if (bytes.size() - pos < 4) return host::Error{where + ": truncated", "truncated"};
        const auto len = static_cast<std::size_t>(get_le(bytes.data() + pos, 4));
        if (len > kRecordingMaxRecord || len > bytes.size() - pos - 4) return host::Error{where + ": truncated or corrupt length", "truncated"};
        auto m = decode_body(bytes.substr(pos + 4, len), where);
        if (!m) return m.error();
        out.push_back(std::move(m.value()));
        pos += 4 + len;
    }
    return out;
}

}  // namespace tb::tools
