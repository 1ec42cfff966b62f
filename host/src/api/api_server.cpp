#include "api/api_server.hpp"

#include <sqlite3.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "api/dashboard_assets.hpp"
#include "api/tokens.hpp"
#include "common/clock.hpp"
#include "common/logging.hpp"
#include "host/host.hpp"
#include "store/sqlite_store.hpp"

namespace tb::host::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

constexpr std::size_t kMaxEventsPerQuery = 1000;
constexpr int kKeepaliveTicks = 50;  // stream comment every kKeepaliveTicks event polls

struct Reply {
    http::status status = http::status::ok;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

// Replies quote what they were given (a request path, a parameter, a feed's text payload), which
// need not be UTF-8; dump() would throw on it (found by the http_request fuzz target), so invalid
// bytes become U+FFFD instead.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Reply json_reply(const json& j, http::status st = http::status::ok) {
    return {st, dump(j) + "\n", "application/json", {}};
}

Reply error_reply(http::status st, const std::string& error, const std::string& detail) {
    return json_reply({{"error", error}, {"detail", detail}}, st);
}

std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size()) {
            int v = 0;
            auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (r.ec == std::errc() && r.ptr == s.data() + i + 3) {
                out += static_cast<char>(v);
                i += 2;
            } else {
                out += s[i];
            }
        } else {
            out += s[i];
        }
    }
    return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const std::string_view part = q.substr(0, amp);
        const auto eq = part.find('=');
        if (!part.empty()) {
            out[url_decode(part.substr(0, eq))] =
                eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1));
        }
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return out;
}

std::optional<int64_t> parse_i64(std::string_view s) {
    int64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

// "2026-11-28T16:00:00Z" (UTC; fractional seconds allowed) -> microseconds since the epoch.
std::optional<int64_t> parse_iso_time(const std::string& s) {
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) return std::nullopt;
    double frac = 0;
    if (*end == '.') {
        char* after = nullptr;
        frac = std::strtod(end, &after);
        end = after;
    }
    if (std::string_view(end) != "Z" && std::string_view(end) != "+00:00" && *end != '\0')
        return std::nullopt;
    return static_cast<int64_t>(timegm(&tm)) * 1'000'000 + static_cast<int64_t>(frac * 1e6);
}

std::string iso_time(int64_t t_us) {
    const std::time_t secs = static_cast<std::time_t>(t_us / 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>((t_us % 1'000'000) / 1000));
    return out;
}

bool has_prefix(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string col_text(sqlite3_stmt* st, int i) {
    const auto* p = sqlite3_column_text(st, i);
    return p ? reinterpret_cast<const char*>(p) : "";
}

json col_json_or_null(sqlite3_stmt* st, int i) {
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return nullptr;
    return sqlite3_column_int64(st, i);
}

const char* severity_name(int s) {
    static const char* kNames[] = {"?", "info", "warning", "major", "critical"};
    return (s >= 1 && s <= 4) ? kNames[s] : "?";
}

// Prometheus label value escaping: backslash, double quote and newline.
std::string prom_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

struct Caller {
    Role role;
    std::string name;
    bool sees(const std::string& organisation) const {
        return role.staff || organisation == role.organisation;
    }
};

// What handling one request leads to: a reply (then keep reading, unless `close`), or the start
// of an event stream for `role` beginning with `backlog`.
struct Outcome {
    Reply reply;
    bool close = false;
    bool stream = false;
    Role role;
    std::vector<json> backlog;
};

Outcome answer(Reply r, bool close = false) {
    Outcome o;
    o.reply = std::move(r);
    o.close = close;
    return o;
}

// The reply to a request that could not be read (`ec` from the request parser), or nothing when
// the connection should just be closed (the client went away, a timeout, shutdown).
std::optional<Reply> read_error_reply(const beast::error_code& ec, const ApiOptions& opt) {
    if (ec == http::error::body_limit) {
        return error_reply(
            http::status::payload_too_large, "body_too_large",
            "request bodies are limited to " + std::to_string(opt.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
        return error_reply(
            http::status::request_header_fields_too_large, "headers_too_large",
            "request headers are limited to " + std::to_string(opt.max_header_bytes) + " bytes");
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted) {
        return std::nullopt;
    }
    if (std::string_view(ec.category().name()) == "beast.http") {
        return error_reply(http::status::bad_request, "malformed_request",
                           "the request is not valid HTTP/1.1: " + ec.message());
    }
    return std::nullopt;
}

// A reply to HEAD carries the headers a GET would (Content-Length included) and no body: a
// keep-alive client would read a body as the start of the next response.
http::response<http::string_body> make_response(Reply r, bool keep_alive, bool head) {
    http::response<http::string_body> res(r.status, 11);
    res.set(http::field::server, "testbed-host");
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : r.headers) res.set(k, v);
    res.body() = std::move(r.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    if (head) res.body().clear();
    return res;
}

constexpr std::string_view kStreamHead =
    "HTTP/1.1 200 OK\r\nServer: testbed-host\r\nContent-Type: text/event-stream\r\n"
    "Cache-Control: no-store\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n"
    "retry: 2000\n: stream open\n\n";

class Session;

}  // namespace

struct ApiServer::Impl {
    // Declared before the io_context so that sessions destroyed with it can still update them.
    std::size_t connections = 0;
    std::size_t streams = 0;
    std::unordered_set<Session*> sessions;
    std::vector<std::weak_ptr<Session>> subscribers;

    ApiOptions opt;
    const Host* host = nullptr;
    TrialActions actions;
    std::shared_ptr<const LastValues> last_values;
    std::shared_ptr<spdlog::logger> log = logger("api");
    sqlite3* db = nullptr;

    // Cached view of the host, refreshed at most every snapshot_ttl (API thread only).
    json snap;
    int64_t snap_at_ns = 0;
    std::vector<FeedHealthRow> feeds;
    std::map<std::string, double> feed_rate_hz;
    std::map<std::string, uint64_t> rate_base_messages;
    uint64_t rate_base_received = 0;
    int64_t rate_base_ns = 0;
    double received_rate_hz = 0;

    int64_t last_event_id = 0;
    int poll_ticks = 0;
    bool stopping = false;

    net::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    net::steady_timer poll_timer{ioc};
    net::steady_timer accept_retry{ioc};
    std::thread thread;
    std::atomic<uint16_t> bound_port{0};
    std::string address;

    ~Impl() {
        if (db) sqlite3_close(db);
    }

    void accept();
    void reject(tcp::socket& s);
    void poll_events();
    void refresh();
    Outcome handle(const http::request<http::string_body>& req);
    Result<Caller> authenticate(const http::request<http::string_body>& req,
                                const std::map<std::string, std::string>& query);
    Result<std::vector<json>> query_events(int64_t after_id, int64_t since_us, std::size_t limit,
                                           const std::optional<std::string>& org);
    Result<json> query_trials(const Caller& c, std::optional<int64_t> id);
    json plugin_list(const Caller& c);
    std::vector<std::string> org_reads(const Caller& c);
    bool topic_visible(const Caller& c, const std::vector<std::string>& reads,
                       std::string_view topic);
    json feed_list(const Caller& c);
    Reply status(const Caller& c);
    Reply latest(const Caller& c, const std::map<std::string, std::string>& q);
    Reply zone();
    Reply metrics(const Caller& c);
    Reply trial_action(const Caller& c, int64_t id, const std::string& verb,
                       const std::string& body);
    Reply events(const Caller& c, const std::map<std::string, std::string>& q);
};

namespace {

std::string sse_frame(const json& ev) {
    return "id: " + std::to_string(ev["id"].get<int64_t>()) + "\nevent: event\ndata: " + dump(ev) +
           "\n\n";
}

// One client connection: reads requests (keep-alive) and writes replies, or, after a request for
// the event stream, writes server-sent events until either side closes.
class Session : public std::enable_shared_from_this<Session> {
 public:
    Session(tcp::socket&& socket, ApiServer::Impl& im) : stream_(std::move(socket)), im_(im) {
        ++im_.connections;
        im_.sessions.insert(this);
    }
    ~Session() {
        --im_.connections;
        im_.sessions.erase(this);
        if (streaming_) --im_.streams;
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void run() { read(); }

    void read() {
        parser_.emplace();
        parser_->body_limit(im_.opt.max_body_bytes);
        parser_->header_limit(static_cast<std::uint32_t>(im_.opt.max_header_bytes));
        stream_.expires_after(im_.opt.read_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void send(Reply r, bool close = false) {
        auto res = std::make_shared<http::response<http::string_body>>(
            make_response(std::move(r), !close && keep_alive_, head_));
        stream_.expires_after(im_.opt.write_timeout);
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                              if (ec || res->need_eof()) return self->shutdown();
                              self->read();
                          });
    }

    void start_stream(Role role, const std::vector<json>& backlog) {
        streaming_ = true;
        role_ = std::move(role);
        ++im_.streams;
        im_.subscribers.push_back(weak_from_this());
        push(std::string(kStreamHead));
        for (const auto& ev : backlog) push(sse_frame(ev));
        // The client never sends anything more; a read completes only when it closes.
        stream_.socket().async_read_some(
            net::buffer(sink_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
                (void)ec;
                self->shutdown();
            });
    }

    bool streaming() const { return streaming_; }
    bool wants(const std::string& organisation) const {
        return role_.staff || organisation == role_.organisation;
    }

    void push(std::string data) {
        if (closed_) return;
        if (queued_bytes_ + data.size() > im_.opt.max_stream_backlog_bytes) {
            im_.log->warn(
                "event stream client {} is not reading ({} bytes unsent); disconnecting it", peer(),
                queued_bytes_);
            return shutdown();
        }
        queued_bytes_ += data.size();
        out_.push_back(std::move(data));
        if (!writing_) write_next();
    }

    void shutdown() {
        if (closed_) return;
        closed_ = true;
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }

 private:
    std::string peer() {
        beast::error_code ec;
        auto ep = stream_.socket().remote_endpoint(ec);
        return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
    }

    void write_next() {
        writing_ = true;
        stream_.expires_after(im_.opt.write_timeout);
        net::async_write(stream_, net::buffer(out_.front()),
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             self->writing_ = false;
                             if (ec) return self->shutdown();
                             self->queued_bytes_ -= self->out_.front().size();
                             self->out_.pop_front();
                             if (!self->out_.empty()) self->write_next();
                         });
    }

    void on_read(beast::error_code ec, std::size_t) {
        head_ = false;
        if (ec) {
            keep_alive_ = false;
            if (auto r = read_error_reply(ec, im_.opt)) return send(std::move(*r), true);
            return shutdown();
        }
        keep_alive_ = parser_->get().keep_alive();
        head_ = parser_->get().method() == http::verb::head;
        Outcome o = im_.handle(parser_->get());
        if (o.stream && head_)
            return send(Reply{http::status::ok, "", "text/event-stream", {}}, true);
        if (o.stream) return start_stream(std::move(o.role), o.backlog);
        send(std::move(o.reply), o.close);
    }

    beast::tcp_stream stream_;
    ApiServer::Impl& im_;
    beast::flat_buffer buffer_;  // the parser's header and body limits bound it
    std::optional<http::request_parser<http::string_body>> parser_;
    bool keep_alive_ = true;
    bool head_ = false;  // the request being answered is a HEAD
    bool closed_ = false;
    // Event stream state.
    bool streaming_ = false;
    bool writing_ = false;
    Role role_;
    std::deque<std::string> out_;
    std::size_t queued_bytes_ = 0;
    std::array<char, 256> sink_{};
};

}  // namespace

void ApiServer::Impl::accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
        if (stopping) return;
        if (ec) {
            // E.g. out of file descriptors: back off instead of spinning.
            log->warn("accepting an API connection failed: {}; retrying in 100 ms", ec.message());
            accept_retry.expires_after(std::chrono::milliseconds(100));
            accept_retry.async_wait([this](beast::error_code e) {
                if (!e && !stopping) accept();
            });
            return;
        }
        if (connections >= opt.max_connections)
            reject(socket);
        else
            std::make_shared<Session>(std::move(socket), *this)->run();
        accept();
    });
}

void ApiServer::Impl::reject(tcp::socket& s) {
    // Never blocks: one non-blocking write of a small reply, then close.
    static const std::string kBody =
        R"({"error":"too_many_connections","detail":"the API serves a limited number of connections; retry later"})";
    static const std::string kReply =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
        std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
    beast::error_code ec;
    s.non_blocking(true, ec);
    s.write_some(net::buffer(kReply), ec);
    s.close(ec);
}

void ApiServer::Impl::refresh() {
    const int64_t now = mono_ns();
    if (snap_at_ns != 0 && now - snap_at_ns < std::chrono::nanoseconds(opt.snapshot_ttl).count())
        return;
    snap = host->snapshot();
    feeds = host->feed_health();
    snap_at_ns = now;
    // Rates over at least one second, so they do not jump with every refresh.
    const uint64_t received = snap.value("received", uint64_t{0});
    if (rate_base_ns == 0) {
        rate_base_ns = now;
        rate_base_received = received;
        for (const auto& f : feeds) rate_base_messages[f.source] = f.messages;
    } else if (now - rate_base_ns >= 1'000'000'000) {
        const double dt = static_cast<double>(now - rate_base_ns) / 1e9;
        received_rate_hz = static_cast<double>(received - rate_base_received) / dt;
        feed_rate_hz.clear();
        for (const auto& f : feeds) {
            auto it = rate_base_messages.find(f.source);
            const uint64_t base = it == rate_base_messages.end() ? 0 : it->second;
            feed_rate_hz[f.source] = static_cast<double>(f.messages - base) / dt;
        }
        rate_base_messages.clear();
        for (const auto& f : feeds) rate_base_messages[f.source] = f.messages;
        rate_base_ns = now;
        rate_base_received = received;
    }
}

void ApiServer::Impl::poll_events() {
    poll_timer.expires_after(opt.event_poll);
    poll_timer.async_wait([this](beast::error_code ec) {
        if (ec || stopping) return;
        // Drop subscribers that have gone.
        std::erase_if(subscribers, [](const auto& w) { return w.expired(); });
        if (!subscribers.empty()) {
            auto evs = query_events(last_event_id, 0, kMaxEventsPerQuery, std::nullopt);
            if (evs) {
                for (const auto& ev : evs.value()) {
                    last_event_id = ev["id"].get<int64_t>();
                    const std::string org =
                        ev["organisation"].is_string() ? ev["organisation"].get<std::string>() : "";
                    const std::string frame = sse_frame(ev);
                    for (const auto& w : subscribers) {
                        if (auto s = w.lock(); s && s->wants(org)) s->push(frame);
                    }
                }
            } else {
                log->warn("reading new events for the event stream: {}", evs.error().message);
            }
            if (++poll_ticks % kKeepaliveTicks == 0) {
                for (const auto& w : subscribers) {
                    if (auto s = w.lock()) s->push(": keepalive\n\n");
                }
            }
        } else {
            // Nobody listens: only move the cursor, so a new stream starts at "now".
            sqlite3_stmt* st = nullptr;
            if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(id), 0) FROM events", -1, &st,
                                   nullptr) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW) {
                last_event_id = sqlite3_column_int64(st, 0);
            }
            sqlite3_finalize(st);
        }
        poll_events();
    });
}

Result<std::vector<json>> ApiServer::Impl::query_events(int64_t after_id, int64_t since_us,
                                                        std::size_t limit,
                                                        const std::optional<std::string>& org) {
    static const char* kSql =
        "SELECT e.id, e.run_id, p.trial_id, p.instance, p.plugin_id, p.organisation, e.severity, "
        "e.kind, "
        "e.subject, e.message, e.detail_json, e.t_us FROM events e LEFT JOIN plugins p ON p.id = "
        "e.plugin_row "
        "WHERE e.id > ?1 AND e.t_us >= ?2 AND (?3 IS NULL OR p.organisation = ?3) ORDER BY e.id "
        "LIMIT ?4";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, kSql, -1, &st, nullptr) != SQLITE_OK) {
        return Error{std::string("reading events: ") + sqlite3_errmsg(db), "sqlite"};
    }
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, since_us);
    if (org) sqlite3_bind_text(st, 3, org->c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, static_cast<int64_t>(limit));
    std::vector<json> out;
    int rc = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json detail = nullptr;
        if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
            detail = json::parse(col_text(st, 10), nullptr, false);
            if (detail.is_discarded()) detail = col_text(st, 10);
        }
        const int sev = sqlite3_column_int(st, 6);
        const int64_t t = sqlite3_column_int64(st, 11);
        auto opt_text = [st](int i) -> json {
            if (sqlite3_column_type(st, i) == SQLITE_NULL) return nullptr;
            return col_text(st, i);
        };
        out.push_back({{"id", sqlite3_column_int64(st, 0)},
                       {"run_id", sqlite3_column_int64(st, 1)},
                       {"trial_id", col_json_or_null(st, 2)},
                       {"instance", opt_text(3)},
                       {"plugin_id", opt_text(4)},
                       {"organisation", opt_text(5)},
                       {"severity", severity_name(sev)},
                       {"severity_level", sev},
                       {"kind", col_text(st, 7)},
                       {"subject", opt_text(8)},
                       {"message", col_text(st, 9)},
                       {"detail", detail},
                       {"t_us", t},
                       {"time", iso_time(t)}});
    }
    const bool failed = rc != SQLITE_DONE;
    sqlite3_finalize(st);
    if (failed) return Error{std::string("reading events: ") + sqlite3_errmsg(db), "sqlite"};
    return out;
}

Result<json> ApiServer::Impl::query_trials(const Caller& c, std::optional<int64_t> id) {
    static const char* kSql =
        "SELECT id, plugin_id, plugin_version, plugin_sha256, organisation, testbed, state, "
        "from_us, until_us, "
        "purpose, trust, reads_json, publishes_json, created_us, updated_us FROM trials "
        "WHERE (?1 IS NULL OR organisation = ?1) AND (?2 IS NULL OR id = ?2) ORDER BY id";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, kSql, -1, &st, nullptr) != SQLITE_OK) {
        return Error{std::string("reading trials: ") + sqlite3_errmsg(db), "sqlite"};
    }
    if (!c.role.staff) sqlite3_bind_text(st, 1, c.role.organisation.c_str(), -1, SQLITE_TRANSIENT);
    if (id) sqlite3_bind_int64(st, 2, *id);
    json out = json::array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        auto arr = [st](int i) {
            json j = json::parse(col_text(st, i), nullptr, false);
            return j.is_discarded() ? json::array() : j;
        };
        out.push_back({{"id", sqlite3_column_int64(st, 0)},
                       {"plugin_id", col_text(st, 1)},
                       {"plugin_version", col_text(st, 2)},
                       {"plugin_sha256", col_text(st, 3)},
                       {"organisation", col_text(st, 4)},
                       {"testbed", col_text(st, 5)},
                       {"state", col_text(st, 6)},
                       {"from_us", sqlite3_column_int64(st, 7)},
                       {"until_us", sqlite3_column_int64(st, 8)},
                       {"purpose", col_text(st, 9)},
                       {"trust", col_text(st, 10)},
                       {"reads", arr(11)},
                       {"publishes", arr(12)},
                       {"created_us", sqlite3_column_int64(st, 13)},
                       {"updated_us", sqlite3_column_int64(st, 14)}});
    }
    sqlite3_finalize(st);
    return out;
}

json ApiServer::Impl::plugin_list(const Caller& c) {
    refresh();
    json out = json::array();
    for (const auto& p : snap["plugins"]) {
        if (c.sees(p.value("organisation", ""))) out.push_back(p);
    }
    return out;
}

std::vector<std::string> ApiServer::Impl::org_reads(const Caller& c) {
    std::vector<std::string> reads;
    for (const auto& p : plugin_list(c)) {
        if (p.contains("reads")) {
            for (const auto& r : p["reads"]) reads.push_back(r.get<std::string>());
        }
    }
    return reads;
}

bool ApiServer::Impl::topic_visible(const Caller& c, const std::vector<std::string>& reads,
                                    std::string_view topic) {
    if (c.role.staff) return true;
    for (const auto& r : reads) {
        if (has_prefix(topic, r)) return true;
    }
    return false;
}

json ApiServer::Impl::feed_list(const Caller& c) {
    refresh();
    const auto reads = org_reads(c);
    const int64_t now = now_us();
    json out = json::array();
    for (const auto& f : feeds) {
        if (!topic_visible(c, reads, f.source)) continue;
        const auto* group = host->testbed().sensor_group_for(f.source);
        // A configured source that has not sent anything yet: no sight, no age; the receiver
        // says whether it has been silent past its limit since the host started.
        const bool heard = f.messages > 0;
        const double age_s = static_cast<double>(now - f.last_seen_us) / 1e6;
        const bool stale =
            heard ? (group ? age_s > static_cast<double>(group->stale_after.count()) : false)
                  : f.stale;
        auto rate = feed_rate_hz.find(f.source);
        out.push_back({{"source", f.source},
                       {"group", group ? json(group->kind) : json(nullptr)},
                       {"messages", f.messages},
                       {"bytes", f.bytes},
                       {"gaps", f.gaps},
                       {"duplicates", f.duplicates},
                       {"out_of_order", f.out_of_order},
                       {"first_seen_us", heard ? json(f.first_seen_us) : json(nullptr)},
                       {"last_seen_us", heard ? json(f.last_seen_us) : json(nullptr)},
                       {"last_seen_age_s", heard ? json(age_s) : json(nullptr)},
                       {"rate_hz", rate == feed_rate_hz.end() ? 0.0 : rate->second},
                       {"stale", stale}});
    }
    std::sort(out.begin(), out.end(),
              [](const json& a, const json& b) { return a["source"] < b["source"]; });
    return out;
}

Reply ApiServer::Impl::status(const Caller& c) {
    refresh();
    const auto& cfg = host->testbed();
    json j{{"testbed", cfg.id},
           {"name", cfg.name},
           {"host_version", kHostVersion},
           {"run_id", snap.value("run_id", int64_t{0})},
           {"uptime_s", snap.value("uptime_s", 0.0)},
           {"caller", {{"name", c.name}, {"role", c.role.to_string()}}}};
    const json plugins = plugin_list(c);
    j["plugins"] = {{"count", plugins.size()}};
    uint64_t running = 0;
    for (const auto& p : plugins) running += p.value("state", "") == "running" ? 1 : 0;
    j["plugins"]["running"] = running;
    if (c.role.staff) {
        j["received"] = snap.value("received", uint64_t{0});
        j["received_rate_hz"] = received_rate_hz;
        j["routed"] = snap.value("routed", uint64_t{0});
        j["unrouted"] = snap.value("unrouted", uint64_t{0});
        j["ingest_dropped"] = snap.value("ingest_dropped", uint64_t{0});
        j["input_rescues"] = snap.value("input_rescues", uint64_t{0});
        j["published"] = snap.value("published", uint64_t{0});
        j["store"] = snap.value("store", json::object());
        j["api"] = {{"connections", connections},
                    {"streams", streams},
                    {"cached_topics", last_values->size()}};
    }
    return json_reply(j);
}

Reply ApiServer::Impl::latest(const Caller& c, const std::map<std::string, std::string>& q) {
    const auto pit = q.find("prefix");
    const std::string prefix = pit == q.end() ? "" : pit->second;
    std::size_t limit = 5000;
    if (auto it = q.find("limit"); it != q.end()) {
        auto n = parse_i64(it->second);
        if (!n || *n < 1 || *n > 5000) {
            return error_reply(http::status::bad_request, "bad_parameter",
                               "limit must be an integer from 1 to 5000, got '" + it->second + "'");
        }
        limit = static_cast<std::size_t>(*n);
    }
    const auto reads = org_reads(c);
    json out = json::array();
    for (const auto& m : last_values->with_prefix(prefix)) {
        if (out.size() >= limit) break;
        if (!topic_visible(c, reads, m->topic)) continue;
        json value;
        if (m->header.content_type == wire::ContentType::senml_json ||
            m->header.content_type == wire::ContentType::json) {
            value = json::parse(m->payload, nullptr, false);
            if (value.is_discarded()) value = nullptr;
        } else if (m->header.content_type == wire::ContentType::text) {
            value = m->payload.substr(0, 1024);
        }
        out.push_back({{"topic", m->topic},
                       {"t_us", m->receive_time_us},
                       {"source_time_us", m->header.source_time_us},
                       {"sequence", m->header.sequence},
                       {"value", value}});
    }
    return json_reply(out);
}

Reply ApiServer::Impl::zone() {
    const auto& cfg = host->testbed();
    json groups = json::array();
    for (const auto& g : cfg.sensors) {
        groups.push_back({{"kind", g.kind},
                          {"topic_prefix", g.topic_prefix},
                          {"id_prefix", g.id_prefix},
                          {"count", g.count},
                          {"unit", g.unit},
                          {"personal", g.personal},
                          {"stale_after_s", g.stale_after.count()}});
    }
    return json_reply(
        {{"testbed", cfg.id}, {"name", cfg.name}, {"zone", cfg.zone}, {"sensors", groups}});
}

Reply ApiServer::Impl::metrics(const Caller& c) {
    refresh();
    std::ostringstream o;
    const std::string tbid = prom_escape(host->testbed().id);
    auto family = [&o](const char* name, const char* type, const char* help) {
        o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    };
    if (c.role.staff) {
        family("testbed_uptime_seconds", "gauge", "Seconds since the host started.");
        o << "testbed_uptime_seconds{testbed=\"" << tbid << "\"} " << snap.value("uptime_s", 0.0)
          << '\n';
        family("testbed_feed_received_total", "counter", "Well-formed feed messages received.");
        o << "testbed_feed_received_total{testbed=\"" << tbid << "\"} "
          << snap.value("received", uint64_t{0}) << '\n';
        family("testbed_feed_unrouted_total", "counter", "Feed messages no plugin subscribed to.");
        o << "testbed_feed_unrouted_total{testbed=\"" << tbid << "\"} "
          << snap.value("unrouted", uint64_t{0}) << '\n';
        family("testbed_ingest_dropped_total", "counter",
               "Malformed feed messages dropped, by reason.");
        // Named, not iterated as a temporary: items() of the json value() returns would dangle
        // (stack-use-after-scope under ASan on every staff /metrics, found by http_request).
        const json dropped = snap.value("ingest_dropped_by_reason", json::object());
        for (const auto& [reason, n] : dropped.items()) {
            o << "testbed_ingest_dropped_total{testbed=\"" << tbid << "\",reason=\""
              << prom_escape(reason) << "\"} " << n.get<uint64_t>() << '\n';
        }
        const json store = snap.value("store", json::object());
        family("testbed_store_queue_depth", "gauge", "Rows waiting for the result store writer.");
        o << "testbed_store_queue_depth{testbed=\"" << tbid << "\"} "
          << store.value("queue_depth", uint64_t{0}) << '\n';
        family("testbed_store_committed_rows_total", "counter",
               "Rows committed to the results database.");
        o << "testbed_store_committed_rows_total{testbed=\"" << tbid << "\"} "
          << store.value("committed_rows", uint64_t{0}) << '\n';
        family("testbed_api_connections", "gauge", "Open HTTP API connections.");
        o << "testbed_api_connections{testbed=\"" << tbid << "\"} " << connections << '\n';
        family("testbed_api_streams", "gauge", "Open event streams.");
        o << "testbed_api_streams{testbed=\"" << tbid << "\"} " << streams << '\n';
    }
    const json plugins = plugin_list(c);
    auto labels = [&tbid](const json& p) {
        return "testbed=\"" + tbid + "\",instance=\"" + prom_escape(p.value("instance", "")) +
               "\",plugin_id=\"" + prom_escape(p.value("plugin_id", "")) + "\",organisation=\"" +
               prom_escape(p.value("organisation", "")) + "\"";
    };
    struct Counter {
        const char* name;
        const char* key;
        const char* type;
        const char* help;
    };
    static const Counter kPluginSeries[] = {
        {"testbed_plugin_offered_total", "offered", "counter", "Messages routed to the plugin."},
        {"testbed_plugin_delivered_total", "delivered", "counter", "on_message calls completed."},
        {"testbed_plugin_callback_errors_total", "callback_errors", "counter",
         "Callbacks that returned an error."},
        {"testbed_plugin_published_total", "published", "counter",
         "Messages the plugin published."},
        {"testbed_plugin_metrics_total", "metrics", "counter",
         "Metric samples the plugin recorded."},
        {"testbed_plugin_events_total", "events", "counter", "Events the plugin recorded."},
        {"testbed_plugin_inbox_depth", "inbox_depth", "gauge",
         "Messages waiting in the plugin's inbox."},
    };
    for (const auto& s : kPluginSeries) {
        family(s.name, s.type, s.help);
        for (const auto& p : plugins)
            o << s.name << '{' << labels(p) << "} " << p.value(s.key, uint64_t{0}) << '\n';
    }
    family("testbed_plugin_dropped_total", "counter",
           "Messages dropped before the plugin, by reason.");
    for (const auto& p : plugins) {
        o << "testbed_plugin_dropped_total{" << labels(p) << ",reason=\"inbox_full\"} "
          << p.value("dropped_inbox", uint64_t{0}) << '\n';
        o << "testbed_plugin_dropped_total{" << labels(p) << ",reason=\"not_running\"} "
          << p.value("dropped_not_running", uint64_t{0}) << '\n';
    }
    family("testbed_plugin_callback_seconds", "gauge", "Callback duration percentiles.");
    for (const auto& p : plugins) {
        o << "testbed_plugin_callback_seconds{" << labels(p) << ",quantile=\"0.5\"} "
          << p.value("callback_p50_us", 0.0) / 1e6 << '\n';
        o << "testbed_plugin_callback_seconds{" << labels(p) << ",quantile=\"0.99\"} "
          << p.value("callback_p99_us", 0.0) / 1e6 << '\n';
    }
    family("testbed_plugin_running", "gauge", "1 when the plugin is running, else 0.");
    for (const auto& p : plugins) {
        o << "testbed_plugin_running{" << labels(p) << "} "
          << (p.value("state", "") == "running" ? 1 : 0) << '\n';
    }
    const json fl = feed_list(c);
    auto flabels = [&tbid](const json& f) {
        return "testbed=\"" + tbid + "\",source=\"" + prom_escape(f["source"].get<std::string>()) +
               "\"";
    };
    family("testbed_feed_source_messages_total", "counter",
           "Messages received per feed source (topic).");
    for (const auto& f : fl)
        o << "testbed_feed_source_messages_total{" << flabels(f) << "} " << f["messages"] << '\n';
    family("testbed_feed_source_gaps_total", "counter",
           "Messages missing by sequence number, per feed source.");
    for (const auto& f : fl)
        o << "testbed_feed_source_gaps_total{" << flabels(f) << "} " << f["gaps"] << '\n';
    family("testbed_feed_source_last_seen_age_seconds", "gauge",
           "Seconds since the source was last heard.");
    for (const auto& f : fl) {
        if (f["last_seen_age_s"].is_null())
            continue;  // never heard: no sample (Prometheus convention)
        o << "testbed_feed_source_last_seen_age_seconds{" << flabels(f) << "} "
          << f["last_seen_age_s"].get<double>() << '\n';
    }
    Reply r;
    r.body = o.str();
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
}

Reply ApiServer::Impl::trial_action(const Caller& c, int64_t id, const std::string& verb,
                                    const std::string& body) {
    if (!c.role.staff) {
        return error_reply(
            http::status::forbidden, "forbidden",
            "only staff tokens may " + verb + " trials; this token has role " + c.role.to_string());
    }
    std::string reason;
    if (!body.empty()) {
        const json j = json::parse(body, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            return error_reply(
                http::status::bad_request, "malformed_body",
                "the body must be empty or a JSON object such as {\"reason\": \"...\"}");
        }
        if (j.contains("reason")) {
            if (!j["reason"].is_string()) {
                return error_reply(http::status::bad_request, "malformed_body",
                                   "\"reason\" must be a string");
            }
            reason = j["reason"].get<std::string>();
        }
    }
    const auto& fn = verb == "suspend" ? actions.suspend : actions.resume;
    if (!fn)
        return error_reply(http::status::service_unavailable, "unavailable",
                           "trial actions are not wired up");
    auto r = fn(id, c.name, reason);
    if (!r) {
        const auto& e = r.error();
        const auto st = e.reason == "not_found"  ? http::status::not_found
                        : e.reason == "conflict" ? http::status::conflict
                                                 : http::status::internal_server_error;
        return error_reply(st,
                           e.reason == "not_found"  ? "not_found"
                           : e.reason == "conflict" ? "conflict"
                                                    : "failed",
                           e.message);
    }
    log->info("trial {} {} by {} via the API{}", id, verb == "suspend" ? "suspended" : "resumed",
              c.name, reason.empty() ? "" : ": " + reason);
    return json_reply({{"trial", r.value()}, {"action", verb}, {"actor", c.name}});
}

Reply ApiServer::Impl::events(const Caller& c, const std::map<std::string, std::string>& q) {
    int64_t after_id = 0, since_us = 0;
    std::size_t limit = 100;
    if (auto it = q.find("since"); it != q.end()) {
        if (auto n = parse_i64(it->second); n && *n >= 0) {
            after_id = *n;
        } else if (auto t = parse_iso_time(it->second)) {
            since_us = *t;
        } else {
            return error_reply(http::status::bad_request, "bad_parameter",
                               "since must be an event id (e.g. since=120) or a UTC time "
                               "(e.g. since=2026-11-28T16:00:00Z), got '" +
                                   it->second + "'");
        }
    }
    if (auto it = q.find("limit"); it != q.end()) {
        auto n = parse_i64(it->second);
        if (!n || *n < 1 || *n > static_cast<int64_t>(kMaxEventsPerQuery)) {
            return error_reply(http::status::bad_request, "bad_parameter",
                               "limit must be an integer from 1 to 1000, got '" + it->second + "'");
        }
        limit = static_cast<std::size_t>(*n);
    }
    auto evs =
        query_events(after_id, since_us, limit,
                     c.role.staff ? std::nullopt : std::optional<std::string>(c.role.organisation));
    if (!evs)
        return error_reply(http::status::internal_server_error, "failed", evs.error().message);
    const int64_t next = evs.value().empty() ? after_id : evs.value().back()["id"].get<int64_t>();
    return json_reply({{"events", evs.value()}, {"next", next}});
}

Result<Caller> ApiServer::Impl::authenticate(const http::request<http::string_body>& req,
                                             const std::map<std::string, std::string>& query) {
    std::string token;
    if (auto it = req.find(http::field::authorization); it != req.end()) {
        const std::string_view v(it->value().data(), it->value().size());
        if (!has_prefix(v, "Bearer ")) {
            return Error{"the Authorization header must be 'Bearer <token>'", "invalid_token"};
        }
        token = std::string(v.substr(7));
    } else if (auto q = query.find("access_token"); q != query.end()) {
        token = q->second;  // EventSource cannot send headers
    }
    if (token.empty()) {
        return Error{
            "this endpoint needs a token: send 'Authorization: Bearer <token>' "
            "(create one with: testbed token new --role staff --name NAME --db DB)",
            "missing_token"};
    }
    auto r = check_token(db, token, now_us());
    if (!r) return r.error();
    switch (r.value().check) {
        case TokenCheck::valid:
            return Caller{r.value().info.role, r.value().info.name};
        case TokenCheck::expired:
            return Error{"token '" + r.value().info.name + "' expired at " +
                             iso_time(*r.value().info.expires_us) + "; ask staff for a new one",
                         "token_expired"};
        case TokenCheck::revoked:
            return Error{"token '" + r.value().info.name + "' was revoked", "token_revoked"};
        case TokenCheck::unknown:
            break;
    }
    return Error{"the token is not known to this host", "invalid_token"};
}

Outcome ApiServer::Impl::handle(const http::request<http::string_body>& req) {
    const std::string_view target(req.target().data(), req.target().size());
    const auto qpos = target.find('?');
    const std::string path(target.substr(0, qpos));
    const auto query =
        parse_query(qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1));
    const auto method = req.method();

    // Route table: which method a path takes (404 when none, 405 when another).
    enum class R {
        kNone,
        kHealthz,
        kAsset,
        kStatus,
        kPlugins,
        kTrials,
        kTrial,
        kTrialAction,
        kFeeds,
        kEvents,
        kStream,
        kLatest,
        kZone,
        kMetrics
    };
    R route = R::kNone;
    http::verb allowed = http::verb::get;
    int64_t trial_id = 0;
    std::string verb;
    const DashboardAsset* asset = nullptr;
    if (path == "/healthz")
        route = R::kHealthz;
    else if ((asset = find_dashboard_asset(path)) != nullptr)
        route = R::kAsset;
    else if (path == "/api/v1/status")
        route = R::kStatus;
    else if (path == "/api/v1/plugins")
        route = R::kPlugins;
    else if (path == "/api/v1/trials")
        route = R::kTrials;
    else if (path == "/api/v1/feeds")
        route = R::kFeeds;
    else if (path == "/api/v1/events")
        route = R::kEvents;
    else if (path == "/api/v1/events/stream")
        route = R::kStream;
    else if (path == "/api/v1/latest")
        route = R::kLatest;
    else if (path == "/api/v1/zone")
        route = R::kZone;
    else if (path == "/metrics")
        route = R::kMetrics;
    else if (has_prefix(path, "/api/v1/trials/")) {
        std::string_view rest = std::string_view(path).substr(15);
        const auto slash = rest.find('/');
        auto id = parse_i64(rest.substr(0, slash));
        if (id && *id > 0) {
            trial_id = *id;
            if (slash == std::string_view::npos) {
                route = R::kTrial;
            } else if (rest.substr(slash + 1) == "suspend" || rest.substr(slash + 1) == "resume") {
                route = R::kTrialAction;
                verb = std::string(rest.substr(slash + 1));
                allowed = http::verb::post;
            }
        } else if (!rest.empty()) {
            return answer(error_reply(http::status::bad_request, "bad_trial_id",
                                      "trial ids are positive integers, got '" +
                                          std::string(rest.substr(0, slash)) + "'"));
        }
    }
    if (route == R::kNone) {
        return answer(error_reply(http::status::not_found, "not_found",
                                  "no such endpoint: " + path + " (see docs/api.md for the list)"));
    }
    if (method != allowed && !(allowed == http::verb::get && method == http::verb::head)) {
        Reply r = error_reply(http::status::method_not_allowed, "method_not_allowed",
                              std::string(req.method_string()) + " is not allowed on " + path +
                                  "; use " + std::string(http::to_string(allowed)));
        r.headers.emplace_back("Allow", std::string(http::to_string(allowed)));
        return answer(std::move(r));
    }
    if (route == R::kHealthz)
        return answer(json_reply({{"status", "ok"}, {"testbed", host->testbed().id}}));
    if (route == R::kAsset) {
        Reply r{http::status::ok, std::string(asset->body), asset->content_type, {}};
        r.headers.emplace_back(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
        return answer(std::move(r));
    }

    auto caller = authenticate(req, query);
    if (!caller) {
        return answer(
            error_reply(http::status::unauthorized, caller.error().reason, caller.error().message));
    }
    const Caller& c = caller.value();
    switch (route) {
        case R::kStatus:
            return answer(status(c));
        case R::kPlugins:
            return answer(json_reply(plugin_list(c)));
        case R::kTrials:
        case R::kTrial: {
            auto t = query_trials(
                c, route == R::kTrial ? std::optional<int64_t>(trial_id) : std::nullopt);
            if (!t)
                return answer(
                    error_reply(http::status::internal_server_error, "failed", t.error().message));
            if (route == R::kTrials) return answer(json_reply(t.value()));
            // Another organisation's trial is reported exactly like a missing one.
            if (t.value().empty()) {
                return answer(error_reply(http::status::not_found, "not_found",
                                          "trial " + std::to_string(trial_id) + " does not exist"));
            }
            return answer(json_reply(t.value()[0]));
        }
        case R::kTrialAction:
            return answer(trial_action(c, trial_id, verb, req.body()));
        case R::kFeeds:
            return answer(json_reply(feed_list(c)));
        case R::kEvents:
            return answer(events(c, query));
        case R::kLatest:
            return answer(latest(c, query));
        case R::kZone:
            return answer(zone());
        case R::kMetrics:
            return answer(metrics(c));
        case R::kStream: {
            if (streams >= opt.max_streams) {
                return answer(error_reply(http::status::service_unavailable, "too_many_streams",
                                          "at most " + std::to_string(opt.max_streams) +
                                              " event streams may be open; retry later"),
                              true);
            }
            std::vector<json> backlog;
            if (auto it = query.find("since"); it != query.end()) {
                auto n = parse_i64(it->second);
                if (!n || *n < 0) {
                    return answer(
                        error_reply(http::status::bad_request, "bad_parameter",
                                    "since must be an event id, got '" + it->second + "'"));
                }
                // Events up to the shared cursor come from here; later ones from the poller.
                auto evs = query_events(
                    *n, 0, kMaxEventsPerQuery,
                    c.role.staff ? std::nullopt : std::optional<std::string>(c.role.organisation));
                if (evs) {
                    for (auto& ev : evs.value()) {
                        if (ev["id"].get<int64_t>() <= last_event_id)
                            backlog.push_back(std::move(ev));
                    }
                }
            }
            Outcome o;
            o.stream = true;
            o.role = c.role;
            o.backlog = std::move(backlog);
            return o;
        }
        default:
            break;
    }
    return answer(error_reply(http::status::not_found, "not_found", "no such endpoint: " + path));
}

Status parse_api_address(const std::string& text, ApiOptions& out) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        return Error{"API address '" + text +
                         "' must be ADDR:PORT, e.g. 127.0.0.1:7680 (port 0: any free port)",
                     "usage"};
    }
    std::string addr = text.substr(0, colon);
    if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']')
        addr = addr.substr(1, addr.size() - 2);
    auto port = parse_i64(std::string_view(text).substr(colon + 1));
    if (!port || *port < 0 || *port > 65535) {
        return Error{"API address '" + text + "' has an invalid port (use 0..65535)", "usage"};
    }
    beast::error_code ec;
    net::ip::make_address(addr, ec);
    if (ec)
        return Error{"API address '" + text + "': '" + addr + "' is not an IP address (" +
                         ec.message() + ")",
                     "usage"};
    out.address = addr;
    out.port = static_cast<uint16_t>(*port);
    return {};
}

ApiServer::ApiServer() : impl_(std::make_shared<Impl>()) {}

ApiServer::~ApiServer() { stop(); }

uint16_t ApiServer::port() const { return impl_->bound_port.load(); }
const std::string& ApiServer::address() const { return impl_->address; }

Result<std::unique_ptr<ApiServer>> ApiServer::start(ApiOptions options, const Host& host,
                                                    TrialActions actions,
                                                    std::shared_ptr<const LastValues> last_values) {
    std::unique_ptr<ApiServer> server(new ApiServer());
    auto& im = *server->impl_;
    im.opt = std::move(options);
    im.host = &host;
    im.actions = std::move(actions);
    im.last_values = last_values ? std::move(last_values) : std::make_shared<LastValues>();
    auto db = open_database(im.opt.db, false);
    if (!db) return Error{"HTTP API: " + db.error().message, db.error().reason};
    im.db = db.value();

    beast::error_code ec;
    const auto addr = net::ip::make_address(im.opt.address, ec);
    if (ec) return Error{"HTTP API: '" + im.opt.address + "' is not an IP address", "usage"};
    const tcp::endpoint ep(addr, im.opt.port);
    im.acceptor.open(ep.protocol(), ec);
    if (!ec) im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) im.acceptor.bind(ep, ec);
    if (!ec) im.acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        return Error{
            "HTTP API: cannot listen on " + im.opt.address + ":" + std::to_string(im.opt.port) +
                ": " + ec.message() +
                " (choose another address with --api ADDR:PORT or [host] api, or --no-api)",
            "listen"};
    }
    im.bound_port = im.acceptor.local_endpoint().port();
    im.address = im.opt.address;
    im.accept();
    im.poll_events();
    im.thread = std::thread([&im] {
        for (;;) {
            try {
                im.ioc.run();
                return;
            } catch (const std::exception& e) {
                // A handler bug must not take the host down; log and keep serving.
                im.log->error("HTTP API handler failed: {}", e.what());
            }
        }
    });
    im.log->info("HTTP API listening on http://{}:{}/ (dashboard at /)", im.address,
                 im.bound_port.load());
    return server;
}

ApiRequestHandler::ApiRequestHandler() : impl_(std::make_shared<ApiServer::Impl>()) {}
ApiRequestHandler::~ApiRequestHandler() = default;

Result<std::unique_ptr<ApiRequestHandler>> ApiRequestHandler::open(
    ApiOptions options, const Host& host, TrialActions actions,
    std::shared_ptr<const LastValues> last_values) {
    std::unique_ptr<ApiRequestHandler> h(new ApiRequestHandler());
    auto& im = *h->impl_;
    im.opt = std::move(options);
    im.host = &host;
    im.actions = std::move(actions);
    im.last_values = last_values ? std::move(last_values) : std::make_shared<LastValues>();
    auto db = open_database(im.opt.db, false);
    if (!db) return Error{"HTTP API: " + db.error().message, db.error().reason};
    im.db = db.value();
    return h;
}

std::vector<ApiRequestHandler::Response> ApiRequestHandler::exchange(std::string_view bytes) {
    auto& im = *impl_;
    std::vector<Response> out;
    auto respond = [&out](Reply r, bool keep_alive, bool head) {
        Response x;
        x.status = static_cast<unsigned>(r.status);
        x.content_type = r.content_type;
        x.head = head;
        if (!head) x.body = r.body;
        std::ostringstream raw;
        raw << make_response(std::move(r), keep_alive, head);
        x.raw = raw.str();
        out.push_back(std::move(x));
    };
    // Each round answers one request and consumes at least one byte, or ends the connection.
    while (!bytes.empty()) {
        http::request_parser<http::string_body> p;
        p.body_limit(im.opt.max_body_bytes);
        p.header_limit(static_cast<std::uint32_t>(im.opt.max_header_bytes));
        p.eager(true);
        beast::error_code ec;
        std::size_t used = 0;
        while (!p.is_done()) {
            const std::size_t n = p.put(net::buffer(bytes.data() + used, bytes.size() - used), ec);
            used += n;
            if (ec == http::error::need_more || (!ec && n == 0)) {
                ec = {};
                if (n > 0 && used < bytes.size()) continue;
                p.put_eof(ec);  // the client closed the connection here
                if (!ec && !p.is_done()) ec = http::error::partial_message;
            }
            if (ec) break;
        }
        if (ec) {
            if (auto r = read_error_reply(ec, im.opt)) respond(std::move(*r), false, false);
            break;
        }
        bytes.remove_prefix(used);
        const bool keep_alive = p.get().keep_alive();
        const bool head = p.get().method() == http::verb::head;
        Outcome o = im.handle(p.get());
        if (o.stream && head) {
            respond(Reply{http::status::ok, "", "text/event-stream", {}}, false, true);
            break;
        }
        if (o.stream) {
            Response x;
            x.status = 200;
            x.content_type = "text/event-stream";
            x.raw = std::string(kStreamHead);
            for (const auto& ev : o.backlog) x.raw += sse_frame(ev);
            x.stream = true;
            out.push_back(std::move(x));
            break;
        }
        const bool close = o.close || !keep_alive;
        respond(std::move(o.reply), !close, head);
        if (close) break;  // Session::send stops reading after a reply that closes the connection
    }
    return out;
}

void ApiServer::stop() {
    auto& im = *impl_;
    if (!im.thread.joinable()) return;
    net::post(im.ioc, [&im] {
        im.stopping = true;
        beast::error_code ec;
        im.acceptor.close(ec);
        im.poll_timer.cancel();
        im.accept_retry.cancel();
        const std::vector<Session*> open(im.sessions.begin(), im.sessions.end());
        for (auto* s : open) s->shutdown();
    });
    // Everything pending finishes with operation_aborted; do not wait forever for it.
    std::promise<void> done;
    auto finished = done.get_future();
    std::thread waiter([&] {
        if (finished.wait_for(std::chrono::seconds(2)) == std::future_status::timeout)
            im.ioc.stop();
    });
    im.thread.join();
    done.set_value();
    waiter.join();
}

}  // namespace tb::host::api
