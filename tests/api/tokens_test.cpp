// API tokens (issue 8): roles, hashing, expiry and revocation on a real SQLite file.
#include "api/tokens.hpp"
#include "store/sqlite_store.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace tb::test {
namespace {

using namespace tb::host::api;

TEST(TokensTest, RolesParseOnlyStaffOrNamedOrganisations) {
    EXPECT_TRUE(Role::parse("staff")->staff);
    EXPECT_EQ(Role::parse("org:ParkSense BV")->organisation, "ParkSense BV");
    EXPECT_FALSE(Role::parse("org:").has_value());
    EXPECT_FALSE(Role::parse("admin").has_value());
    EXPECT_FALSE(Role::parse("").has_value());
}

TEST(TokensTest, OnlyTheHashIsStoredAndChecksFollowExpiryAndRevocation) {
    TempDir dir;
    auto db = host::open_database(dir / "r.db", true);
    ASSERT_TRUE(db.is_ok()) << db.error().message;
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> h(db.value(), &sqlite3_close);

    auto staff = create_token(h.get(), "alice", *Role::parse("staff"), std::nullopt);
    ASSERT_TRUE(staff.is_ok());
    EXPECT_EQ(staff->rfind("tbk_", 0), 0u);
    EXPECT_EQ(staff->size(), 4u + 64u);
    auto org = create_token(h.get(), "bob", *Role::parse("org:Water"), int64_t{2'000'000});
    ASSERT_TRUE(org.is_ok());
    EXPECT_NE(*staff, *org);
    EXPECT_EQ(create_token(h.get(), "alice", *Role::parse("staff"), std::nullopt).error().reason, "exists");

    auto rows = query_rows(dir / "r.db", "SELECT token_hash FROM api_tokens ORDER BY id");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0], hash_token(*staff));
    EXPECT_EQ(rows[0][0].find(staff->substr(4)), std::string::npos);

    auto c = check_token(h.get(), *staff, 1'000'000);
    ASSERT_TRUE(c.is_ok());
    EXPECT_EQ(c->check, TokenCheck::valid);
    EXPECT_EQ(c->info.name, "alice");
    EXPECT_TRUE(c->info.role.staff);
    EXPECT_EQ(check_token(h.get(), *org, 1'000'000)->check, TokenCheck::valid);
    EXPECT_EQ(check_token(h.get(), *org, 2'000'000)->check, TokenCheck::expired);
    EXPECT_EQ(check_token(h.get(), "tbk_0000", 1)->check, TokenCheck::unknown);
    EXPECT_EQ(check_token(h.get(), staff->substr(0, 60), 1)->check, TokenCheck::unknown);

    ASSERT_TRUE(revoke_token(h.get(), "alice", 5).is_ok());
    EXPECT_EQ(check_token(h.get(), *staff, 6)->check, TokenCheck::revoked);
    EXPECT_EQ(revoke_token(h.get(), "alice", 7).error().reason, "not_found");
    EXPECT_EQ(list_tokens(h.get())->size(), 2u);
}

}  // namespace
}  // namespace tb::test
