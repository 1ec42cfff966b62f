// common/logging.hpp: one named spdlog logger per subsystem and per plugin instance.
//
// Loggers write to stderr (colour when a terminal) and, when set_log_file() was called, to a
// file as well. Thread safety: all functions are thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace tb::host {

// The logger for `name` ("loader", "store", "plugin.groundwater_alert", ...), created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& name);

// Set the level of every existing and future logger ("trace".."critical", "off").
bool set_log_level(const std::string& level);

// Also write every logger's output to this file (appending). Call before creating loggers.
void set_log_file(const std::string& path);

}  // namespace tb::host
