// tools/common/recording.hpp: the feed recording file format (TBREC version 1).
//
// A recording captures feed messages losslessly: every frame of every message, with the time it
// was received, so that `testbed feed replay` can reproduce a live run and `testbed trial
// rehearse` can show a reviewer what a plugin would have done. Layout (little-endian):
//
//   file    := magic "TBREC" u8 version(=1) u16 reserved(=0)  u32 meta_len  meta (JSON, UTF-8)  record*
//   record  := u32 body_len  body
//   body    := i64 receive_time_us  u16 frame_count  (u32 frame_len  frame_bytes){frame_count}
//
// body_len lets a reader skip or detect a cut-off record; a file that ends inside a record is
// reported as truncated with the byte offset and the number of complete records before it.
// Limits: 64 frames per message, 16 MiB per record.
// Thread safety: one thread per reader or writer.
#pragma once

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace tb::tools {

inline constexpr uint8_t kRecordingVersion = 1;
inline constexpr std::size_t kRecordingMaxFrames = 64;
inline constexpr std::size_t kRecordingMaxRecord = 16u << 20;

struct RecordedMessage {
    int64_t receive_time_us = 0;
    std::vector<std::string> frames;
};

class RecordingWriter {
   public:
    // Create (truncate) `file` and write the header with `meta` (e.g. testbed, endpoint, tool).
    static host::Result<std::unique_ptr<RecordingWriter>> create(const std::filesystem::path& file,
                                                                 const nlohmann::json& meta);
    host::Status write(const RecordedMessage& msg);
    host::Status close();  // flush and close; idempotent
    ~RecordingWriter();
    uint64_t count() const noexcept { return count_; }

   private:
    RecordingWriter() = default;
    std::filesystem::path file_;
    std::ofstream out_;
    uint64_t count_ = 0;
};

class RecordingReader {
   public:
    // Open and check the header. Errors name the file and say what was found instead.
    static host::Result<std::unique_ptr<RecordingReader>> open(const std::filesystem::path& file);
    const nlohmann::json& meta() const noexcept { return meta_; }
    // Read the next message into `msg`. Returns true when one was read, false at a clean end of
    // file, or an Error (truncated, corrupt) naming the byte offset.
    host::Result<bool> next(RecordedMessage& msg);
    uint64_t count() const noexcept { return count_; }

   private:
    RecordingReader() = default;
    std::filesystem::path file_;
    std::ifstream in_;
    nlohmann::json meta_;
    uint64_t count_ = 0;
    uint64_t offset_ = 0;
};

// Parse a whole recording held in memory (for fuzzing and tests); same checks as the reader.
host::Result<std::vector<RecordedMessage>> parse_recording(const std::string& bytes, nlohmann::json* meta = nullptr);

}  // namespace tb::tools
