// bus/curve.hpp: ZeroMQ CURVE key files (docs/feeds.md, "CURVE").
//
// `testbed keys new` writes two files per identity: NAME.key (secret, mode 0600) holding both
// keys, and NAME.pub (shareable) holding only the public key, each as TOML:
//   public_key = "<40 Z85 characters>"
//   secret_key = "<40 Z85 characters>"   # NAME.key only
// A host ingest is a CURVE server with its own secret key; the publishers that may feed it are
// the *.pub files in its authorized-keys folder (checked by a ZAP handler in the receiver).
// Thread safety: stateless functions.
#pragma once

#include "common/result.hpp"

#include <filesystem>
#include <set>
#include <string>

namespace tb::host {

struct CurveKeyPair {
    std::string public_z85;
    std::string secret_z85;  // empty when only the public key is known
};

// True for 40 characters of the Z85 alphabet that decode to 32 bytes.
bool valid_z85_key(const std::string& z85);

// Read a key file. `need_secret`: the file must hold secret_key too, and must not be readable by
// group or others (like ssh, a secret key that others can read is refused).
Result<CurveKeyPair> load_curve_key_file(const std::filesystem::path& file, bool need_secret);

// A server public key given either as 40 Z85 characters or as a key file path.
Result<std::string> resolve_curve_public_key(const std::string& key_or_file);

// Every *.pub and *.key file in `dir`: the public keys (Z85) allowed to connect.
Result<std::set<std::string>> load_authorized_keys(const std::filesystem::path& dir);

// Generate a key pair and write DIR/NAME.key (0600) and DIR/NAME.pub. Refuses to overwrite.
Result<CurveKeyPair> write_new_keypair(const std::filesystem::path& dir, const std::string& name);

}  // namespace tb::host
