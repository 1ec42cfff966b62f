#include "governance/pseudonym.hpp"

#include "common/sha256.hpp"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tb::host::gov {
namespace {

// An open, exclusively locked key file; unlocked and closed on destruction.
class LockedFile {
   public:
    explicit LockedFile(const std::filesystem::path& p) {
        fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~LockedFile() {
        if (fd_ >= 0) ::close(fd_);  // closing releases the lock
    }
    LockedFile(const LockedFile&) = delete;
    LockedFile& operator=(const LockedFile&) = delete;
    int fd() const { return fd_; }

    std::string read_all() const {
        std::string out;
        char buf[4096];
        ::lseek(fd_, 0, SEEK_SET);
        for (;;) {
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }
    bool write_all(const std::string& text) const {
        if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) return false;
        std::size_t off = 0;
        while (off < text.size()) {
            const ssize_t n = ::write(fd_, text.data() + off, text.size() - off);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return ::fsync(fd_) == 0;
    }

   private:
    int fd_ = -1;
};

Result<nlohmann::json> read_keys(const LockedFile& f, const std::filesystem::path& p) {
    const std::string text = f.read_all();
    if (text.empty()) return nlohmann::json{{"format", "testbed-trial-keys-1"}, {"trials", nlohmann::json::object()}};
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.contains("trials") || !j["trials"].is_object()) {
        return Error{p.string() + ": the trial key file is damaged (not the expected JSON); restore it from a backup",
                     "keys"};
    }
    return j;
}

bool hex_to_key(const std::string& hex, TrialKey& key) {
    std::size_t len = 0;
    return hex.size() == 64 &&
           sodium_hex2bin(key.data(), key.size(), hex.c_str(), hex.size(), nullptr, &len, nullptr) == 0 &&
           len == key.size();
}

bool token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

}  // namespace

std::filesystem::path KeyStore::path_for(const std::filesystem::path& db) { return db.string() + ".keys"; }

Result<TrialKey> KeyStore::get_or_create(int64_t trial_id) {
    if (sodium_init() < 0) return Error{"libsodium could not be initialised", "sodium"};
    LockedFile f(file_);
    if (f.fd() < 0) {
        return Error{file_.string() + ": cannot open the trial key file: " + std::strerror(errno) +
                         " (check the folder's permissions)",
                     "keys"};
    }
    ::fchmod(f.fd(), 0600);  // keys are secrets even if the umask was lax
    auto j = read_keys(f, file_);
    if (!j) return j.error();
    const std::string k = std::to_string(trial_id);
    TrialKey key{};
    if (j->at("trials").contains(k)) {
        if (!hex_to_key(j->at("trials")[k].get<std::string>(), key)) {
            return Error{file_.string() + ": the key of trial " + k + " is damaged", "keys"};
        }
        return key;
    }
    randombytes_buf(key.data(), key.size());
    (*j)["trials"][k] = to_hex(key.data(), key.size());
    if (!f.write_all(j->dump(2) + "\n")) {
        return Error{file_.string() + ": cannot write the trial key file: " + std::strerror(errno), "keys"};
    }
    return key;
}

Result<bool> KeyStore::destroy(int64_t trial_id) {
    if (!std::filesystem::exists(file_)) return false;
    LockedFile f(file_);
    if (f.fd() < 0) return Error{file_.string() + ": cannot open the trial key file: " + std::strerror(errno), "keys"};
    auto j = read_keys(f, file_);
    if (!j) return j.error();
    const std::string k = std::to_string(trial_id);
    if (!j->at("trials").contains(k)) return false;
    (*j)["trials"].erase(k);
    if (!f.write_all(j->dump(2) + "\n")) {
        return Error{file_.string() + ": cannot write the trial key file: " + std::strerror(errno), "keys"};
    }
    return true;
}

Pseudonymiser::Pseudonymiser(const TestbedConfig& cfg, const TrialKey& key) : key_(key) {
    for (const auto& g : cfg.sensors) {
        if (g.personal) groups_.push_back({g.topic_prefix});
    }
}

std::string Pseudonymiser::pseudonym(const std::string& id) const {
    unsigned char out[8];
    crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(id.data()), id.size(), key_.data(),
                       key_.size());
    return "anon-" + to_hex(out, sizeof out);
}

bool Pseudonymiser::apply(const std::string& topic, const std::string& payload, std::string& out_topic,
                          std::string& out_payload) const {
    for (const auto& g : groups_) {
        if (topic.compare(0, g.topic_prefix.size(), g.topic_prefix) != 0) continue;
        const std::string rest = topic.substr(g.topic_prefix.size());
        const std::string id = rest.substr(0, rest.find('/'));
        if (id.empty()) return false;
        const std::string p = pseudonym(id);
        out_topic = g.topic_prefix + p + rest.substr(id.size());
        out_payload.clear();
        out_payload.reserve(payload.size());
        std::size_t pos = 0;
        for (;;) {
            const std::size_t hit = payload.find(id, pos);
            if (hit == std::string::npos) break;
            const bool whole = (hit == 0 || !token_char(payload[hit - 1])) &&
                               (hit + id.size() >= payload.size() || !token_char(payload[hit + id.size()]));
            out_payload.append(payload, pos, hit - pos);
            out_payload += whole ? p : id;
            pos = hit + id.size();
        }
        out_payload.append(payload, pos, std::string::npos);
        return true;
    }
    return false;
}

}  // namespace tb::host::gov
