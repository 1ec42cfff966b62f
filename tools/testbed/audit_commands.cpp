// testbed audit verify: check the hash chain of the governance audit log.
//
// Exit 0 when every row is intact (prints the row count and the head hash, which can be
// published as an outside anchor), 1 when a row was edited or deleted (names the row id),
// 2 for a database that cannot be opened.
#include "commands.hpp"
#include "trial_common.hpp"

#include "governance/audit.hpp"
#include "store/sqlite_store.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace tb::cli {
namespace {

struct VerifyArgs {
    std::string db = "results.db";
    bool json = false;
};

int run_verify(const VerifyArgs& a) {
    auto opened = host::open_database(a.db, false);
    if (!opened) {
        std::cerr << "testbed audit verify: " << opened.error().message << "\n";
        return kExitUsage;
    }
    DbHandle h{*opened};
    auto v = host::gov::verify_audit(h.db);
    if (!v) {
        std::cerr << "testbed audit verify: " << v.error().message << "\n";
        return kExitFailure;
    }
    if (a.json) {
        std::cout << nlohmann::json{{"ok", v->ok}, {"rows", v->rows}, {"bad_id", v->bad_id}, {"message", v->message},
                                    {"head_hash", v->head_hash}}
                         .dump(2)
                  << "\n";
    }
    if (!v->ok) {
        std::cerr << "testbed audit verify: " << a.db << ": TAMPERED at row " << v->bad_id << ": " << v->message
                  << "\n";
        return kExitFailure;
    }
    if (!a.json) {
        std::cout << "audit log intact: " << v->rows << " row(s), head hash " << v->head_hash << "\n";
    }
    return kExitOk;
}

}  // namespace

void register_audit_commands(CLI::App& app) {
    auto* audit = app.add_subcommand("audit", "Check the governance audit log");
    audit->require_subcommand(1);
    auto a = std::make_shared<VerifyArgs>();
    auto* verify = audit->add_subcommand("verify", "Detect edited or deleted audit rows (exit 1 with the row id)");
    verify->add_option("--db", a->db, "Results database")->capture_default_str();
    verify->add_flag("--json", a->json, "Print the verdict as JSON");
    verify->callback([a] {
        if (const int rc = run_verify(*a); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
