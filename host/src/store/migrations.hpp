// store/migrations.hpp: the versioned schema of the results database.
//
// Each migration moves the schema from version-1 to version and runs in its own transaction;
// PRAGMA user_version holds the version reached. Migrations are append-only: never edit one that
// has shipped, add a new one. Versions are reserved per subsystem so parallel work does not clash
// (docs/database.md lists them).
// Thread safety: call with a connection no other thread is using.
#pragma once

#include "common/result.hpp"

#include <string>
#include <vector>

struct sqlite3;

namespace tb::host {

struct Migration {
    int version;
    const char* name;
    const char* sql;
};

const std::vector<Migration>& migrations();

// Bring `db` (named `file` in messages) to the latest version. Refuses newer databases.
Status migrate(sqlite3* db, const std::string& file);

}  // namespace tb::host
