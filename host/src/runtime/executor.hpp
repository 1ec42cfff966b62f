// runtime/executor.hpp: the thread pool that runs plugin callbacks (a Boost.Asio io_context run
// by N threads). Asio stays out of this header; implementations include it in their .cpp.
// Thread safety: io() may be used from any thread; construction and stop() from the main thread.
#pragma once

#include <memory>

namespace boost::asio {
class io_context;
}

namespace tb::host {

class Executor {
   public:
    explicit Executor(int threads);
    ~Executor();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    boost::asio::io_context& io();
    // Let queued work finish, then join the threads. Idempotent.
    void stop();

   private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tb::host
