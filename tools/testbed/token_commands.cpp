// testbed token: create, list and revoke access tokens for the host's HTTP API (docs/api.md).
// Only a hash of each token is stored; `token new` prints the token once.
#include "api/tokens.hpp"
#include "commands.hpp"
#include "common/clock.hpp"
#include "store/sqlite_store.hpp"

#include <CLI/CLI.hpp>
#include <sqlite3.h>

#include <cstdio>
#include <iostream>
#include <memory>

namespace tb::cli {
namespace {

struct TokenArgs {
    std::string db = "results.db";
    std::string role, name;
    double expires_days = 0;
};

using DbPtr = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;

DbPtr open_db(const std::string& file, bool create, int& rc) {
    auto db = host::open_database(file, create);
    if (!db) {
        std::cerr << "testbed token: " << db.error().message << "\n";
        rc = kExitUsage;
        return {nullptr, &sqlite3_close};
    }
    return {db.value(), &sqlite3_close};
}

int run_new(const TokenArgs& a) {
    const auto role = host::api::Role::parse(a.role);
    if (!role) {
        std::cerr << "testbed token new: --role '" << a.role
                  << "' is not valid; use 'staff' or 'org:<organisation>' (e.g. org:ParkSense)\n";
        return kExitUsage;
    }
    if (a.expires_days < 0) {
        std::cerr << "testbed token new: --expires must be a positive number of days\n";
        return kExitUsage;
    }
    int rc = 0;
    auto db = open_db(a.db, true, rc);
    if (!db) return rc;
    std::optional<int64_t> expires;
    if (a.expires_days > 0) expires = host::now_us() + static_cast<int64_t>(a.expires_days * 86400e6);
    auto token = host::api::create_token(db.get(), a.name, *role, expires);
    if (!token) {
        std::cerr << "testbed token new: " << token.error().message << "\n";
        return token.error().reason == "exists" || token.error().reason == "usage" ? kExitUsage : kExitFailure;
    }
    std::cout << token.value() << "\n";
    std::cerr << "testbed token new: token '" << a.name << "' (" << role->to_string() << ") stored in " << a.db
              << "; it is shown only now, keep it secret\n";
    return kExitOk;
}

int run_list(const TokenArgs& a) {
    int rc = 0;
    auto db = open_db(a.db, false, rc);
    if (!db) return rc;
    auto list = host::api::list_tokens(db.get());
    if (!list) {
        std::cerr << "testbed token list: " << list.error().message << "\n";
        return kExitFailure;
    }
    std::printf("%-20s %-24s %-10s\n", "name", "role", "status");
    const int64_t now = host::now_us();
    for (const auto& t : list.value()) {
        const char* status = t.revoked_us                             ? "revoked"
                             : (t.expires_us && *t.expires_us <= now) ? "expired"
                                                                      : "active";
        std::printf("%-20s %-24s %-10s\n", t.name.c_str(), t.role.to_string().c_str(), status);
    }
    return kExitOk;
}

int run_revoke(const TokenArgs& a) {
    int rc = 0;
    auto db = open_db(a.db, false, rc);
    if (!db) return rc;
    if (auto s = host::api::revoke_token(db.get(), a.name, host::now_us()); !s) {
        std::cerr << "testbed token revoke: " << s.message() << "\n";
        return s.error().reason == "not_found" ? kExitUsage : kExitFailure;
    }
    std::cerr << "testbed token revoke: token '" << a.name << "' revoked\n";
    return kExitOk;
}

void on_done(int rc) {
    if (rc != 0) throw CLI::RuntimeError(rc);
}

}  // namespace

void register_token_commands(CLI::App& app) {
    auto a = std::make_shared<TokenArgs>();
    auto* tok = app.add_subcommand("token", "Create, list and revoke HTTP API access tokens");
    tok->require_subcommand(1);
    auto* add = tok->add_subcommand("new", "Create a token and print it once (only its hash is stored)");
    add->add_option("--role", a->role, "staff, or org:<organisation> (sees only that organisation)")->required();
    add->add_option("--name", a->name, "Who holds it (recorded as the actor of every action)")->required();
    add->add_option("--expires", a->expires_days, "Expire after this many days (default: never)");
    add->add_option("--db", a->db, "Results database of the host")->capture_default_str();
    add->callback([a] { on_done(run_new(*a)); });
    auto* list = tok->add_subcommand("list", "List tokens (names and roles; never the tokens)");
    list->add_option("--db", a->db, "Results database of the host")->capture_default_str();
    list->callback([a] { on_done(run_list(*a)); });
    auto* rev = tok->add_subcommand("revoke", "Revoke a token by name");
    rev->add_option("--name", a->name, "The token's name")->required();
    rev->add_option("--db", a->db, "Results database of the host")->capture_default_str();
    rev->callback([a] { on_done(run_revoke(*a)); });
}

}  // namespace tb::cli
