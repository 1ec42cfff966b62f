#include "api/http_client.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

namespace tb::host::api {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
   public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

   private:
    int fd_;
};

Result<int> connect_to(const std::string& host, uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string port_text = std::to_string(port);
    if (int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0) {
        return Error{"cannot resolve '" + host + "': " + gai_strerror(rc), "connect"};
    }
    int fd = -1;
    std::string why = "no address";
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        why = std::strerror(errno);
        ::close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return Error{"cannot connect to " + host + ":" + port_text + ": " + why +
                         " (is testbed-host running with its API on this address?)",
                     "connect"};
    }
    return fd;
}

Status send_all(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            // The server may answer and close before reading everything (e.g. 413); not an error.
            if (errno == EPIPE || errno == ECONNRESET) return {};
            return Error{std::string("sending the request: ") + std::strerror(errno), "io"};
        }
        sent += static_cast<std::size_t>(n);
    }
    return {};
}

// Read what is available into `out`, waiting until `deadline`. Returns false on EOF/error/timeout.
bool read_some(int fd, std::string& out, Clock::time_point deadline, bool& timed_out) {
    timed_out = false;
    for (;;) {
        int wait_ms = -1;
        if (deadline != Clock::time_point::max()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) {
                timed_out = true;
                return false;
            }
            wait_ms = static_cast<int>(std::min<int64_t>(left, 1000));
        } else {
            wait_ms = 1000;
        }
        pollfd p{fd, POLLIN, 0};
        const int rc = ::poll(&p, 1, wait_ms);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return false;
        if (rc == 0) continue;
        char buf[16384];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        out.append(buf, static_cast<std::size_t>(n));
        return true;
    }
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Parse the status line and headers in `raw` (which holds at least "\r\n\r\n").
Result<HttpResponse> parse_head(const std::string& raw, std::size_t head_end) {
    HttpResponse r;
    const std::string head = raw.substr(0, head_end);
    std::size_t pos = head.find("\r\n");
    const std::string status_line = head.substr(0, pos);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
        return Error{"the server's reply is not HTTP: '" + status_line.substr(0, 60) + "'", "protocol"};
    }
    r.status = std::atoi(status_line.c_str() + 9);
    while (pos != std::string::npos && pos + 2 < head.size()) {
        const std::size_t next = head.find("\r\n", pos + 2);
        const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        const auto colon = line.find(':');
        if (colon != std::string::npos) {
            std::string v = line.substr(colon + 1);
            v.erase(0, v.find_first_not_of(' '));
            r.headers[lower(line.substr(0, colon))] = v;
        }
        pos = next;
    }
    return r;
}

std::string request_text(const std::string& method, const HttpUrl& u, const std::string& token,
                         const std::string& body, const char* accept) {
    std::string req = method + " " + u.target + " HTTP/1.1\r\nHost: " + u.host + ":" + std::to_string(u.port) +
                      "\r\nConnection: close\r\nAccept: " + accept + "\r\nUser-Agent: testbed-cli\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty() || method == "POST") {
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    return req + "\r\n" + body;
}

}  // namespace

Result<HttpUrl> parse_http_url(const std::string& url) {
    if (url.rfind("http://", 0) != 0) {
        return Error{"URL '" + url + "' must start with http:// (e.g. http://127.0.0.1:7680)", "usage"};
    }
    HttpUrl u;
    std::string rest = url.substr(7);
    const auto slash = rest.find('/');
    std::string hostport = rest.substr(0, slash);
    u.target = slash == std::string::npos ? "/" : rest.substr(slash);
    std::string port_text;
    if (!hostport.empty() && hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string::npos) return Error{"URL '" + url + "': unterminated [IPv6] address", "usage"};
        u.host = hostport.substr(1, close - 1);
        if (close + 1 < hostport.size() && hostport[close + 1] == ':') port_text = hostport.substr(close + 2);
    } else {
        const auto colon = hostport.rfind(':');
        u.host = hostport.substr(0, colon);
        if (colon != std::string::npos) port_text = hostport.substr(colon + 1);
    }
    if (u.host.empty()) return Error{"URL '" + url + "' has no host", "usage"};
    if (!port_text.empty()) {
        char* end = nullptr;
        const long p = std::strtol(port_text.c_str(), &end, 10);
        if (*end != '\0' || p < 1 || p > 65535) return Error{"URL '" + url + "' has an invalid port", "usage"};
        u.port = static_cast<uint16_t>(p);
    }
    return u;
}

Result<std::string> http_raw(const std::string& host, uint16_t port, const std::string& bytes,
                             std::chrono::milliseconds timeout) {
    auto c = connect_to(host, port);
    if (!c) return c.error();
    Fd fd(c.value());
    if (auto s = send_all(fd.get(), bytes); !s) return s.error();
    std::string out;
    bool timed_out = false;
    const auto deadline = Clock::now() + timeout;
    while (read_some(fd.get(), out, deadline, timed_out)) {
    }
    return out;
}

Result<HttpResponse> http_request(const std::string& method, const std::string& url, const std::string& token,
                                  const std::string& body, std::chrono::milliseconds timeout) {
    auto u = parse_http_url(url);
    if (!u) return u.error();
    auto c = connect_to(u->host, u->port);
    if (!c) return c.error();
    Fd fd(c.value());
    if (auto s = send_all(fd.get(), request_text(method, u.value(), token, body, "application/json")); !s) {
        return s.error();
    }
    std::string raw;
    bool timed_out = false;
    const auto deadline = Clock::now() + timeout;
    // Read until the server closes or, when it keeps the connection open anyway, until the
    // Content-Length is complete.
    std::optional<std::size_t> complete_at;
    while (!(complete_at && raw.size() >= *complete_at) && read_some(fd.get(), raw, deadline, timed_out)) {
        if (complete_at) continue;
        const auto end = raw.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        auto head = parse_head(raw, end);
        if (!head) continue;
        if (auto it = head->headers.find("content-length"); it != head->headers.end()) {
            complete_at = end + 4 + std::strtoull(it->second.c_str(), nullptr, 10);
        }
    }
    if (timed_out) return Error{"no complete reply from " + url + " within the timeout", "timeout"};
    const auto head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos) return Error{"incomplete reply from " + url, "protocol"};
    auto r = parse_head(raw, head_end);
    if (!r) return r.error();
    r->body = raw.substr(head_end + 4);
    return r;
}

Status http_event_stream(const std::string& url, const std::string& token,
                         const std::function<bool(const SseEvent&)>& on_event, std::chrono::milliseconds timeout) {
    auto u = parse_http_url(url);
    if (!u) return u.error();
    auto c = connect_to(u->host, u->port);
    if (!c) return c.error();
    Fd fd(c.value());
    if (auto s = send_all(fd.get(), request_text("GET", u.value(), token, {}, "text/event-stream")); !s) return s;
    const auto deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
    std::string buf;
    bool timed_out = false;
    std::size_t head_end = std::string::npos;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!read_some(fd.get(), buf, deadline, timed_out)) {
            return Error{timed_out ? "no reply from " + url + " within the timeout" : "the server closed " + url,
                         timed_out ? "timeout" : "closed"};
        }
    }
    auto head = parse_head(buf, head_end);
    if (!head) return head.error();
    if (head->status != 200) {
        std::string body = buf.substr(head_end + 4);
        while (read_some(fd.get(), body, deadline, timed_out)) {
        }
        return Error{"HTTP " + std::to_string(head->status) + " from " + url + ": " + body, "http"};
    }
    buf.erase(0, head_end + 4);
    SseEvent ev;
    for (;;) {
        std::size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            std::string line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) {
                if (!ev.data.empty() || !ev.event.empty()) {
                    if (!ev.data.empty() && ev.data.back() == '\n') ev.data.pop_back();
                    if (!on_event(ev)) return {};
                }
                ev = SseEvent{};
                continue;
            }
            if (line[0] == ':') continue;  // comment / keep-alive
            const auto colon = line.find(':');
            const std::string field = line.substr(0, colon);
            std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.erase(0, 1);
            if (field == "id") ev.id = value;
            else if (field == "event") ev.event = value;
            else if (field == "data") ev.data += value + "\n";
        }
        if (!read_some(fd.get(), buf, deadline, timed_out)) {
            if (timed_out) return {};
            return Error{"the server closed the event stream " + url, "closed"};
        }
    }
}

}  // namespace tb::host::api
