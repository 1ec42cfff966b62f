// testbed keys new: create a ZeroMQ CURVE key pair for a host or a publisher (docs/feeds.md).
#include "bus/curve.hpp"
#include "commands.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace tb::cli {

void register_keys_commands(CLI::App& app) {
    auto* keys = app.add_subcommand("keys", "CURVE keys for authenticated, encrypted feeds");
    keys->require_subcommand(1);
    struct Args {
        std::string out;
        std::string name = "testbed";
    };
    auto a = std::make_shared<Args>();
    auto* nw = keys->add_subcommand("new", "Create NAME.key (secret, mode 0600) and NAME.pub in a folder");
    nw->add_option("--out", a->out, "Folder for the key files (created if missing)")->required();
    nw->add_option("--name", a->name, "Identity name, e.g. the host or publisher")->capture_default_str();
    nw->callback([a] {
        if (a->name.empty() || a->name.find('/') != std::string::npos) {
            std::cerr << "testbed keys new: --name '" << a->name << "' must be a plain file name\n";
            throw CLI::RuntimeError(kExitUsage);
        }
        auto k = host::write_new_keypair(a->out, a->name);
        if (!k) {
            std::cerr << "testbed keys new: " << k.error().message << "\n";
            throw CLI::RuntimeError(k.error().reason == "exists" ? kExitUsage : kExitFailure);
        }
        std::cout << "wrote " << a->out << "/" << a->name << ".key (secret, keep it) and " << a->out << "/" << a->name
                  << ".pub (public key " << k->public_z85 << ")\n";
    });
}

}  // namespace tb::cli
