#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <variant>

#include "common/clock.hpp"
#include "common/logging.hpp"
#include "store/migrations.hpp"

namespace tb::host {
namespace {

std::string errmsg(sqlite3* db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

// A prepared statement that finalizes itself.
class Stmt {
 public:
    Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    bool ok() const { return rc_ == SQLITE_OK; }
    sqlite3_stmt* get() const { return st_; }
    void text(int i, const std::string& s) {
        sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    void text_or_null(int i, const std::string& s) {
        if (s.empty())
            sqlite3_bind_null(st_, i);
        else
            text(i, s);
    }
    // For the row writer: `s` outlives step() and reset(), so SQLite need not copy it.
    void text_static(int i, const std::string& s) {
        sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    }
    void text_static_or_null(int i, const std::string& s) {
        if (s.empty())
            sqlite3_bind_null(st_, i);
        else
            text_static(i, s);
    }
    void i64(int i, int64_t v) { sqlite3_bind_int64(st_, i, v); }
    void f64(int i, double v) { sqlite3_bind_double(st_, i, v); }
    void null(int i) { sqlite3_bind_null(st_, i); }
    int step() { return sqlite3_step(st_); }
    void reset() {
        sqlite3_reset(st_);
        sqlite3_clear_bindings(st_);
    }

 private:
    sqlite3_stmt* st_ = nullptr;
    int rc_ = SQLITE_ERROR;
};

// Waits for another connection's lock for about 5 s (at least) in short, even steps. SQLite's own
// sqlite3_busy_timeout backs off 1, 2, 5, 10, 15, 20, 25... ms between tries, so a writer that
// finds the host mid-commit can sleep 50 ms past the moment the lock came free; the emergency
// stop (testbed trial suspend) writes while the host records, and has 100 ms in all.
int busy_wait_briefly(void*, int tries) {
    constexpr int kStepUs = 250;
    constexpr int kMaxTries = 5'000'000 / kStepUs;
    if (tries >= kMaxTries) return 0;
    std::this_thread::sleep_for(std::chrono::microseconds(kStepUs));
    return 1;
}

}  // namespace

int schema_version_latest() { return migrations().back().version; }

Status exec_sql(sqlite3* db, const char* sql, const std::string& what) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : errmsg(db);
        sqlite3_free(err);
        return Error{what + ": " + msg, "sqlite"};
    }
    return {};
}

Result<sqlite3*> open_database(const std::filesystem::path& file, bool create) {
    sqlite3* db = nullptr;
    const int flags =
        SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    if (!create && !std::filesystem::exists(file)) {
        return Error{
            file.string() + ": database does not exist (run the host first, or check --db)",
            "not_found"};
    }
    if (sqlite3_open_v2(file.c_str(), &db, flags, nullptr) != SQLITE_OK) {
        std::string msg = errmsg(db);
        sqlite3_close(db);
        return Error{
            file.string() + ": cannot open database: " + msg + " (check the path and permissions)",
            "open"};
    }
    sqlite3_busy_handler(db, busy_wait_briefly, nullptr);
    // Reject files that are not SQLite before touching them.
    if (auto s = exec_sql(db, "PRAGMA schema_version", file.string()); !s) {
        sqlite3_close(db);
        return Error{file.string() + ": is not a testbed results database (" + s.message() + ")",
                     "not_a_database"};
    }
    if (auto s = exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;", file.string());
        !s) {
        sqlite3_close(db);
        return s.error();
    }
    if (auto s = migrate(db, file.string()); !s) {
        sqlite3_close(db);
        return s.error();
    }
    return db;
}

struct SqliteStore::Impl {
    using Row = std::variant<MetricRow, EventRow>;
    struct Task {
        std::function<Status(sqlite3*)> fn;
        std::promise<Status> done;
    };

    std::filesystem::path file;
    SqliteOptions opt;
    sqlite3* db = nullptr;
    std::shared_ptr<spdlog::logger> log = logger("store");

    mutable std::mutex mu;
    std::condition_variable cv;
    std::vector<Row> queue;  // guarded by mu
    std::deque<Task> tasks;  // guarded by mu
    bool stopping = false;   // guarded by mu
    StoreStats st;           // guarded by mu
    std::thread writer;

    std::unique_ptr<Stmt> ins_metric, ins_event;

    void run() {
        std::vector<Row> batch;
        std::deque<Task> todo;
        for (;;) {
            {
                std::unique_lock lock(mu);
                cv.wait_for(lock, opt.flush_interval, [&] {
                    return stopping || !tasks.empty() || queue.size() >= opt.batch_rows;
                });
                batch.swap(queue);
                // The swapped-in vector may be small; growing it row by row while producers
                // hold the lock moves large variants around (seen in the W1 profile).
                if (queue.capacity() < opt.batch_rows) queue.reserve(opt.batch_rows);
                todo.swap(tasks);
                st.queue_depth = 0;
                if (batch.empty() && todo.empty() && stopping) return;
            }
            if (!batch.empty()) write(batch);
            batch.clear();
            for (auto& t : todo) {
                Status s;
                try {
                    s = t.fn(db);
                } catch (const std::exception& e) {
                    s = Error{std::string("store task failed: ") + e.what(), "internal"};
                }
                t.done.set_value(std::move(s));
            }
            todo.clear();
        }
    }

    // Write rows in transactions of at most batch_rows.
    void write(std::vector<Row>& rows) {
        std::size_t i = 0;
        while (i < rows.size()) {
            const std::size_t end = std::min(rows.size(), i + opt.batch_rows);
            bool ok = exec_sql(db, "BEGIN", "begin").is_ok();
            for (std::size_t k = i; ok && k < end; ++k) ok = insert(rows[k]);
            if (ok) ok = exec_sql(db, "COMMIT", "commit").is_ok();
            const uint64_t n = end - i;
            uint64_t committed = 0;
            {
                std::lock_guard lock(mu);
                if (ok) {
                    st.committed_rows += n;
                    ++st.commits;
                } else {
                    st.failed_rows += n;
                }
                committed = st.committed_rows;
            }
            if (!ok) {
                log->error(
                    "{}: writing {} row(s) failed: {}; they are lost, rows committed before are "
                    "safe",
                    file.string(), n, errmsg(db));
                sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
            } else if (opt.on_commit) {
                opt.on_commit(committed);
            }
            i = end;
        }
    }

    bool insert(const Row& row) {
        if (const auto* m = std::get_if<MetricRow>(&row)) {
            auto& s = *ins_metric;
            s.i64(1, m->series_id);
            s.text_static_or_null(2, m->subject);
            s.f64(3, m->value);
            s.i64(4, m->t_us);
            const int rc = s.step();
            s.reset();
            return rc == SQLITE_DONE;
        }
        const auto& e = std::get<EventRow>(row);
        auto& s = *ins_event;
        s.i64(1, e.run_id);
        if (e.plugin_row > 0)
            s.i64(2, e.plugin_row);
        else
            s.null(2);
        s.i64(3, e.severity);
        s.text_static(4, e.kind);
        s.text_static_or_null(5, e.subject);
        s.text_static(6, e.message);
        s.text_static_or_null(7, e.detail_json);
        s.i64(8, e.t_us);
        const int rc = s.step();
        s.reset();
        return rc == SQLITE_DONE;
    }

    bool enqueue(Row&& row) {
        std::lock_guard lock(mu);
        if (stopping || queue.size() >= opt.queue_capacity) {
            ++st.rejected;
            return false;
        }
        queue.push_back(std::move(row));
        ++st.queued;
        st.queue_depth = queue.size();
        if (queue.size() == opt.batch_rows) cv.notify_one();
        return true;
    }

    Status submit(std::function<Status(sqlite3*)> fn) {
        std::future<Status> f;
        {
            std::lock_guard lock(mu);
            if (!writer.joinable()) return Error{file.string() + ": store is closed", "closed"};
            Task t{std::move(fn), {}};
            f = t.done.get_future();
            tasks.push_back(std::move(t));
        }
        cv.notify_one();
        return f.get();
    }
};

SqliteStore::SqliteStore() : impl_(std::make_unique<Impl>()) {}

SqliteStore::~SqliteStore() { (void)close(); }

const std::filesystem::path& SqliteStore::file() const noexcept { return impl_->file; }

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::filesystem::path& file,
                                                       SqliteOptions options) {
    auto db = open_database(file, true);
    if (!db) return db.error();
    std::unique_ptr<SqliteStore> store(new SqliteStore());
    auto& im = *store->impl_;
    im.file = file;
    im.opt = std::move(options);
    im.db = *db;
    if (auto s = exec_sql(
            im.db,
            im.opt.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
            file.string());
        !s) {
        return s.error();
    }
    im.ins_metric = std::make_unique<Stmt>(
        im.db, "INSERT INTO metrics(series_id, subject, value, t_us) VALUES (?,?,?,?)");
    im.ins_event =
        std::make_unique<Stmt>(im.db,
                               "INSERT INTO events(run_id, plugin_row, severity, kind, subject, "
                               "message, detail_json, t_us) VALUES (?,?,?,?,?,?,?,?)");
    if (!im.ins_metric->ok() || !im.ins_event->ok()) {
        return Error{file.string() + ": cannot prepare statements: " + errmsg(im.db), "sqlite"};
    }
    im.queue.reserve(im.opt.batch_rows);
    im.writer = std::thread([&im] { im.run(); });
    return store;
}

Status SqliteStore::execute(std::function<Status(sqlite3*)> fn) {
    return impl_->submit(std::move(fn));
}

Result<int64_t> SqliteStore::begin_run(const RunInfo& info) {
    int64_t id = 0;
    auto s = execute([&](sqlite3* db) -> Status {
        Stmt st(
            db,
            "INSERT INTO runs(testbed, host_version, started_us, config_json) VALUES (?,?,?,?)");
        st.text(1, info.testbed);
        st.text(2, info.host_version);
        st.i64(3, info.started_us);
        st.text(4, info.config.dump());
        if (st.step() != SQLITE_DONE) return Error{"recording the run: " + errmsg(db), "sqlite"};
        id = sqlite3_last_insert_rowid(db);
        return {};
    });
    if (!s) return s.error();
    return id;
}

Result<PluginRecord> SqliteStore::register_plugin(const PluginRegistration& reg) {
    PluginRecord rec;
    auto s = execute([&](sqlite3* db) -> Status {
        if (auto b = exec_sql(db, "BEGIN", "register plugin"); !b) return b;
        Stmt st(db,
                "INSERT INTO plugins(run_id, instance, plugin_id, version, organisation, file, "
                "sha256, mode, trial_id, manifest_json) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)");
        st.i64(1, reg.run_id);
        st.text(2, reg.instance);
        st.text(3, reg.plugin_id);
        st.text(4, reg.version);
        st.text(5, reg.organisation);
        st.text(6, reg.file);
        st.text(7, reg.sha256);
        st.text(8, reg.mode);
        if (reg.trial_id)
            st.i64(9, *reg.trial_id);
        else
            st.null(9);
        st.text(10, reg.manifest.dump());
        if (st.step() != SQLITE_DONE) {
            exec_sql(db, "ROLLBACK", "");
            return Error{"recording plugin '" + reg.instance + "': " + errmsg(db), "sqlite"};
        }
        rec.plugin_row = sqlite3_last_insert_rowid(db);
        Stmt ss(
            db,
            "INSERT INTO series(plugin_row, name, unit, better, description) VALUES (?,?,?,?,?)");
        for (const auto& x : reg.series) {
            ss.i64(1, rec.plugin_row);
            ss.text(2, x.name);
            ss.text(3, x.unit);
            ss.text(4, x.better);
            ss.text(5, x.description);
            if (ss.step() != SQLITE_DONE) {
                exec_sql(db, "ROLLBACK", "");
                return Error{"recording metric '" + x.name + "' of plugin '" + reg.instance +
                                 "': " + errmsg(db),
                             "sqlite"};
            }
            rec.series_ids[x.name] = sqlite3_last_insert_rowid(db);
            ss.reset();
        }
        return exec_sql(db, "COMMIT", "register plugin");
    });
    if (!s) return s.error();
    return rec;
}

Status SqliteStore::save_plugin_stats(int64_t plugin_row, const nlohmann::json& stats) {
    return execute([&](sqlite3* db) -> Status {
        Stmt st(db, "UPDATE plugins SET stats_json = ? WHERE id = ?");
        st.text(1, stats.dump());
        st.i64(2, plugin_row);
        if (st.step() != SQLITE_DONE)
            return Error{"saving plugin statistics: " + errmsg(db), "sqlite"};
        return {};
    });
}

namespace {

// Feed health rows, drop counts and stale periods of one run, inside the caller's transaction.
bool write_feed_health(sqlite3* db, int64_t run_id, const std::vector<FeedHealthRow>& feeds,
                       const std::map<std::string, uint64_t>& drops,
                       const std::vector<StalePeriod>& periods) {
    bool ok = true;
    const int64_t now = now_us();
    Stmt fh(db,
            "INSERT OR REPLACE INTO feed_health(run_id, source, messages, bytes, gaps, duplicates, "
            "out_of_order, "
            "first_seen_us, last_seen_us, stale_after_s, stale, stale_count, updated_us) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    for (const auto& f : feeds) {
        if (!ok) break;
        fh.i64(1, run_id);
        fh.text(2, f.source);
        fh.i64(3, static_cast<int64_t>(f.messages));
        fh.i64(4, static_cast<int64_t>(f.bytes));
        fh.i64(5, static_cast<int64_t>(f.gaps));
        fh.i64(6, static_cast<int64_t>(f.duplicates));
        fh.i64(7, static_cast<int64_t>(f.out_of_order));
        // A configured source that has not sent anything yet has no first/last sight: NULL.
        if (f.messages == 0) {
            fh.null(8);
            fh.null(9);
        } else {
            fh.i64(8, f.first_seen_us);
            fh.i64(9, f.last_seen_us);
        }
        fh.i64(10, f.stale_after_s);
        fh.i64(11, f.stale ? 1 : 0);
        fh.i64(12, static_cast<int64_t>(f.stale_count));
        fh.i64(13, now);
        ok = fh.step() == SQLITE_DONE;
        fh.reset();
    }
    Stmt dr(db, "INSERT OR REPLACE INTO ingest_drops(run_id, reason, count) VALUES (?,?,?)");
    for (const auto& [reason, count] : drops) {
        if (!ok) break;
        dr.i64(1, run_id);
        dr.text(2, reason);
        dr.i64(3, static_cast<int64_t>(count));
        ok = dr.step() == SQLITE_DONE;
        dr.reset();
    }
    Stmt sp(db,
            "INSERT OR REPLACE INTO feed_stale_periods(run_id, source, from_us, until_us) VALUES "
            "(?,?,?,?)");
    for (const auto& p : periods) {
        if (!ok) break;
        sp.i64(1, run_id);
        sp.text(2, p.source);
        sp.i64(3, p.from_us);
        if (p.until_us > 0) sp.i64(4, p.until_us);
        ok = sp.step() == SQLITE_DONE;
        sp.reset();
    }
    return ok;
}

}  // namespace

Status SqliteStore::save_feed_health(int64_t run_id, const std::vector<FeedHealthRow>& feeds,
                                     const std::map<std::string, uint64_t>& drops,
                                     const std::vector<StalePeriod>& stale_periods) {
    return execute([&](sqlite3* db) -> Status {
        if (auto b = exec_sql(db, "BEGIN", "feed health"); !b) return b;
        if (!write_feed_health(db, run_id, feeds, drops, stale_periods)) {
            const std::string msg = errmsg(db);
            exec_sql(db, "ROLLBACK", "");
            return Error{"recording feed health of run " + std::to_string(run_id) + ": " + msg,
                         "sqlite"};
        }
        return exec_sql(db, "COMMIT", "feed health");
    });
}

Status SqliteStore::end_run(int64_t run_id, int64_t ended_us, const nlohmann::json& summary,
                            const std::vector<FeedHealthRow>& feeds,
                            const std::map<std::string, uint64_t>& drops) {
    return execute([&](sqlite3* db) -> Status {
        if (auto b = exec_sql(db, "BEGIN", "end run"); !b) return b;
        Stmt st(db, "UPDATE runs SET ended_us = ?, summary_json = ? WHERE id = ?");
        st.i64(1, ended_us);
        st.text(2, summary.dump());
        st.i64(3, run_id);
        bool ok = st.step() == SQLITE_DONE;
        if (ok) ok = write_feed_health(db, run_id, feeds, drops, {});
        if (!ok) {
            const std::string msg = errmsg(db);
            exec_sql(db, "ROLLBACK", "");
            return Error{"recording the end of run " + std::to_string(run_id) + ": " + msg,
                         "sqlite"};
        }
        return exec_sql(db, "COMMIT", "end run");
    });
}

bool SqliteStore::add_metric(MetricRow row) { return impl_->enqueue(std::move(row)); }
bool SqliteStore::add_event(EventRow row) { return impl_->enqueue(std::move(row)); }

Status SqliteStore::flush() {
    return execute([](sqlite3*) { return Status(); });
}

Status SqliteStore::close() {
    auto& im = *impl_;
    {
        std::lock_guard lock(im.mu);
        if (!im.writer.joinable()) return {};
        im.stopping = true;
    }
    im.cv.notify_one();
    im.writer.join();
    im.ins_metric.reset();
    im.ins_event.reset();
    Status s;
    if (sqlite3_close(im.db) != SQLITE_OK)
        s = Error{im.file.string() + ": close failed: " + errmsg(im.db), "sqlite"};
    im.db = nullptr;
    return s;
}

StoreStats SqliteStore::stats() const {
    std::lock_guard lock(impl_->mu);
    StoreStats s = impl_->st;
    s.queue_depth = impl_->queue.size();
    return s;
}

}  // namespace tb::host
