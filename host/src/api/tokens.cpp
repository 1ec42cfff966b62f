#include "api/tokens.hpp"

#include "common/clock.hpp"

#include <sodium.h>
#include <sqlite3.h>

#include <array>

namespace tb::host::api {
namespace {

std::string to_hex(const unsigned char* data, std::size_t n) {
    std::string out(n * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), data, n);
    out.pop_back();
    return out;
}

struct Stmt {
    sqlite3_stmt* st = nullptr;
    Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &st, nullptr); }
    ~Stmt() { sqlite3_finalize(st); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
};

std::optional<int64_t> opt_i64(sqlite3_stmt* st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_int64(st, col);
}

std::string text(sqlite3_stmt* st, int col) {
    const auto* p = sqlite3_column_text(st, col);
    return p ? reinterpret_cast<const char*>(p) : "";
}

TokenInfo read_row(sqlite3_stmt* st) {
    TokenInfo t;
    t.id = sqlite3_column_int64(st, 0);
    t.name = text(st, 1);
    t.role = Role::parse(text(st, 2)).value_or(Role{});
    t.created_us = sqlite3_column_int64(st, 3);
    t.expires_us = opt_i64(st, 4);
    t.revoked_us = opt_i64(st, 5);
    return t;
}

}  // namespace

std::optional<Role> Role::parse(std::string_view text) {
    if (text == "staff") return Role{true, {}};
    if (text.substr(0, 4) == "org:" && text.size() > 4) {
        const std::string_view org = text.substr(4);
        for (char c : org) {
            if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
        }
        return Role{false, std::string(org)};
    }
    return std::nullopt;
}

std::string hash_token(std::string_view token) {
    std::array<unsigned char, crypto_generichash_BYTES> h{};
    crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                       nullptr, 0);
    return to_hex(h.data(), h.size());
}

Result<std::string> create_token(sqlite3* db, const std::string& name, const Role& role,
                                 std::optional<int64_t> expires_us) {
    if (sodium_init() < 0) return Error{"libsodium could not be initialised", "sodium"};
    if (name.empty()) return Error{"token name must not be empty (use --name, e.g. --name alice)", "usage"};
    std::array<unsigned char, 32> raw{};
    randombytes_buf(raw.data(), raw.size());
    const std::string token = "tbk_" + to_hex(raw.data(), raw.size());
    Stmt s(db,
           "INSERT INTO api_tokens(name, role, token_hash, created_us, expires_us) VALUES (?, ?, ?, ?, ?)");
    if (s.st == nullptr) return Error{std::string("preparing the token insert: ") + sqlite3_errmsg(db), "sqlite"};
    const std::string r = role.to_string(), h = hash_token(token);
    sqlite3_bind_text(s.st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s.st, 2, r.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s.st, 3, h.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s.st, 4, now_us());
    if (expires_us) sqlite3_bind_int64(s.st, 5, *expires_us);
    else sqlite3_bind_null(s.st, 5);
    const int rc = sqlite3_step(s.st);
    if (rc == SQLITE_CONSTRAINT) {
        return Error{"a token named '" + name + "' already exists (choose another --name, or revoke it first)",
                     "exists"};
    }
    if (rc != SQLITE_DONE) return Error{std::string("storing the token: ") + sqlite3_errmsg(db), "sqlite"};
    return token;
}

Result<TokenLookup> check_token(sqlite3* db, std::string_view token, int64_t now) {
    Stmt s(db,
           "SELECT id, name, role, created_us, expires_us, revoked_us FROM api_tokens WHERE token_hash = ?");
    if (s.st == nullptr) return Error{std::string("looking up a token: ") + sqlite3_errmsg(db), "sqlite"};
    const std::string h = hash_token(token);
    sqlite3_bind_text(s.st, 1, h.c_str(), -1, SQLITE_TRANSIENT);
    TokenLookup out;
    const int rc = sqlite3_step(s.st);
    if (rc == SQLITE_DONE) return out;
    if (rc != SQLITE_ROW) return Error{std::string("looking up a token: ") + sqlite3_errmsg(db), "sqlite"};
    out.info = read_row(s.st);
    if (out.info.revoked_us) out.check = TokenCheck::revoked;
    else if (out.info.expires_us && *out.info.expires_us <= now) out.check = TokenCheck::expired;
    else out.check = TokenCheck::valid;
    return out;
}

Result<std::vector<TokenInfo>> list_tokens(sqlite3* db) {
    Stmt s(db, "SELECT id, name, role, created_us, expires_us, revoked_us FROM api_tokens ORDER BY id");
    if (s.st == nullptr) return Error{std::string("listing tokens: ") + sqlite3_errmsg(db), "sqlite"};
    std::vector<TokenInfo> out;
    while (sqlite3_step(s.st) == SQLITE_ROW) out.push_back(read_row(s.st));
    return out;
}

Status revoke_token(sqlite3* db, const std::string& name, int64_t now) {
    Stmt s(db, "UPDATE api_tokens SET revoked_us = ? WHERE name = ? AND revoked_us IS NULL");
    if (s.st == nullptr) return Error{std::string("revoking a token: ") + sqlite3_errmsg(db), "sqlite"};
    sqlite3_bind_int64(s.st, 1, now);
    sqlite3_bind_text(s.st, 2, name.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s.st) != SQLITE_DONE) {
        return Error{std::string("revoking a token: ") + sqlite3_errmsg(db), "sqlite"};
    }
    if (sqlite3_changes(db) == 0) return Error{"no active token named '" + name + "'", "not_found"};
    return {};
}

}  // namespace tb::host::api
