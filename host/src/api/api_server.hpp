// api/api_server.hpp: the host's HTTP/1.1 API, live event stream, Prometheus metrics and
// dashboard (docs/api.md).
//
// One thread runs an Asio io_context with every connection on it. Handlers read the host's live
// snapshot (cached for a fraction of a second and shared by all clients), the feed last-value
// cache and a read-only SQLite connection of their own (trials, events, tokens), so the feed data
// path never waits for the API. Limits keep memory bounded whatever clients do: a maximum number
// of connections and of event streams, a request header and body limit, a timeout for reading a
// request and for every write, and a per-stream cap on unsent events (a client that stops reading
// is disconnected). Boost.Beast stays in the .cpp file.
//
// Thread safety: start() and stop() from one thread (the host's main thread); port() from any.
#pragma once

#include "api/last_values.hpp"
#include "api/trial_actions.hpp"
#include "common/result.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tb::host {
class Host;
}

namespace tb::host::api {

struct ApiOptions {
    std::string address = "127.0.0.1";
    uint16_t port = 7680;  // 0: an ephemeral port (read it with port())
    std::filesystem::path db;  // the host's results database (trials, events, tokens)
    std::size_t max_connections = 128;
    std::size_t max_streams = 16;  // open event streams (SSE)
    std::size_t max_body_bytes = 64 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    std::chrono::milliseconds read_timeout{15'000};   // whole request, and idle keep-alive
    std::chrono::milliseconds write_timeout{10'000};  // each response or stream write
    std::size_t max_stream_backlog_bytes = 512 * 1024;  // unsent stream data before disconnecting
    std::chrono::milliseconds snapshot_ttl{250};
    std::chrono::milliseconds event_poll{200};
};

// Split "ADDR:PORT" (e.g. "127.0.0.1:7680", "[::1]:0") into options; error names the text.
Status parse_api_address(const std::string& text, ApiOptions& out);

class ApiServer {
   public:
    static Result<std::unique_ptr<ApiServer>> start(ApiOptions options, const Host& host, TrialActions actions,
                                                    std::shared_ptr<const LastValues> last_values);
    ~ApiServer();
    void stop();  // closes every connection and joins the thread; idempotent

    uint16_t port() const;
    const std::string& address() const;

    struct Impl;  // opaque; public only so the .cpp's connection class can name it

   private:
    ApiServer();
    std::shared_ptr<Impl> impl_;
};

// One connection's request handling without the connection (tests/fuzz/fuzz_http_request.cpp):
// bytes go through the same Beast request parser with the same limits, then the same router,
// authentication and handlers as a request read from a socket, and come back as the response
// bytes the server would write. No socket, thread or timer is involved.
// Thread safety: one thread at a time per handler.
class ApiRequestHandler {
   public:
    struct Response {
        unsigned status = 0;
        std::string content_type;
        std::string body;
        std::string raw;      // the serialised response (status line, headers, body)
        bool stream = false;  // the event stream started (raw is its opening; events would follow)
        bool head = false;    // a reply to HEAD: headers only (Content-Length is the GET body's)
    };
    // Like ApiServer::start, without listening.
    static Result<std::unique_ptr<ApiRequestHandler>> open(ApiOptions options, const Host& host,
                                                           TrialActions actions,
                                                           std::shared_ptr<const LastValues> last_values);
    ~ApiRequestHandler();
    // `bytes` as a client sends them on one connection and then closes it: every complete request
    // is answered in order, until an answer closes the connection, an event stream starts or the
    // bytes run out (a request cut off by the close gets the reply the server would send).
    std::vector<Response> exchange(std::string_view bytes);

   private:
    ApiRequestHandler();
    std::shared_ptr<ApiServer::Impl> impl_;
};

}  // namespace tb::host::api
