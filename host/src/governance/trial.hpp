// governance/trial.hpp: the trial, the unit of permission, and its lifecycle.
//
// A trial binds one plugin build (pinned by the SHA-256 of its file, with its manifest), an
// organisation, a testbed, a grant (the feed prefixes it may read and the topics it may publish,
// each within what the manifest declares), a time window and a trust level. Its state moves only
// along these edges (anything else is refused and audited):
//
//   proposed --approve--> approved --activate (host, window opens)--> active
//   proposed --reject---> rejected
//   approved | active --suspend--> suspended --resume--> active (approved before the window)
//   approved | active | suspended --complete (staff, or host at window end)--> completed
//
// "Live" trials (approved, active, suspended) of the same plugin on the same testbed may not have
// overlapping windows. These functions read and write the trials table of a results database
// (schema migration 2); callers provide the transaction.
// Thread safety: pure functions over a caller-owned connection.
#pragma once

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace tb::host::gov {

enum class TrialState { proposed = 1, approved = 2, active = 3, suspended = 4, completed = 5, rejected = 6 };
std::string_view to_string(TrialState s);
std::optional<TrialState> parse_state(std::string_view s);

struct Trial {
    int64_t id = 0;
    std::string plugin_id, plugin_version, plugin_file, plugin_sha256;
    nlohmann::json manifest = nlohmann::json::object();
    std::string organisation, testbed;
    std::vector<std::string> reads, publishes;
    int64_t from_us = 0, until_us = 0;
    std::string purpose;
    std::string trust = "isolated";
    TrialState state = TrialState::proposed;
    std::optional<int64_t> baseline_from_us, baseline_until_us;
    nlohmann::json control;  // null when not set
    std::optional<int64_t> retention_days;
    nlohmann::json config = nlohmann::json::object();
    int64_t created_us = 0, updated_us = 0;

    bool live() const noexcept {
        return state == TrialState::approved || state == TrialState::active || state == TrialState::suspended;
    }
    bool in_window(int64_t t_us) const noexcept { return t_us >= from_us && t_us < until_us; }
    nlohmann::json to_json() const;
};

// The staff actions and the host's own transitions.
enum class Action { approve = 1, reject, suspend, resume, complete, activate };
std::string_view to_string(Action a);

// The state `action` leads to from `t`'s state at time `now_us`, or an Error saying which
// actions are legal from there.
Result<TrialState> next_state(const Trial& t, Action action, int64_t now_us);

// True when every granted prefix lies within (starts with) one of the declared prefixes.
// `outside` receives the first granted prefix that does not.
bool grant_within(const std::vector<std::string>& grant, const std::vector<std::string>& declared,
                  std::string* outside = nullptr);

Result<Trial> load_trial(sqlite3* db, int64_t id);
// All trials, or those of one testbed, by id.
Result<std::vector<Trial>> load_trials(sqlite3* db, const std::string& testbed = {});
// Insert a new trial (state and timestamps as given); returns its id.
Result<int64_t> insert_trial(sqlite3* db, const Trial& t);
Status update_state(sqlite3* db, int64_t id, TrialState state, int64_t now_us);

// Live trials of the same plugin on the same testbed whose window overlaps [from, until).
Result<std::vector<int64_t>> overlapping_trials(sqlite3* db, const Trial& t);

}  // namespace tb::host::gov
