// The trial CLI (issue 5): bad input is refused with exit 2, leaves the trials unchanged and
// is audited; the audit chain detects edited and deleted rows; the register holds no personal
// data; rehearsal runs the plugin on a recording, apart from the live tables.
#include "gov_fixture.hpp"

#include "common/recording.hpp"
#include "wire/wire.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace tb::test::gov {
namespace {

struct Db {
    TempDir dir;
    fs::path db = dir / "results.db";
    int64_t trials() const { return count(db, "SELECT COUNT(*) FROM trials"); }
    int64_t refusals() const { return count(db, "SELECT COUNT(*) FROM audit_log WHERE outcome = 'refused'"); }
    std::string state(int64_t id) const {
        auto r = query_rows(db, "SELECT state FROM trials WHERE id = " + std::to_string(id));
        return r.empty() ? "" : r[0][0];
    }
};

TEST(TrialCli, ProposeRecordsHashAndManifestAndAcceptsIsoTimes) {
    Db d;
    auto r = cli({"trial", "propose", "--plugin", probe().string(), "--org", "Test BV", "--testbed", "gov-test",
                  "--reads", "sensor/footfall/", "--publishes", "alert/x/", "--from", "2030-01-01T09:00:00+01:00",
                  "--until", "2030-01-02T00:00:00Z", "--purpose", "count people", "--db", d.db.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto rows = query_rows(d.db, "SELECT plugin_id, plugin_sha256, from_us, until_us, state FROM trials");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], "gov_probe_a");
    EXPECT_EQ(rows[0][1].size(), 64u);
    EXPECT_EQ(rows[0][2], "1893484800000000");  // 2030-01-01T08:00:00Z
    EXPECT_EQ(rows[0][3], "1893542400000000");
    EXPECT_EQ(rows[0][4], "proposed");
    EXPECT_EQ(count(d.db, "SELECT COUNT(*) FROM audit_log WHERE action = 'propose' AND outcome = 'done'"), 1);
}

TEST(TrialCli, BadInputIsRefusedWithExit2AndChangesNothingButTheAudit) {
    Db d;
    const int64_t id = propose(d.db, probe());
    ASSERT_GT(id, 0);
    const std::string sid = std::to_string(id);
    int64_t refusals = d.refusals();
    auto expect_refused = [&](std::vector<std::string> args, const std::string& needle) {
        args.insert(args.end(), {"--db", d.db.string()});
        auto r = cli(args);
        EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
        EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
        EXPECT_EQ(d.refusals(), ++refusals) << "refusal not audited: " << r.err;
        EXPECT_EQ(d.trials(), 1);
        EXPECT_EQ(d.state(id), "proposed");
    };
    expect_refused({"trial", "approve", "999", "--by", "Alice", "--reason", "ok"}, "does not exist");
    expect_refused({"trial", "approve", sid, "--reason", "ok"}, "--by");
    expect_refused({"trial", "resume", sid, "--by", "Alice", "--reason", "ok"}, "not allowed");
    expect_refused({"trial", "propose", "--plugin", probe().string(), "--org", "X", "--testbed", "gov-test", "--reads",
                    "sensor/", "--from", "2030-01-02T00:00:00Z", "--until", "2030-01-01T00:00:00Z", "--purpose", "p"},
                   "inverted");
    expect_refused({"trial", "propose", "--plugin", probe().string(), "--org", "X", "--testbed", "gov-test", "--reads",
                    "sensor/", "--from", "2030-01-01T00:00:00", "--until", "2030-01-02T00:00:00Z", "--purpose", "p"},
                   "no time zone");
    expect_refused({"trial", "propose", "--plugin", probe().string(), "--org", "X", "--testbed", "gov-test", "--reads",
                    "drone/", "--from", unix_s(0), "--until", unix_s(60), "--purpose", "p"},
                   "more than plugin");
    expect_refused({"trial", "propose", "--plugin", probe().string(), "--org", "X", "--testbed", "gov-test", "--reads",
                    "sensor/", "--publishes", "cmd/", "--from", unix_s(0), "--until", unix_s(60), "--purpose", "p"},
                   "more than plugin");

    // Illegal transition after a legal one; then overlapping windows.
    decide(d.db, "approve", id);
    EXPECT_EQ(d.refusals(), refusals);
    auto r = cli({"trial", "approve", sid, "--by", "Alice", "--reason", "again", "--db", d.db.string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(d.refusals(), ++refusals);
    r = cli({"trial", "propose", "--plugin", probe().string(), "--org", "X", "--testbed", "gov-test", "--reads",
             "sensor/", "--from", unix_s(0), "--until", unix_s(60), "--purpose", "p", "--db", d.db.string()});
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.err.find("overlaps live trial " + sid), std::string::npos) << r.err;
    EXPECT_EQ(d.trials(), 1);
    EXPECT_EQ(d.refusals(), ++refusals);
}

TEST(TrialCli, ApprovingAChangedPluginFileIsRefused) {
    Db d;
    const fs::path copy = d.dir / "copy.so";
    fs::copy_file(probe(), copy);
    const int64_t id = propose(d.db, copy);
    ASSERT_GT(id, 0);
    {
        std::ofstream f(copy, std::ios::app | std::ios::binary);
        f << '\0';
    }
    auto r = cli({"trial", "approve", std::to_string(id), "--by", "Alice", "--reason", "ok", "--db", d.db.string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("changed since"), std::string::npos) << r.err;
    EXPECT_EQ(d.state(id), "proposed");
}

TEST(TrialCli, AuditVerifyDetectsEditedAndDeletedRows) {
    Db d;
    const int64_t id = propose(d.db, probe());
    decide(d.db, "approve", id);
    decide(d.db, "suspend", id);
    decide(d.db, "resume", id);
    auto ok = cli({"audit", "verify", "--db", d.db.string()});
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_NE(ok.out.find("4 row(s)"), std::string::npos) << ok.out;

    // The table refuses changes outright...
    auto copy = [&](const std::string& name) {
        const fs::path p = d.dir / name;
        fs::copy_file(d.db, p);
        return p;
    };
    const fs::path edited = copy("edited.db"), middle = copy("middle.db"), tail = copy("tail.db");
    auto sql = [](const fs::path& db, const std::string& s) {
        return run("/usr/bin/sqlite3", {db.string(), s});
    };
    auto blocked = sql(edited, "UPDATE audit_log SET reason = 'nothing happened' WHERE id = 2");
    EXPECT_NE(blocked.exit_code, 0);
    EXPECT_NE(blocked.err.find("append-only"), std::string::npos) << blocked.err;
    // ...and a tamperer who drops the triggers is still caught by the chain.
    const std::string drop = "DROP TRIGGER audit_log_append_only_update; DROP TRIGGER audit_log_append_only_delete; ";
    ASSERT_EQ(sql(edited, drop + "UPDATE audit_log SET reason = 'nothing happened' WHERE id = 2").exit_code, 0);
    auto r = cli({"audit", "verify", "--db", edited.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("row 2"), std::string::npos) << r.err;

    ASSERT_EQ(sql(middle, drop + "DELETE FROM audit_log WHERE id = 3").exit_code, 0);
    r = cli({"audit", "verify", "--db", middle.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("row 3"), std::string::npos) << r.err;

    ASSERT_EQ(sql(tail, drop + "DELETE FROM audit_log WHERE id = 4").exit_code, 0);
    r = cli({"audit", "verify", "--db", tail.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("row 4"), std::string::npos) << r.err;
}

TEST(TrialCli, RegisterIsPublicAndHasNoPersonalData) {
    Db d;
    const int64_t id = propose(d.db, probe());
    decide(d.db, "approve", id);
    const fs::path out = d.dir / "register";
    auto r = cli({"register", "--out", out.string(), "--db", d.db.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(read_file(out / "register.json"));
    ASSERT_EQ(j["trials"].size(), 1u);
    EXPECT_EQ(j["trials"][0]["organisation"], "Test BV");
    EXPECT_EQ(j["trials"][0]["state"], "approved");
    EXPECT_TRUE(j["audit"]["intact"].get<bool>());
    const std::string html = read_file(out / "index.html");
    EXPECT_NE(html.find("governance test"), std::string::npos);
    for (const auto& text : {read_file(out / "register.json"), html}) {
        EXPECT_EQ(text.find("Alice"), std::string::npos) << "staff names are personal data";
        EXPECT_EQ(text.find(d.dir.path().string()), std::string::npos) << "file paths can hold user names";
    }
}

TEST(TrialCli, RehearseRunsThePluginOnARecordingApartFromLiveResults) {
    Db d;
    const int64_t id = propose(d.db, probe(), {"--reads", "sensor/footfall/", "--publishes", "alert/ok/", "--config",
                                               R"({"publish_ok": "alert/ok/", "publish_other": "alert/no/"})"});
    const fs::path rec = d.dir / "city.tbrec";
    {
        auto w = tools::RecordingWriter::create(rec, {{"testbed", "gov-test"}});
        ASSERT_TRUE(w) << w.error().message;
        for (uint64_t i = 1; i <= 30; ++i) {
            const std::string topic = i % 3 == 0 ? "sensor/groundwater/GW-0001" : "sensor/footfall/FF-0001";
            const auto hdr = wire::encode_header({1, wire::ContentType::senml_json, 0, i, 0});
            ASSERT_TRUE((*w)->write({static_cast<int64_t>(i), {topic, std::string(hdr.data(), hdr.size()),
                                                               senml("urn:x:", "v", "count", 1, 0)}}));
        }
        ASSERT_TRUE((*w)->close());
    }
    auto r = cli({"trial", "rehearse", std::to_string(id), "--replay", rec.string(), "--db", d.db.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto show = cli({"trial", "show", std::to_string(id), "--db", d.db.string()});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    const auto j = nlohmann::json::parse(show.out);
    ASSERT_EQ(j["rehearsals"].size(), 1u);
    const auto& s = j["rehearsals"][0]["summary"];
    EXPECT_EQ(s["messages_in_recording"], 30);
    EXPECT_EQ(s["messages_in_grant"], 20);
    EXPECT_EQ(s["plugin"]["delivered"], 20);
    EXPECT_EQ(s["plugin"]["published"], 20);
    EXPECT_EQ(s["plugin"]["publish_denied"], 20);
    EXPECT_EQ(s["metrics"]["seen"]["count"], 20);
    EXPECT_TRUE(s["plugin"].contains("callback_p99_us"));
    EXPECT_EQ(count(d.db, "SELECT COUNT(*) FROM metrics"), 0) << "rehearsal must not touch live results";
    EXPECT_EQ(d.state(id), "proposed");
    r = cli({"trial", "rehearse", std::to_string(id), "--replay", (d.dir / "missing.tbrec").string(), "--db",
             d.db.string()});
    EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace tb::test::gov
