// governance/audit.hpp: the append-only, hash-chained audit log of every governance action.
//
// Each row's hash is SHA-256 over a canonical JSON array of its fields (id, time, actor, action,
// trial, outcome, reason, detail, prev_hash), and prev_hash is the hash of the row before it (64
// zeros for the first row). audit_head (migration 7) holds the id and hash of the newest row, so
// that removing rows from the end is detected too; triggers refuse UPDATE and DELETE on the
// table. Someone with write access to the file can still drop the triggers and rewrite the whole
// chain: the head hash printed by `testbed audit verify` and published in the register is the
// outside anchor that makes such a rewrite visible.
// Thread safety: functions over a caller-owned connection; appends must run inside a write
// transaction (BEGIN IMMEDIATE) so that concurrent writers (CLI and host) chain correctly.
#pragma once

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

struct sqlite3;

namespace tb::host::gov {

inline constexpr const char* kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditEntry {
    int64_t t_us = 0;
    std::string actor;   // staff name (--by) or "host"
    std::string action;  // propose, approve, suspend, ..., activate, enforce_suspend, purge, refuse_load ...
    std::optional<int64_t> trial_id;
    bool done = true;    // false: the action was refused
    std::string reason;
    nlohmann::json detail = nlohmann::json::object();
};

// Append one row; the caller holds a write transaction. Returns the new row id.
Result<int64_t> append_audit(sqlite3* db, const AuditEntry& e);
// Append one row in its own IMMEDIATE transaction (for refusals and host notes).
Result<int64_t> append_audit_tx(sqlite3* db, const AuditEntry& e);

struct AuditVerdict {
    bool ok = true;
    uint64_t rows = 0;
    int64_t bad_id = 0;        // first row found edited, or the row missing before/after it
    std::string message;       // what is wrong, for a person
    std::string head_hash;     // hash of the newest row (publish it to anchor the chain)
};
Result<AuditVerdict> verify_audit(sqlite3* db);

// Open a transaction that takes the write lock at once (so the state read and the write that
// follows cannot interleave with another writer).
Status begin_immediate(sqlite3* db);
Status commit(sqlite3* db);
void rollback(sqlite3* db);

}  // namespace tb::host::gov
