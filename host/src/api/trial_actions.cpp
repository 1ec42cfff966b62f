#include "api/trial_actions.hpp"

#include "common/clock.hpp"
#include "governance/decide.hpp"
#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <memory>

namespace tb::host::api {
namespace {

using DbPtr = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;

Result<nlohmann::json> read_trial(sqlite3* db, int64_t id) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT id, organisation, plugin_id, state, updated_us FROM trials WHERE id = ?", -1, &st,
                       nullptr);
    sqlite3_bind_int64(st, 1, id);
    Result<nlohmann::json> out = Error{"trial " + std::to_string(id) + " does not exist", "not_found"};
    if (sqlite3_step(st) == SQLITE_ROW) {
        auto col = [st](int i) {
            const auto* p = sqlite3_column_text(st, i);
            return std::string(p ? reinterpret_cast<const char*>(p) : "");
        };
        out = nlohmann::json{{"id", sqlite3_column_int64(st, 0)}, {"organisation", col(1)}, {"plugin_id", col(2)},
                             {"state", col(3)}, {"updated_us", sqlite3_column_int64(st, 4)}};
    }
    sqlite3_finalize(st);
    return out;
}

// The emergency stop takes exactly the CLI's path: governance's decide() checks the transition and
// writes the hash-chained audit row naming the token; the host's governor enforces it.
Result<nlohmann::json> transition(const std::filesystem::path& file, int64_t run_id, int64_t id, gov::Action action,
                                  const std::string& actor, const std::string& reason) {
    auto opened = open_database(file, false);
    if (!opened) return opened.error();
    DbPtr db(opened.value(), &sqlite3_close);
    if (auto before = read_trial(db.get(), id); !before) return before.error();
    auto out = gov::decide(db.get(), {id, action, actor, reason.empty() ? "emergency stop via the HTTP API" : reason});
    if (!out) {
        return Error{out.error().message, out.error().reason == "refused" ? "conflict" : "sqlite"};
    }
    // The audit log is the record; this event puts the action in the live event list for staff.
    const char* verb = action == gov::Action::suspend ? "suspended" : "resumed";
    const nlohmann::json detail{{"actor", actor}, {"trial_id", id}, {"from", gov::to_string(out->from)},
                                {"to", gov::to_string(out->to)}, {"reason", reason}};
    const std::string message = "trial " + std::to_string(id) + " " + verb + " by " + actor +
                                (reason.empty() ? "" : ": " + reason);
    const std::string detail_text = detail.dump();
    const std::string subject = "trial/" + std::to_string(id);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db.get(),
                       "INSERT INTO events(run_id, plugin_row, severity, kind, subject, message, detail_json, t_us) "
                       "VALUES (?, NULL, 2, 'staff_action', ?, ?, ?, ?)",
                       -1, &st, nullptr);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, subject.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, message.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, detail_text.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, now_us());
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return Error{std::string("recording the action: ") + sqlite3_errmsg(db.get()), "sqlite"};
    return read_trial(db.get(), id);
}

}  // namespace

TrialActions database_trial_actions(std::filesystem::path db, int64_t run_id) {
    TrialActions a;
    a.suspend = [db, run_id](int64_t id, const std::string& actor, const std::string& reason) {
        return transition(db, run_id, id, gov::Action::suspend, actor, reason);
    };
    a.resume = [db, run_id](int64_t id, const std::string& actor, const std::string& reason) {
        return transition(db, run_id, id, gov::Action::resume, actor, reason);
    };
    return a;
}

}  // namespace tb::host::api
