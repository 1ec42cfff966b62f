#include "runtime/executor.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <optional>
#include <thread>
#include <vector>

namespace tb::host {

struct Executor::Impl {
    boost::asio::io_context io;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
    std::vector<std::thread> threads;
};

Executor::Executor(int threads) : impl_(std::make_unique<Impl>()) {
    impl_->guard.emplace(impl_->io.get_executor());
    for (int i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
}

Executor::~Executor() { stop(); }

boost::asio::io_context& Executor::io() { return impl_->io; }

void Executor::stop() {
    impl_->guard.reset();
    for (auto& t : impl_->threads) {
        if (t.joinable()) t.join();
    }
    impl_->threads.clear();
}

}  // namespace tb::host
