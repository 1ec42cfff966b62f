// tools/testbed/commands.hpp: each subcommand group of the `testbed` CLI registers itself here.
// One file per group; main.cpp only calls the register functions.
#pragma once

namespace CLI {
class App;
}

namespace tb::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed (message on stderr)
inline constexpr int kExitUsage = 2;    // bad arguments or input (message on stderr)

void register_feed_commands(CLI::App& app);    // testbed feed sim ...
void register_report_commands(CLI::App& app);  // testbed report ...
void register_trial_commands(CLI::App& app);     // testbed trial propose|approve|...|rehearse|purge
void register_audit_commands(CLI::App& app);     // testbed audit verify
void register_register_commands(CLI::App& app);  // testbed register --out DIR
void register_plugin_commands(CLI::App& app);  // testbed plugin new|inspect|check
void register_feed_record_commands(CLI::App& app);  // testbed feed record|replay (after feed)
void register_feed_bridge_commands(CLI::App& app);  // testbed feed mqtt|mavlink|proxy (after feed)
void register_keys_commands(CLI::App& app);         // testbed keys new
void register_token_commands(CLI::App& app);   // testbed token new|list|revoke (HTTP API access)
void register_status_commands(CLI::App& app);  // testbed status, testbed events [--follow]

}  // namespace tb::cli
