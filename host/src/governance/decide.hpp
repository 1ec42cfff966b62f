// governance/decide.hpp: a staff decision on a trial (approve, reject, suspend, resume, complete),
// applied the one way every front end uses: the `testbed trial` CLI and the HTTP API's
// emergency stop call this, so both check the same rules and write the same audit rows.
//
// In one IMMEDIATE transaction: load the trial, check the transition is legal now, for approve
// check the plugin file is still the proposed build and the window has not ended, for approve and
// resume check no overlapping live trial, update the state, and append a hash-chained audit row
// naming who and why. A refusal rolls back and appends a 'refused' audit row instead. A running
// host picks the new state up at its next governance poll (within 100 ms).
// Thread safety: reentrant; each call uses only the connection it is given.
#pragma once

#include "common/result.hpp"
#include "governance/trial.hpp"

#include <cstdint>
#include <string>

struct sqlite3;

namespace tb::host::gov {

struct Decision {
    int64_t trial_id = 0;
    Action action = Action::suspend;
    std::string by;      // who decides: a person, or the API token's name
    std::string reason;  // why; required
};

struct DecisionOutcome {
    TrialState from = TrialState::proposed;
    TrialState to = TrialState::proposed;
};

// Error::reason is "refused" for a decision the rules do not allow (audited as refused; the
// message says why), or "failure" when the database could not be written.
Result<DecisionOutcome> decide(sqlite3* db, const Decision& d);

}  // namespace tb::host::gov
