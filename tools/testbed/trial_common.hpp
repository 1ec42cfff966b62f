// tools/testbed/trial_common.hpp: helpers shared by the trial, audit and register commands.
// Thread safety: single-threaded CLI.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

struct sqlite3;
namespace CLI {
class App;
}

namespace tb::cli {

// Closes the connection on scope exit.
struct DbHandle {
    sqlite3* db = nullptr;
    ~DbHandle();
};

// Print `message` as the command's error, record the refusal in the audit log (when `db` is open)
// and return kExitUsage (kExitFailure when even the audit row cannot be written).
int refuse(sqlite3* db, const std::string& cmd, const std::string& actor, const std::string& action,
           std::optional<int64_t> trial_id, const std::string& message,
           nlohmann::json detail = nlohmann::json::object());

// testbed trial rehearse (trial_rehearse.cpp).
void register_rehearse_command(CLI::App& trial);

}  // namespace tb::cli
