// testbed: the command-line tool for plugin authors, municipal staff and operators.
#include "commands.hpp"
#include "common/logging.hpp"

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
    CLI::App app{"testbed: feeds, reports and tools for the Enschede Innovation Testbed"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "testbed 0.1.0 (SDK ABI 1.1)");
    tb::cli::register_feed_commands(app);
    tb::cli::register_feed_record_commands(app);
    tb::cli::register_feed_bridge_commands(app);
    tb::cli::register_keys_commands(app);
    tb::cli::register_report_commands(app);
    tb::cli::register_trial_commands(app);
    tb::cli::register_audit_commands(app);
    tb::cli::register_register_commands(app);
    tb::cli::register_plugin_commands(app);
    tb::cli::register_token_commands(app);
    tb::cli::register_status_commands(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::RuntimeError& e) {
        return e.get_exit_code();  // the subcommand already said what went wrong
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : tb::cli::kExitUsage;
    }
    return tb::cli::kExitOk;
}
