#include "store/sqlite_store.hpp"

#include "store/migrations.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <thread>

namespace tb::host {
namespace {

using ::testing::HasSubstr;

PluginRegistration registration(int64_t run_id) {
    PluginRegistration reg;
    reg.run_id = run_id;
    reg.instance = "gw";
    reg.plugin_id = "groundwater_alert";
    reg.version = "0.3.0";
    reg.organisation = "org";
    reg.file = "/x.so";
    reg.sha256 = std::string(64, 'a');
    reg.mode = "in-process";
    reg.manifest = nlohmann::json::object();
    reg.series = {{"level", "m", "neither", "level"}, {"level_mean", "m", "lower", "mean"}};
    return reg;
}

TEST(SqliteStore, CreatesTheSchemaAtTheLatestVersionInWalMode) {
    test::TempDir dir;
    const auto db = dir / "r.db";
    {
        auto store = SqliteStore::open(db);
        ASSERT_TRUE(store) << store.error().message;
    }
    EXPECT_EQ(test::query_int(db, "PRAGMA user_version"), schema_version_latest());
    EXPECT_EQ(test::query_rows(db, "PRAGMA journal_mode")[0][0], "wal");
    for (const char* table : {"runs", "plugins", "series", "metrics", "events", "feed_health", "ingest_drops", "trials", "audit_log"}) {
        EXPECT_EQ(test::query_int(db, std::string("SELECT COUNT(*) FROM sqlite_master WHERE name='") + table + "'"), 1) << table;
    }
}

TEST(SqliteStore, CommitsEveryQueuedRowFromManyThreadsTaggedWithPluginAndRun) {
    test::TempDir dir;
    const auto db = dir / "r.db";
    SqliteOptions opt;
    opt.batch_rows = 1000;
    uint64_t last_committed = 0;
    opt.on_commit = [&](uint64_t n) { last_committed = n; };
    auto store = SqliteStore::open(db, opt);
    ASSERT_TRUE(store) << store.error().message;
    auto run = (*store)->begin_run({"t", "0.1.0", 1, nlohmann::json::object()});
    ASSERT_TRUE(run);
    auto rec = (*store)->register_plugin(registration(*run));
    ASSERT_TRUE(rec) << rec.error().message;
    const int64_t series = rec->series_ids.at("level");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5000; ++i) ASSERT_TRUE((*store)->add_metric({series, "GW-" + std::to_string(t), i * 0.5, 1000 + i}));
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE((*store)->add_event({*run, rec->plugin_row, 2, "groundwater_high", "GW-1", "high", "{\"a\":1}", 5}));
    ASSERT_TRUE((*store)->flush());
    const auto st = (*store)->stats();
    EXPECT_EQ(st.committed_rows, 20001u);
    EXPECT_EQ(last_committed, 20001u);
    EXPECT_EQ(st.failed_rows, 0u);
    ASSERT_TRUE((*store)->close());
    EXPECT_EQ(test::query_int(db, "SELECT COUNT(*) FROM v_metrics WHERE instance='gw' AND metric='level' AND run_id=" + std::to_string(*run)), 20000);
    EXPECT_EQ(test::query_int(db, "SELECT COUNT(*) FROM v_events WHERE instance='gw' AND kind='groundwater_high'"), 1);
}

TEST(SqliteStore, FullQueueRejectsAndCountsInsteadOfBlocking) {
    test::TempDir dir;
    SqliteOptions opt;
    opt.queue_capacity = 10;
    opt.flush_interval = std::chrono::milliseconds(10'000);  // the writer will not drain in time
    opt.batch_rows = 1'000'000;
    auto store = SqliteStore::open(dir / "r.db", opt);
    ASSERT_TRUE(store);
    int accepted = 0;
    for (int i = 0; i < 25; ++i) accepted += (*store)->add_metric({1, "", 1.0, 1}) ? 1 : 0;
    EXPECT_EQ(accepted, 10);
    EXPECT_EQ((*store)->stats().rejected, 15u);
}

TEST(SqliteStore, RefusesADatabaseFromANewerVersionAndLeavesItUntouched) {
    test::TempDir dir;
    const auto db = dir / "r.db";
    { ASSERT_TRUE(SqliteStore::open(db)); }
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    sqlite3_exec(h, "PRAGMA user_version = 999", nullptr, nullptr, nullptr);
    sqlite3_close(h);
    auto again = SqliteStore::open(db);
    ASSERT_FALSE(again);
    EXPECT_THAT(again.error().message, HasSubstr("999"));
    EXPECT_THAT(again.error().message, HasSubstr("newer"));
    EXPECT_EQ(test::query_int(db, "PRAGMA user_version"), 999);
}

TEST(SqliteStore, RefusesAFileThatIsNotADatabase) {
    test::TempDir dir;
    test::write_file(dir / "notes.txt", "this is not sqlite, just some text that is long enough to look like a header....");
    auto s = SqliteStore::open(dir / "notes.txt");
    ASSERT_FALSE(s);
    EXPECT_THAT(s.error().message, HasSubstr("notes.txt"));
    EXPECT_THAT(s.error().message, HasSubstr("not a testbed results database"));
}

TEST(SqliteStore, ReopensAndKeepsEarlierRuns) {
    test::TempDir dir;
    const auto db = dir / "r.db";
    for (int round = 0; round < 2; ++round) {
        auto store = SqliteStore::open(db);
        ASSERT_TRUE(store);
        auto run = (*store)->begin_run({"t", "0.1.0", round, nlohmann::json::object()});
        ASSERT_TRUE(run);
        auto rec = (*store)->register_plugin(registration(*run));
        ASSERT_TRUE(rec);
        ASSERT_TRUE((*store)->add_metric({rec->series_ids.at("level"), "", 1.0, 1}));
        ASSERT_TRUE((*store)->end_run(*run, 2, {{"ok", true}}, {{"sensor/x", 3, 30, 1, 0, 0, 1, 2}}, {{"invalid_json", 4}}));
    }
    EXPECT_EQ(test::query_int(db, "SELECT COUNT(*) FROM runs WHERE ended_us IS NOT NULL"), 2);
    EXPECT_EQ(test::query_int(db, "SELECT COUNT(*) FROM metrics"), 2);
    EXPECT_EQ(test::query_int(db, "SELECT SUM(gaps) FROM feed_health"), 2);
    EXPECT_EQ(test::query_int(db, "SELECT SUM(count) FROM ingest_drops WHERE reason='invalid_json'"), 8);
}

}  // namespace
}  // namespace tb::host
