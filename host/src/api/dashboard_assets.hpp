// api/dashboard_assets.hpp: the dashboard's files (host/src/api/dashboard/), compiled into the
// host by a CMake-generated include, so the page needs no files on disk and no network.
// Thread safety: immutable static data.
#pragma once

#include <string>
#include <string_view>

namespace tb::host::api {

struct DashboardAsset {
    const char* path;          // URL path, e.g. "/app.js" ("/" serves index.html)
    const char* content_type;
    std::string_view body;
};

// The asset served at `url_path`, or nullptr.
const DashboardAsset* find_dashboard_asset(std::string_view url_path);

}  // namespace tb::host::api
