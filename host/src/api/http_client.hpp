// api/http_client.hpp: a minimal blocking HTTP/1.1 client for the testbed CLI (`testbed status`,
// `testbed events --follow`), tests and benchmarks. Plain sockets, one request per connection
// (Connection: close), http:// only; enough to talk to the host's own API, not a general client.
// Thread safety: free functions; no shared state.
#pragma once

#include "common/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace tb::host::api {

struct HttpUrl {
    std::string host;
    uint16_t port = 80;
    std::string target = "/";  // path and query
};
Result<HttpUrl> parse_http_url(const std::string& url);

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
};

// One request. `token` (if not empty) is sent as "Authorization: Bearer <token>".
Result<HttpResponse> http_request(const std::string& method, const std::string& url, const std::string& token,
                                  const std::string& body = {},
                                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Send `bytes` as they are and return everything the server answers until it closes (or the
// timeout passes). For tests of malformed requests.
Result<std::string> http_raw(const std::string& host, uint16_t port, const std::string& bytes,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct SseEvent {
    std::string id, event, data;
};
// GET an event stream (text/event-stream) and call `on_event` for each event until it returns
// false, the server closes, or `timeout` passes (zero: no limit). An error reply (e.g. 401) is
// returned as an Error carrying the server's JSON error.
Status http_event_stream(const std::string& url, const std::string& token,
                         const std::function<bool(const SseEvent&)>& on_event,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

}  // namespace tb::host::api
