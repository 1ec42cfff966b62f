#include "governance/trial.hpp"

#include "governance/sql.hpp"
#include "governance/time_parse.hpp"

#include <array>

namespace tb::host::gov {
namespace {

constexpr std::array<std::string_view, 7> kStates = {"", "proposed", "approved", "active", "suspended", "completed",
                                                     "rejected"};
constexpr std::array<std::string_view, 7> kActions = {"", "approve", "reject", "suspend", "resume", "complete",
                                                      "activate"};

const char* kColumns =
    "id, plugin_id, plugin_version, plugin_file, plugin_sha256, manifest_json, organisation, testbed, reads_json, "
    "publishes_json, from_us, until_us, purpose, trust, state, baseline_from_us, baseline_until_us, control_json, "
    "retention_days, config_json, created_us, updated_us";

nlohmann::json parse_json(const std::string& s, nlohmann::json fallback) {
    if (s.empty()) return fallback;
    auto j = nlohmann::json::parse(s, nullptr, false);
    return j.is_discarded() ? fallback : j;
}

Trial read_row(const Stmt& st) {
    Trial t;
    t.id = st.col_i64(0);
    t.plugin_id = st.col_text(1);
    t.plugin_version = st.col_text(2);
    t.plugin_file = st.col_text(3);
    t.plugin_sha256 = st.col_text(4);
    t.manifest = parse_json(st.col_text(5), nlohmann::json::object());
    t.organisation = st.col_text(6);
    t.testbed = st.col_text(7);
    const auto reads = parse_json(st.col_text(8), nlohmann::json::array());
    const auto pubs = parse_json(st.col_text(9), nlohmann::json::array());
    for (const auto& r : reads) {
        if (r.is_string()) t.reads.push_back(r.get<std::string>());
    }
    for (const auto& p : pubs) {
        if (p.is_string()) t.publishes.push_back(p.get<std::string>());
    }
    t.from_us = st.col_i64(10);
    t.until_us = st.col_i64(11);
    t.purpose = st.col_text(12);
    t.trust = st.col_text(13);
    t.state = parse_state(st.col_text(14)).value_or(TrialState::proposed);
    t.baseline_from_us = st.col_opt_i64(15);
    t.baseline_until_us = st.col_opt_i64(16);
    t.control = st.col_null(17) ? nlohmann::json() : parse_json(st.col_text(17), nlohmann::json());
    t.retention_days = st.col_opt_i64(18);
    t.config = parse_json(st.col_text(19), nlohmann::json::object());
    t.created_us = st.col_i64(20);
    t.updated_us = st.col_i64(21);
    return t;
}

}  // namespace

std::string_view to_string(TrialState s) { return kStates[static_cast<std::size_t>(s)]; }

std::optional<TrialState> parse_state(std::string_view s) {
    for (std::size_t i = 1; i < kStates.size(); ++i) {
        if (kStates[i] == s) return static_cast<TrialState>(i);
    }
    return std::nullopt;
}

std::string_view to_string(Action a) { return kActions[static_cast<std::size_t>(a)]; }

nlohmann::json Trial::to_json() const {
    nlohmann::json j{{"id", id},
                     {"plugin_id", plugin_id},
                     {"plugin_version", plugin_version},
                     {"plugin_file", plugin_file},
                     {"plugin_sha256", plugin_sha256},
                     {"organisation", organisation},
                     {"testbed", testbed},
                     {"reads", reads},
                     {"publishes", publishes},
                     {"from", format_time(from_us)},
                     {"until", format_time(until_us)},
                     {"from_us", from_us},
                     {"until_us", until_us},
                     {"purpose", purpose},
                     {"trust", trust},
                     {"state", to_string(state)},
                     {"config", config},
                     {"created", format_time(created_us)},
                     {"updated", format_time(updated_us)}};
    if (baseline_from_us) j["baseline_from"] = format_time(*baseline_from_us);
    if (baseline_until_us) j["baseline_until"] = format_time(*baseline_until_us);
    if (!control.is_null()) j["control"] = control;
    if (retention_days) j["retention_days"] = *retention_days;
    return j;
}

Result<TrialState> next_state(const Trial& t, Action action, int64_t now_us) {
    const auto s = t.state;
    auto refuse = [&](const std::string& legal) -> Error {
        return Error{"trial " + std::to_string(t.id) + " is " + std::string(to_string(s)) + "; '" +
                         std::string(to_string(action)) + "' is not allowed from there (" + legal + ")",
                     "illegal_transition"};
    };
    std::string legal;
    switch (s) {
        case TrialState::proposed: legal = "a proposed trial can be approved or rejected"; break;
        case TrialState::approved: legal = "an approved trial can be suspended or completed"; break;
        case TrialState::active: legal = "an active trial can be suspended or completed"; break;
        case TrialState::suspended: legal = "a suspended trial can be resumed or completed"; break;
        default: legal = "a " + std::string(to_string(s)) + " trial is final; propose a new trial"; break;
    }
    switch (action) {
        case Action::approve:
            if (s == TrialState::proposed) return TrialState::approved;
            break;
        case Action::reject:
            if (s == TrialState::proposed) return TrialState::rejected;
            break;
        case Action::activate:
            if (s == TrialState::approved) return TrialState::active;
            break;
        case Action::suspend:
            if (s == TrialState::approved || s == TrialState::active) return TrialState::suspended;
            break;
        case Action::resume:
            if (s == TrialState::suspended) return now_us >= t.from_us ? TrialState::active : TrialState::approved;
            break;
        case Action::complete:
            if (s == TrialState::approved || s == TrialState::active || s == TrialState::suspended) {
                return TrialState::completed;
            }
            break;
    }
    return refuse(legal);
}

bool grant_within(const std::vector<std::string>& grant, const std::vector<std::string>& declared,
                  std::string* outside) {
    for (const auto& g : grant) {
        bool ok = false;
        for (const auto& d : declared) {
            if (g.compare(0, d.size(), d) == 0) ok = true;
        }
        if (!ok) {
            if (outside) *outside = g;
            return false;
        }
    }
    return true;
}

Result<Trial> load_trial(sqlite3* db, int64_t id) {
    Stmt st(db, (std::string("SELECT ") + kColumns + " FROM trials WHERE id = ?").c_str());
    if (!st.ok()) return Error{"reading trial " + std::to_string(id) + ": " + st.error(), "sql"};
    st.i64(1, id);
    const int rc = st.step();
    if (rc == SQLITE_ROW) return read_row(st);
    if (rc == SQLITE_DONE) {
        return Error{"trial " + std::to_string(id) + " does not exist (see 'testbed trial list')", "not_found"};
    }
    return Error{"reading trial " + std::to_string(id) + ": " + st.error(), "sql"};
}

Result<std::vector<Trial>> load_trials(sqlite3* db, const std::string& testbed) {
    std::string sql = std::string("SELECT ") + kColumns + " FROM trials";
    if (!testbed.empty()) sql += " WHERE testbed = ?";
    sql += " ORDER BY id";
    Stmt st(db, sql.c_str());
    if (!st.ok()) return Error{"reading trials: " + st.error(), "sql"};
    if (!testbed.empty()) st.text(1, testbed);
    std::vector<Trial> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(read_row(st));
    if (rc != SQLITE_DONE) return Error{"reading trials: " + st.error(), "sql"};
    return out;
}

Result<int64_t> insert_trial(sqlite3* db, const Trial& t) {
    Stmt st(db,
            "INSERT INTO trials(plugin_id, plugin_version, plugin_file, plugin_sha256, manifest_json, organisation, "
            "testbed, reads_json, publishes_json, from_us, until_us, purpose, trust, state, baseline_from_us, "
            "baseline_until_us, control_json, retention_days, config_json, created_us, updated_us) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st.ok()) return Error{"recording the trial: " + st.error(), "sql"};
    st.text(1, t.plugin_id);
    st.text(2, t.plugin_version);
    st.text(3, t.plugin_file);
    st.text(4, t.plugin_sha256);
    st.text(5, t.manifest.dump());
    st.text(6, t.organisation);
    st.text(7, t.testbed);
    st.text(8, nlohmann::json(t.reads).dump());
    st.text(9, nlohmann::json(t.publishes).dump());
    st.i64(10, t.from_us);
    st.i64(11, t.until_us);
    st.text(12, t.purpose);
    st.text(13, t.trust);
    st.text(14, std::string(to_string(t.state)));
    st.opt_i64(15, t.baseline_from_us);
    st.opt_i64(16, t.baseline_until_us);
    if (t.control.is_null()) st.null(17);
    else st.text(17, t.control.dump());
    st.opt_i64(18, t.retention_days);
    st.text(19, t.config.dump());
    st.i64(20, t.created_us);
    st.i64(21, t.updated_us);
    if (st.step() != SQLITE_DONE) return Error{"recording the trial: " + st.error(), "sql"};
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db));
}

Status update_state(sqlite3* db, int64_t id, TrialState state, int64_t now_us) {
    Stmt st(db, "UPDATE trials SET state = ?, updated_us = ? WHERE id = ?");
    st.text(1, std::string(to_string(state)));
    st.i64(2, now_us);
    st.i64(3, id);
    if (!st.ok() || st.step() != SQLITE_DONE) {
        return Error{"updating trial " + std::to_string(id) + ": " + st.error(), "sql"};
    }
    return {};
}

Result<std::vector<int64_t>> overlapping_trials(sqlite3* db, const Trial& t) {
    Stmt st(db,
            "SELECT id FROM trials WHERE plugin_id = ? AND testbed = ? AND id != ? AND state IN ('approved', "
            "'active', 'suspended') AND from_us < ? AND until_us > ? ORDER BY id");
    if (!st.ok()) return Error{"checking overlapping trials: " + st.error(), "sql"};
    st.text(1, t.plugin_id);
    st.text(2, t.testbed);
    st.i64(3, t.id);
    st.i64(4, t.until_us);
    st.i64(5, t.from_us);
    std::vector<int64_t> out;
    while (st.step() == SQLITE_ROW) out.push_back(st.col_i64(0));
    return out;
}

}  // namespace tb::host::gov
