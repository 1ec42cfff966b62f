// api/tokens.hpp: access tokens for the HTTP API and their roles.
//
// A token is 32 random bytes (libsodium randombytes_buf) written as "tbk_" + 64 hex digits. It is
// shown once, when created; the database keeps only its BLAKE2b-256 hash (crypto_generichash) in
// the api_tokens table (schema migration 4), with a name (the actor recorded in the audit log),
// a role and an optional expiry. Roles: "staff" sees and acts on everything; "org:<name>" sees
// only what belongs to organisation <name>.
// Thread safety: free functions; each call uses only the sqlite3 handle it is given, which must
// not be used by another thread at the same time.
#pragma once

#include "common/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace tb::host::api {

struct Role {
    bool staff = false;
    std::string organisation;  // set when !staff
    static std::optional<Role> parse(std::string_view text);  // "staff" or "org:<name>"
    std::string to_string() const { return staff ? "staff" : "org:" + organisation; }
};

struct TokenInfo {
    int64_t id = 0;
    std::string name;
    Role role;
    int64_t created_us = 0;
    std::optional<int64_t> expires_us;
    std::optional<int64_t> revoked_us;
};

// Hex hash of a token as stored in api_tokens.token_hash.
std::string hash_token(std::string_view token);

// Create a token; returns the token text (the only time it exists outside the caller).
// Fails when the name is taken or the role is invalid.
Result<std::string> create_token(sqlite3* db, const std::string& name, const Role& role,
                                 std::optional<int64_t> expires_us);

enum class TokenCheck { valid = 1, unknown = 2, expired = 3, revoked = 4 };
struct TokenLookup {
    TokenCheck check = TokenCheck::unknown;
    TokenInfo info;  // filled unless check == unknown
};
// Look a presented token up (by hash) and check expiry and revocation at `now_us`.
Result<TokenLookup> check_token(sqlite3* db, std::string_view token, int64_t now_us);

Result<std::vector<TokenInfo>> list_tokens(sqlite3* db);
// Revoke by name; error "not_found" when there is no such token.
Status revoke_token(sqlite3* db, const std::string& name, int64_t now_us);

}  // namespace tb::host::api
