#include "governance/audit.hpp"

#include "common/sha256.hpp"
#include "governance/sql.hpp"

namespace tb::host::gov {
namespace {

std::string row_hash(int64_t id, int64_t t_us, const std::string& actor, const std::string& action,
                     std::optional<int64_t> trial_id, const std::string& outcome, const std::string& reason,
                     const std::string& detail_json, const std::string& prev_hash) {
    const nlohmann::json canon = nlohmann::json::array(
        {id, t_us, actor, action, trial_id ? nlohmann::json(*trial_id) : nlohmann::json(), outcome, reason,
         detail_json, prev_hash});
    return sha256_hex(canon.dump());
}

}  // namespace

Status begin_immediate(sqlite3* db) { return exec(db, "BEGIN IMMEDIATE", "starting a transaction"); }
Status commit(sqlite3* db) { return exec(db, "COMMIT", "committing"); }
void rollback(sqlite3* db) { sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr); }

Result<int64_t> append_audit(sqlite3* db, const AuditEntry& e) {
    std::string prev = kGenesisHash;
    int64_t last_id = 0;
    {
        Stmt st(db, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
        if (!st.ok()) return Error{"reading the audit log: " + st.error(), "sql"};
        if (st.step() == SQLITE_ROW) {
            last_id = st.col_i64(0);
            prev = st.col_text(1);
        }
    }
    const int64_t id = last_id + 1;
    const std::string outcome = e.done ? "done" : "refused";
    const std::string detail = e.detail.dump();
    const std::string hash = row_hash(id, e.t_us, e.actor, e.action, e.trial_id, outcome, e.reason, detail, prev);
    Stmt ins(db,
             "INSERT INTO audit_log(id, t_us, actor, action, trial_id, outcome, reason, detail_json, prev_hash, hash) "
             "VALUES (?,?,?,?,?,?,?,?,?,?)");
    ins.i64(1, id);
    ins.i64(2, e.t_us);
    ins.text(3, e.actor);
    ins.text(4, e.action);
    ins.opt_i64(5, e.trial_id);
    ins.text(6, outcome);
    ins.text(7, e.reason);
    ins.text(8, detail);
    ins.text(9, prev);
    ins.text(10, hash);
    if (!ins.ok() || ins.step() != SQLITE_DONE) return Error{"writing the audit log: " + ins.error(), "sql"};
    Stmt head(db, "INSERT INTO audit_head(id, last_id, last_hash) VALUES (1, ?, ?) "
                  "ON CONFLICT(id) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash");
    head.i64(1, id);
    head.text(2, hash);
    if (!head.ok() || head.step() != SQLITE_DONE) return Error{"writing the audit head: " + head.error(), "sql"};
    return id;
}

Result<int64_t> append_audit_tx(sqlite3* db, const AuditEntry& e) {
    if (auto s = begin_immediate(db); !s) return s.error();
    auto r = append_audit(db, e);
    if (!r) {
        rollback(db);
        return r;
    }
    if (auto s = commit(db); !s) {
        rollback(db);
        return s.error();
    }
    return r;
}

Result<AuditVerdict> verify_audit(sqlite3* db) {
    AuditVerdict v;
    Stmt st(db, "SELECT id, t_us, actor, action, trial_id, outcome, reason, detail_json, prev_hash, hash "
                "FROM audit_log ORDER BY id");
    if (!st.ok()) return Error{"reading the audit log: " + st.error(), "sql"};
    std::string prev = kGenesisHash;
    int64_t expect_id = 1;
    int rc;
    auto fail = [&](int64_t id, std::string msg) {
        if (!v.ok) return;
        v.ok = false;
        v.bad_id = id;
        v.message = std::move(msg);
    };
    while ((rc = st.step()) == SQLITE_ROW) {
        const int64_t id = st.col_i64(0);
        const std::string stored_prev = st.col_text(8), stored_hash = st.col_text(9);
        if (id != expect_id) {
            fail(expect_id, "audit row " + std::to_string(expect_id) +
                                (id > expect_id ? (id - expect_id > 1 ? " to " + std::to_string(id - 1) : std::string())
                                                : std::string()) +
                                " is missing (deleted); the next row present is " + std::to_string(id));
        } else if (stored_prev != prev) {
            fail(id, "audit row " + std::to_string(id) + " does not chain to the row before it (prev_hash differs): a "
                                                         "row before it was deleted or edited");
        }
        const std::string actual = row_hash(id, st.col_i64(1), st.col_text(2), st.col_text(3), st.col_opt_i64(4),
                                            st.col_text(5), st.col_text(6), st.col_text(7), stored_prev);
        if (actual != stored_hash) {
            fail(id, "audit row " + std::to_string(id) + " was edited: its content no longer matches its hash");
        }
        prev = stored_hash;
        expect_id = id + 1;
        ++v.rows;
    }
    if (rc != SQLITE_DONE) return Error{"reading the audit log: " + st.error(), "sql"};
    v.head_hash = prev;
    Stmt head(db, "SELECT last_id, last_hash FROM audit_head WHERE id = 1");
    if (head.ok() && head.step() == SQLITE_ROW) {
        const int64_t last_id = head.col_i64(0);
        if (last_id >= expect_id) {
            fail(expect_id, "audit row " + std::to_string(expect_id) +
                                (last_id > expect_id ? " to " + std::to_string(last_id) : std::string()) +
                                " is missing (deleted from the end of the log)");
        } else if (last_id == expect_id - 1 && head.col_text(1) != prev) {
            fail(last_id, "audit row " + std::to_string(last_id) + " does not match the recorded head of the log");
        } else if (last_id < expect_id - 1) {
            fail(last_id + 1, "audit rows after " + std::to_string(last_id) +
                                  " were added without going through the audit log writer");
        }
    } else if (v.rows > 0) {
        fail(1, "the audit head record is missing; the log cannot be checked for removed rows");
    }
    return v;
}

}  // namespace tb::host::gov
