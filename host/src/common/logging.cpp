#include "common/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
#include <vector>

namespace tb::host {
namespace {

struct Registry {
    std::mutex mu;
    std::vector<spdlog::sink_ptr> sinks;
    spdlog::level::level_enum level = spdlog::level::info;
};

Registry& registry() {
    static Registry r;
    return r;
}

std::vector<spdlog::sink_ptr>& sinks_locked(Registry& r) {
    if (r.sinks.empty()) r.sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    return r.sinks;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
    if (auto existing = spdlog::get(name)) return existing;
    auto& r = registry();
    std::lock_guard lock(r.mu);
    if (auto existing = spdlog::get(name)) return existing;
    auto& s = sinks_locked(r);
    auto lg = std::make_shared<spdlog::logger>(name, s.begin(), s.end());
    lg->set_level(r.level);
    lg->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
    spdlog::register_logger(lg);
    return lg;
}

bool set_log_level(const std::string& level) {
    const auto lvl = spdlog::level::from_str(level);
    if (lvl == spdlog::level::off && level != "off") return false;
    auto& r = registry();
    std::lock_guard lock(r.mu);
    r.level = lvl;
    spdlog::apply_all([lvl](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
    return true;
}

void set_log_file(const std::string& path) {
    auto& r = registry();
    std::lock_guard lock(r.mu);
    sinks_locked(r).push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path));
}

}  // namespace tb::host
