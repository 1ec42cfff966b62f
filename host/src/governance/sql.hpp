// governance/sql.hpp: a small RAII wrapper over sqlite3 prepared statements for the governance
// tables (trials, audit_log, rehearsals), shared by the CLI and the host.
//
// Thread safety: a Stmt belongs to the thread that uses its connection.
#pragma once

#include "common/result.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tb::host::gov {

class Stmt {
   public:
    Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    bool ok() const noexcept { return rc_ == SQLITE_OK; }
    std::string error() const { return sqlite3_errmsg(db_); }
    void text(int i, const std::string& v) { sqlite3_bind_text(st_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
    void i64(int i, int64_t v) { sqlite3_bind_int64(st_, i, v); }
    void null(int i) { sqlite3_bind_null(st_, i); }
    void opt_i64(int i, const std::optional<int64_t>& v) {
        if (v) i64(i, *v);
        else null(i);
    }
    int step() { return sqlite3_step(st_); }
    void reset() {
        sqlite3_reset(st_);
        sqlite3_clear_bindings(st_);
    }
    int64_t col_i64(int i) const { return sqlite3_column_int64(st_, i); }
    bool col_null(int i) const { return sqlite3_column_type(st_, i) == SQLITE_NULL; }
    std::optional<int64_t> col_opt_i64(int i) const {
        if (col_null(i)) return std::nullopt;
        return col_i64(i);
    }
    std::string col_text(int i) const {
        const auto* p = sqlite3_column_text(st_, i);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st_, i)))
                 : std::string();
    }

   private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
    int rc_ = SQLITE_ERROR;
};

// Run `sql` (no rows expected); on failure an Error naming `what`.
inline Status exec(sqlite3* db, const std::string& sql, const std::string& what) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db);
        sqlite3_free(err);
        return Error{what + ": " + msg, "sql"};
    }
    return {};
}

}  // namespace tb::host::gov
