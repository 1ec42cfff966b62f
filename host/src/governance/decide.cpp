#include "governance/decide.hpp"

#include "common/clock.hpp"
#include "common/sha256.hpp"
#include "governance/audit.hpp"
#include "governance/sql.hpp"
#include "governance/time_parse.hpp"

#include <nlohmann/json.hpp>

namespace tb::host::gov {
namespace {

// Append the refusal to the audit log (its own transaction) and return the refusal.
Error refused(sqlite3* db, const Decision& d, const std::string& message,
              nlohmann::json detail = nlohmann::json::object()) {
    AuditEntry e{now_us(), d.by.empty() ? "(unknown)" : d.by, std::string(to_string(d.action)), d.trial_id, false,
                 message, std::move(detail)};
    if (auto r = append_audit_tx(db, e); !r) {
        return Error{message + " (and the refusal could not be audited: " + r.error().message + ")", "failure"};
    }
    return Error{message, "refused"};
}

}  // namespace

Result<DecisionOutcome> decide(sqlite3* db, const Decision& d) {
    if (d.by.empty()) return refused(db, d, "--by is missing: every decision needs the name of who takes it");
    if (d.reason.empty()) return refused(db, d, "--reason is missing: every decision needs a reason");
    if (auto s = begin_immediate(db); !s) return Error{s.message(), "failure"};
    auto no = [&](const std::string& msg, nlohmann::json detail = nlohmann::json::object()) {
        rollback(db);
        return refused(db, d, msg, std::move(detail));
    };
    const int64_t id = d.trial_id;
    auto t = load_trial(db, id);
    if (!t) return no(t.error().message);
    const int64_t now = now_us();
    auto next = next_state(*t, d.action, now);
    if (!next) return no(next.error().message, {{"state", to_string(t->state)}});
    if (d.action == Action::approve) {
        auto sha = sha256_file(t->plugin_file);
        if (!sha) return no("trial " + std::to_string(id) + ": " + sha.error().message);
        if (*sha != t->plugin_sha256) {
            return no("the plugin file " + t->plugin_file + " changed since trial " + std::to_string(id) +
                          " was proposed (SHA-256 now " + *sha + ", proposed " + t->plugin_sha256 +
                          "); reject this trial and propose the new build",
                      {{"expected_sha256", t->plugin_sha256}, {"actual_sha256", *sha}});
        }
        if (now >= t->until_us) {
            return no("trial " + std::to_string(id) + "'s window ended at " + format_time(t->until_us) +
                      "; it can no longer be approved");
        }
    }
    if (d.action == Action::approve || d.action == Action::resume) {
        auto overlap = overlapping_trials(db, *t);
        if (!overlap) return no(overlap.error().message);
        if (!overlap->empty()) {
            return no("trial " + std::to_string(id) + "'s window overlaps live trial " +
                      std::to_string(overlap->front()) + " of the same plugin on testbed '" + t->testbed + "'");
        }
    }
    if (auto s = update_state(db, id, *next, now); !s) {
        rollback(db);
        return Error{s.message(), "failure"};
    }
    AuditEntry e{now, d.by, std::string(to_string(d.action)), id, true, d.reason,
                 {{"from", to_string(t->state)}, {"to", to_string(*next)}}};
    if (auto r = append_audit(db, e); !r) {
        rollback(db);
        return Error{r.error().message, "failure"};
    }
    if (auto s = commit(db); !s) {
        rollback(db);
        return Error{s.message(), "failure"};
    }
    return DecisionOutcome{t->state, *next};
}

}  // namespace tb::host::gov
