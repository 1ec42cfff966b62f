#include "bus/curve.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "config/toml_guard.hpp"

namespace tb::host {
namespace fs = std::filesystem;

bool valid_z85_key(const std::string& z85) {
    if (z85.size() != 40) return false;
    std::array<uint8_t, 32> raw{};
    return zmq_z85_decode(raw.data(), z85.c_str()) != nullptr;
}

Result<CurveKeyPair> load_curve_key_file(const fs::path& file, bool need_secret) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
        return Error{
            file.string() +
                ": CURVE key file not found (create one with `testbed keys new --out DIR`)",
            "not_found"};
    }
    if (need_secret) {
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
            return Error{
                file.string() +
                    ": secret key file is readable by group or others (run chmod 600 on it)",
                "key_permissions"};
        }
    }
    std::ifstream in(file, std::ios::binary);
    if (!in.is_open()) {
        return Error{file.string() + ": cannot read the key file (check its permissions)",
                     "key_file"};
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    if (auto h = find_toml_hazard(text)) {
        return Error{file.string() + ":" + std::to_string(h->line) + ": not a key file: " + h->what,
                     "key_file"};
    }
    toml::table t;
    try {
        t = toml::parse(text, file.string());
    } catch (const toml::parse_error& e) {
        return Error{file.string() + ": not a key file: " + std::string(e.description()),
                     "key_file"};
    }
    CurveKeyPair k;
    k.public_z85 = t["public_key"].value_or(std::string());
    k.secret_z85 = t["secret_key"].value_or(std::string());
    if (!valid_z85_key(k.public_z85)) {
        return Error{file.string() + ": public_key is missing or not 40 Z85 characters",
                     "key_file"};
    }
    if (need_secret && !valid_z85_key(k.secret_z85)) {
        return Error{file.string() +
                         ": secret_key is missing or not 40 Z85 characters (is this the .pub file? "
                         "use NAME.key)",
                     "key_file"};
    }
    return k;
}

Result<std::string> resolve_curve_public_key(const std::string& key_or_file) {
    std::error_code ec;
    if (valid_z85_key(key_or_file) && !fs::exists(key_or_file, ec)) return key_or_file;
    auto k = load_curve_key_file(key_or_file, false);
    if (!k) return k.error();
    return k->public_z85;
}

Result<std::set<std::string>> load_authorized_keys(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        return Error{
            dir.string() +
                ": CURVE authorized-keys folder not found (put each publisher's NAME.pub in it)",
            "not_found"};
    }
    std::set<std::string> keys;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (!e.is_regular_file() || e.path().extension() != ".pub") continue;
        auto k = load_curve_key_file(e.path(), false);
        if (!k) return k.error();
        keys.insert(k->public_z85);
    }
    return keys;
}

Result<CurveKeyPair> write_new_keypair(const fs::path& dir, const std::string& name) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Error{dir.string() + ": cannot create the key folder: " + ec.message(), "io"};
    std::array<char, 41> pub{}, sec{};
    if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
        return Error{"cannot generate a CURVE key pair: libzmq was built without CURVE (libsodium)",
                     "no_curve"};
    }
    CurveKeyPair k{pub.data(), sec.data()};
    const fs::path key_file = dir / (name + ".key"), pub_file = dir / (name + ".pub");
    if (fs::exists(key_file, ec) || fs::exists(pub_file, ec)) {
        return Error{key_file.string() + " or " + pub_file.string() +
                         " already exists (choose another --name or folder)",
                     "exists"};
    }
    auto write = [](const fs::path& f, const std::string& text, mode_t mode) -> Status {
        // Created with its final mode, so the secret is never readable by others, not even briefly.
        const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
        if (fd < 0) return Error{f.string() + ": cannot create the key file", "io"};
        const auto n = ::write(fd, text.data(), text.size());
        ::close(fd);
        if (n != static_cast<ssize_t>(text.size()))
            return Error{f.string() + ": cannot write the key file", "io"};
        return {};
    };
    const std::string header = "# ZeroMQ CURVE key for '" + name + "' (testbed keys new)\n";
    if (auto s = write(key_file,
                       header + "public_key = \"" + k.public_z85 + "\"\nsecret_key = \"" +
                           k.secret_z85 + "\"\n",
                       0600);
        !s) {
        return s.error();
    }
    if (auto s = write(pub_file, header + "public_key = \"" + k.public_z85 + "\"\n", 0644); !s)
        return s.error();
    return k;
}

}  // namespace tb::host
