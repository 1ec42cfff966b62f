// bench/api_rows.cpp: the HTTP API's load impact (issue #8, docs/api.md) as rows of the suite's
// table. Runs bin/api_load_bench (an in-process host with its API server; it alternates feed
// bursts with the API idle and with 20 pollers every 100 ms + 2 event streams) and reads its
// machine-readable result line. Reference and loaded figure come from the same process, so the
// ratio compares like with like.
// Thread safety: one thread; the child is waited for (and killed after its time limit).
#include "extras.hpp"

#include <cstdio>

namespace tb::bench {

ApiLoadResult run_api_load(const Context& c, uint64_t messages, int rounds) {
    ApiLoadResult out;
    const fs::path log = c.scratch->path() / ("api-load-" + std::to_string(mono_ns()) + ".log");
    const int rc = run_program(c.paths.bin / "api_load_bench",
                               {std::to_string(messages), std::to_string(rounds)}, log,
                               std::chrono::minutes(5));
    const std::string text = read_file(log);
    const auto at = text.find("api_load_bench: result ");
    if (rc != 0 || at == std::string::npos) {
        out.detail = "api_load_bench exited with " + std::to_string(rc) + ": " +
                     text.substr(text.size() > 1000 ? text.size() - 1000 : 0);
        return out;
    }
    unsigned long long polls = 0, errors = 0, events = 0, complete = 0;
    if (std::sscanf(text.c_str() + at,
                    "api_load_bench: result idle=%lf loaded=%lf polls=%llu poll_errors=%llu "
                    "stream_events=%llu complete=%llu",
                    &out.idle_per_s, &out.loaded_per_s, &polls, &errors, &events, &complete) != 6) {
        out.detail = "unreadable result line: " + text.substr(at, 200);
        return out;
    }
    // Every burst must have passed the host completely, and the pollers must really have been
    // served (otherwise "with API load" would measure an idle API).
    out.verified = complete == 1 && polls > 0 && errors == 0;
    out.detail = std::to_string(polls) + " polls served, " + std::to_string(errors) +
                 " errors, " + std::to_string(events) + " stream events" +
                 (complete == 1 ? "" : ", a burst did not complete");
    return out;
}

}  // namespace tb::bench
