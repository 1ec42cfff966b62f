// feed_bridges.hpp: the protocol bridges under `testbed feed` (one file each).
#pragma once

namespace CLI {
class App;
}

namespace tb::cli {
void register_feed_mqtt_command(CLI::App& feed);     // feed_mqtt_command.cpp
void register_feed_mavlink_command(CLI::App& feed);  // feed_mavlink_command.cpp
}  // namespace tb::cli
