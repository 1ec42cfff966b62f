// governance/pseudonym.hpp: per-trial pseudonyms for household-level data.
//
// A sensor group marked `personal = true` in testbed.toml carries the id of a home in its topic
// and payload. Each trial gets its own random 32-byte key; the home id is replaced by
// "anon-" + 16 hex digits of a keyed BLAKE2b hash (libsodium crypto_generichash) of the id. The
// pseudonym is stable within a trial (same key) and unrelated across trials (different keys), so
// two trials cannot join their data on the home. The keys live in a separate file next to the
// database ("<db>.keys", mode 0600), never in the results database itself: see
// docs/governance.md. Destroying a trial's key (purge) makes its pseudonyms unlinkable for good.
// Thread safety: KeyStore calls take an exclusive file lock, so the CLI and a host may use the
// same file at once; Pseudonymiser is immutable after construction and safe from any thread.
#pragma once

#include "common/result.hpp"
#include "config/testbed_config.hpp"

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace tb::host::gov {

using TrialKey = std::array<unsigned char, 32>;

class KeyStore {
   public:
    // The key file that belongs to a results database.
    static std::filesystem::path path_for(const std::filesystem::path& db);
    explicit KeyStore(std::filesystem::path file) : file_(std::move(file)) {}
    // The trial's key, created (random) when it has none yet.
    Result<TrialKey> get_or_create(int64_t trial_id);
    // Forget a trial's key. True when it existed.
    Result<bool> destroy(int64_t trial_id);
    const std::filesystem::path& file() const noexcept { return file_; }

   private:
    std::filesystem::path file_;
};

class Pseudonymiser {
   public:
    Pseudonymiser(const TestbedConfig& cfg, const TrialKey& key);
    // The pseudonym of one id.
    std::string pseudonym(const std::string& id) const;
    // When `topic` belongs to a personal sensor group: the topic and payload with the id
    // replaced (every occurrence of the exact id as a whole token). Otherwise false.
    bool apply(const std::string& topic, const std::string& payload, std::string& out_topic,
               std::string& out_payload) const;

   private:
    struct Group {
        std::string topic_prefix;
    };
    std::vector<Group> groups_;
    TrialKey key_;
};

}  // namespace tb::host::gov
