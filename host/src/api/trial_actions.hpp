// api/trial_actions.hpp: the staff actions on trials that the HTTP API exposes, as an interface
// the host injects, so the API takes exactly the same path as the `testbed trial` CLI.
//
// Each action changes the trial's state and audits it with `actor` (the API token's name). It
// returns the trial as JSON after the change, or an Error whose reason selects the HTTP status:
// "not_found" (404), "conflict" (409, e.g. resuming a trial that is not suspended), anything
// else 500.
// Thread safety: the callables are invoked from the API thread only.
#pragma once

#include "common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace tb::host::api {

struct TrialActions {
    using Action = std::function<Result<nlohmann::json>(int64_t trial_id, const std::string& actor,
                                                        const std::string& reason)>;
    Action suspend;
    Action resume;
};

// Interim actions used until governance (issue 5) provides its own: a state change in the trials
// table of `db` plus an event (kind "staff_action") recorded in run `run_id`.
TrialActions database_trial_actions(std::filesystem::path db, int64_t run_id);

}  // namespace tb::host::api
