// testbed plugin new | inspect | check: tools for plugin authors.
//
//   new <name> --org ORG [--contact EMAIL] [--dir D]   write a complete plugin project
//   inspect <file.so> [--json]                         manifest, SDK/ABI, SHA-256, topics
//   check <file.so> [--messages N] [--config k=v]... [--timeout S] [--json]
//                                                      run it on synthetic and malformed input
//
// inspect verifies a plugin through the host's own loader (so it refuses exactly what the host
// refuses, with the same message) and runs nothing of the plugin but tb_plugin_entry. check
// runs the plugin in a forked child against the SDK test kit, so a plugin that crashes is
// reported, not fatal.
#include "commands.hpp"
#include "loader/plugin_library.hpp"
#include "scaffold/plugin_templates.hpp"

#include <testbed/testkit.hpp>

#include <CLI/CLI.hpp>
#include <boost/dll/library_info.hpp>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

// LeakSanitizer comes with AddressSanitizer (the asan preset); `plugin check` then looks for leaks.
#if defined(__SANITIZE_ADDRESS__)
#define TB_LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TB_LEAK_CHECK 1
#endif
#endif
#if defined(TB_LEAK_CHECK)
#include <sanitizer/lsan_interface.h>
#endif

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

namespace tb::cli {
namespace {

namespace fs = std::filesystem;

// ---- plugin new ----------------------------------------------------------------------------

struct NewArgs {
    std::string name, org, contact, dir;
};

bool valid_plugin_name(const std::string& n) {
    if (n.empty() || n.size() > 64 || !(n[0] >= 'a' && n[0] <= 'z')) return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

std::string pascal_case(const std::string& n) {
    std::string out;
    bool up = true;
    for (char c : n) {
        if (c == '_') {
            up = true;
            continue;
        }
        out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
        up = false;
    }
    return out;
}

std::string cpp_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n' || c == '\r') {
            out += ' ';
            continue;
        }
        out += c;
    }
    return out;
}

std::string fill(std::string text, const std::map<std::string, std::string>& vars) {
    for (const auto& [key, value] : vars) {
        for (std::size_t pos = 0; (pos = text.find(key, pos)) != std::string::npos;
             pos += value.size()) {
            text.replace(pos, key.size(), value);
        }
    }
    return text;
}

int run_new(const NewArgs& a) {
    if (!valid_plugin_name(a.name)) {
        std::cerr << "testbed plugin new: '" << a.name
                  << "' is not a valid plugin name (use 1-64 lower-case letters, digits and '_', "
                     "starting with a "
                     "letter, e.g. parking_guide)\n";
        return kExitUsage;
    }
    if (a.org.find_first_not_of(" \t") == std::string::npos) {
        std::cerr
            << "testbed plugin new: --org must name the organisation responsible for the plugin\n";
        return kExitUsage;
    }
    const fs::path dir = a.dir.empty() ? fs::path(a.name) : fs::path(a.dir);
    std::error_code ec;
    if (fs::exists(dir, ec) || fs::is_symlink(dir, ec)) {
        std::cerr
            << "testbed plugin new: " << dir.string()
            << " already exists; nothing was written (choose another --dir or remove it first)\n";
        return kExitUsage;
    }
    const std::string contact = a.contact.empty() ? "you@example.org" : a.contact;
    const std::map<std::string, std::string> vars{{"@NAME@", a.name},
                                                  {"@CLASS@", pascal_case(a.name)},
                                                  {"@ORG@", cpp_escape(a.org)},
                                                  {"@ORG_TEXT@", a.org},
                                                  {"@CONTACT@", cpp_escape(contact)},
                                                  {"@SDK_VERSION@", TB_SDK_VERSION}};
    // Write into a sibling temporary folder and rename it into place, so a failure half-way
    // never leaves a half-made project where the author asked for one.
    const fs::path tmp = dir.string() + ".tmp-" + std::to_string(::getpid());
    fs::create_directories(tmp / "test", ec);
    if (ec) {
        std::cerr << "testbed plugin new: cannot create " << tmp.string() << ": " << ec.message()
                  << "\n";
        return kExitFailure;
    }
    const std::vector<std::pair<fs::path, const char*>> files{
        {"CMakeLists.txt", scaffold::kCMakeLists},
        {a.name + ".cpp", scaffold::kSource},
        {fs::path("test") / (a.name + "_test.cpp"), scaffold::kTest},
        {"README.md", scaffold::kReadme},
        {".gitignore", scaffold::kGitignore}};
    for (const auto& [rel, text] : files) {
        std::ofstream out(tmp / rel, std::ios::binary);
        out << fill(text, vars);
        if (!out.flush()) {
            std::cerr << "testbed plugin new: cannot write " << (tmp / rel).string() << "\n";
            fs::remove_all(tmp, ec);
            return kExitFailure;
        }
    }
    fs::rename(tmp, dir, ec);
    if (ec) {
        std::cerr << "testbed plugin new: cannot move the project to " << dir.string() << ": "
                  << ec.message() << "\n";
        fs::remove_all(tmp, ec);
        return kExitFailure;
    }
    std::cout << "Created plugin project " << dir.string() << "/ (" << a.name << ", " << a.org
              << ")\n"
              << "  cmake -S " << dir.string() << " -B " << dir.string() << "/build -G Ninja"
              << " -DCMAKE_PREFIX_PATH=<testbed SDK prefix>\n"
              << "  cmake --build " << dir.string() << "/build && ctest --test-dir " << dir.string()
              << "/build --output-on-failure\n";
    return kExitOk;
}

// ---- plugin inspect ------------------------------------------------------------------------

struct InspectArgs {
    std::string file;
    bool json = false;
};

// libstdc++ gives its templates default visibility, so their instantiations stay exported (as
// weak symbols) even with -fvisibility=hidden. They are harmless; only the plugin's own
// exports besides tb_plugin_entry are worth a warning.
bool is_std_library_symbol(const std::string& s) {
    if (s.rfind("_Z", 0) != 0) return false;
    std::string_view rest = std::string_view(s).substr(2);
    for (const std::string_view p : {"GV", "TI", "TS", "TV", "Z", "N", "K"}) {
        while (rest.substr(0, p.size()) == p) rest.remove_prefix(p.size());
    }
    return rest.substr(0, 2) == "St" || rest.substr(0, 10) == "9__gnu_cxx";
}

std::vector<std::string> exported_symbols(const fs::path& file) {
    try {
        boost::dll::library_info info(file);
        return info.symbols();
    } catch (const std::exception&) {
        return {};  // the loader already vouched for the file; a symbol table is optional
    }
}

int run_inspect(const InspectArgs& a) {
    auto lib = host::PluginLibrary::load(a.file);
    if (!lib) {
        std::cerr << "testbed plugin inspect: " << lib.error().message << "\n";
        return kExitUsage;
    }
    const auto& m = (*lib)->manifest();
    std::vector<std::string> symbols;
    std::size_t std_symbols = 0;
    for (auto& sym : exported_symbols(a.file)) {
        if (is_std_library_symbol(sym)) {
            ++std_symbols;
        } else {
            symbols.push_back(std::move(sym));
        }
    }
    const std::string host_abi = std::to_string(TB_ABI_MAJOR) + "." + std::to_string(TB_ABI_MINOR);
    const std::string abi = std::to_string(m.abi_major) + "." + std::to_string(m.abi_minor);
    if (a.json) {
        nlohmann::json j = m.to_json();
        j["file"] = a.file;
        j["sha256"] = (*lib)->sha256();
        j["host_abi"] = host_abi;
        j["exported_symbols"] = symbols;
        j["exported_std_library_symbols"] = std_symbols;
        std::cout << j.dump(2) << "\n";
        return kExitOk;
    }
    auto list = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
        return s.empty() ? std::string("(none)") : s;
    };
    std::cout << "file:          " << a.file << "\n"
              << "sha256:        " << (*lib)->sha256() << "\n"
              << "plugin:        " << m.id << " " << m.version << "\n"
              << "organisation:  " << m.organisation << "\n"
              << "contact:       " << m.contact << "\n"
              << "description:   " << (m.description.empty() ? "(none)" : m.description) << "\n"
              << "sdk:           " << (m.sdk_version.empty() ? "?" : m.sdk_version)
              << " (plugin ABI " << abi << ", this host serves ABI " << TB_ABI_MAJOR << ".0-"
              << host_abi << ")\n"
              << "reads:         " << list(m.reads) << "\n"
              << "publishes:     " << list(m.publishes) << "\n"
              << "tick:          "
              << (m.tick_interval_ms ? "every " + std::to_string(m.tick_interval_ms) + " ms"
                                     : std::string("none"))
              << "\n";
    std::cout << "metrics:" << (m.metrics.empty() ? "       (none)" : "") << "\n";
    static const char* kBetter[] = {"?", "higher is better", "lower is better", "descriptive"};
    for (const auto& x : m.metrics) {
        std::cout << "  " << x.name << " [" << x.unit << "] "
                  << kBetter[x.better >= 1 && x.better <= 3 ? x.better : 0]
                  << (x.description.empty() ? "" : ": " + x.description) << "\n";
    }
    std::cout << "config keys:" << (m.config_keys.empty() ? "   (none)" : "") << "\n";
    static const char* kTypes[] = {"?", "string", "integer", "number", "boolean"};
    for (const auto& k : m.config_keys) {
        std::cout << "  " << k.name << " (" << kTypes[k.type >= 1 && k.type <= 4 ? k.type : 0]
                  << ", "
                  << (k.default_value ? "default " + *k.default_value : std::string("required"))
                  << ")" << (k.description.empty() ? "" : ": " + k.description) << "\n";
    }
    std::cout << "exports:       " << list(symbols)
              << (std_symbols ? " (+" + std::to_string(std_symbols) +
                                    " C++ standard library template symbols)"
                              : "")
              << "\n"
              << "verdict:       loads in this host (ABI " << host_abi << ")\n";
    if (symbols.size() > 1) {
        std::cout << "note:          the plugin exports more than tb_plugin_entry; build it with "
                     "testbed_add_plugin() "
                     "(hidden visibility) so plugins cannot clash\n";
    }
    return kExitOk;
}

// ---- plugin check --------------------------------------------------------------------------

struct CheckArgs {
    std::string file;
    int messages = 1000;
    unsigned timeout_s = 120;
    std::vector<std::string> config;
    bool json = false;
};

double percentile_us(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// Inputs a plugin must survive: each is delivered with the content type given.
std::vector<std::pair<std::string, std::string>> malformed_inputs() {
    std::string binary(512, '\0');
    std::mt19937 rng(42);  // fixed seed: the same bytes every run, so a failure reproduces
    for (auto& c : binary) c = static_cast<char>(rng() & 0xFF);
    return {{"empty payload", ""},
            {"JSON null", "null"},
            {"JSON object instead of a pack", "{\"n\":\"level\",\"v\":1}"},
            {"unterminated array", "[{\"n\":\"level\",\"v\":"},
            {"record without a value", "[{\"n\":\"level\",\"u\":\"m\"}]"},
            {"string where a number belongs", "[{\"n\":\"level\",\"u\":\"m\",\"v\":\"high\"}]"},
            {"number out of range", "[{\"n\":\"level\",\"u\":\"m\",\"v\":1e999}]"},
            {"wrong unit", "[{\"n\":\"level\",\"u\":\"furlong\",\"v\":1}]"},
            {"deep nesting", std::string(10000, '[') + std::string(10000, ']')},
            {"invalid UTF-8", "[{\"n\":\"\xff\xfe\",\"v\":1}]"},
            {"random bytes", binary},
            {"1 MiB of text", std::string(1 << 20, 'x')}};
}

// Runs in the forked child: everything the plugin does happens here. Progress lines go to `out`
// before each input, so the parent can name the input that killed the child.
nlohmann::json check_in_child(const CheckArgs& a, const std::map<std::string, std::string>& config,
                              FILE* out) {
    auto say = [&](const std::string& line) {
        std::fprintf(out, "%s\n", line.c_str());
        std::fflush(out);
    };
    nlohmann::json r;
    testkit::Options opt;
    opt.config = config;
    say("progress create");
    std::unique_ptr<testkit::Harness> h;
    try {
        h = std::make_unique<testkit::Harness>(a.file, opt);
    } catch (const std::exception& e) {
        r["create_error"] = e.what();
        return r;
    }
    const tb_manifest& m = h->manifest();
    std::vector<std::string> topics;
    for (int i = 0; m.reads && m.reads[i] && i < 64; ++i) {
        std::string p = m.reads[i];
        topics.push_back(p + (p.empty() || p.back() == '/' ? "" : "/") + "CHECK-1");
    }
    if (topics.empty()) topics.push_back("sensor/check/CHECK-1");

    // Synthetic input: one record per declared metric (name and unit from the manifest) plus
    // the common "level"/"value" names, with slowly varying values.
    std::vector<testkit::SenmlRecord> base;
    for (int i = 0; m.metrics && m.metrics[i] && i < 64; ++i)
        base.push_back({m.metrics[i]->name, m.metrics[i]->unit, 0, 0});
    base.push_back({"level", "m", 0, 0});
    base.push_back({"value", "1", 0, 0});
    std::vector<double> msg_us, bad_us, tick_us;
    std::map<std::string, int> valid_codes, malformed_codes;
    say("progress synthetic");
    for (int i = 0; i < a.messages; ++i) {
        auto recs = base;
        for (auto& rec : recs) rec.value = -1.0 + std::sin(i * 0.05) + (rec.unit == "%" ? 50 : 0);
        const std::string payload = testkit::senml_pack(recs);
        const auto t0 = std::chrono::steady_clock::now();
        const auto res = h->send(topics[static_cast<std::size_t>(i) % topics.size()], payload);
        msg_us.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count());
        ++valid_codes[std::to_string(res.code)];
        h->advance(std::chrono::milliseconds(100));
    }
    nlohmann::json malformed = nlohmann::json::array();
    for (const auto& [label, payload] : malformed_inputs()) {
        for (const auto type : {ContentType::senml_json, ContentType::binary}) {
            say("progress malformed " + label);
            const auto t0 = std::chrono::steady_clock::now();
            const auto res = h->send(topics[0], payload, type);
            bad_us.push_back(
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                    .count());
            ++malformed_codes[std::to_string(res.code)];
            if (type == ContentType::senml_json) {
                malformed.push_back(
                    {{"input", label}, {"code", res.code}, {"message", res.message}});
            }
        }
    }
    if (m.tick_interval_ms > 0 && h->descriptor().on_tick != nullptr) {
        say("progress ticks");
        for (int i = 0; i < 100; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            h->advance(std::chrono::milliseconds(m.tick_interval_ms));
            tick_us.push_back(
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                    .count());
        }
    }
    say("progress destroy");
    const auto refusals = h->refusals();
    std::map<std::string, int> refused;
    for (const auto& x : refusals) ++refused[x.call + ": " + x.message.substr(0, 120)];
    r["messages"] = a.messages;
    r["valid_codes"] = valid_codes;
    r["malformed_codes"] = malformed_codes;
    r["malformed"] = malformed;
    r["on_message_us"] = {{"p50", percentile_us(msg_us, 0.5)},
                          {"p99", percentile_us(msg_us, 0.99)}};
    r["malformed_us"] = {{"p50", percentile_us(bad_us, 0.5)}, {"p99", percentile_us(bad_us, 0.99)}};
    if (!tick_us.empty())
        r["on_tick_us"] = {{"p50", percentile_us(tick_us, 0.5)},
                           {"p99", percentile_us(tick_us, 0.99)}};
    r["published"] = h->published().size();
    r["metrics"] = h->metrics().size();
    r["events"] = h->events().size();
    r["refused_host_calls"] = refused;
    h.reset();
    return r;
}

int run_check(const CheckArgs& a) {
    // Verify with the host's loader first: a plugin the host refuses is not worth running.
    auto lib = host::PluginLibrary::load(a.file);
    if (!lib) {
        std::cerr << "testbed plugin check: " << lib.error().message << "\n";
        return kExitUsage;
    }
    std::map<std::string, std::string> config;
    for (const auto& kv : a.config) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
            std::cerr << "testbed plugin check: --config '" << kv << "' must be key=value\n";
            return kExitUsage;
        }
        config[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& k : (*lib)->manifest().config_keys) {
        if (!k.default_value && !config.count(k.name)) {
            std::cerr << "testbed plugin check: plugin '" << (*lib)->manifest().id
                      << "' needs config key '" << k.name << "' (" << k.description
                      << "); pass --config " << k.name << "=<value>\n";
            return kExitUsage;
        }
    }
    std::fflush(stdout);
    std::fflush(stderr);
    int fds[2];
    if (::pipe(fds) != 0) {
        std::cerr << "testbed plugin check: pipe: " << std::strerror(errno) << "\n";
        return kExitFailure;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        std::cerr << "testbed plugin check: fork: " << std::strerror(errno) << "\n";
        return kExitFailure;
    }
    if (pid == 0) {
        ::close(fds[0]);
        ::alarm(a.timeout_s);  // a plugin that hangs is reported (SIGALRM) like one that crashes
        FILE* out = ::fdopen(fds[1], "w");
        auto r = check_in_child(a, config, out);
#if defined(TB_LEAK_CHECK)
        // The plugin is destroyed; what it allocated and can no longer reach is a leak. The
        // report (with the plugin's stack traces) goes to stderr; the verdict into the result.
        std::fprintf(out, "progress leak check\n");
        std::fflush(out);
        r["leaks_found"] = __lsan_do_recoverable_leak_check() != 0;
#endif
        std::fprintf(out, "result %s\n", r.dump().c_str());
        std::fclose(out);
        std::fflush(stderr);
        ::_exit(0);  // the leak check has run; do not run the harness's exit-time checks again
    }
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::string last_step = "start";
    nlohmann::json result;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("progress ", 0) == 0) last_step = line.substr(9);
        if (line.rfind("result ", 0) == 0)
            result = nlohmann::json::parse(line.substr(7), nullptr, false);
    }
    const bool crashed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0) ||
                         result.is_null() || result.is_discarded();
    nlohmann::json report{
        {"file", a.file}, {"plugin", (*lib)->manifest().id}, {"survived", !crashed}};
    if (crashed) {
        report["crashed_during"] = last_step;
        report["exit"] = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) + " (" +
                                                   strsignal(WTERMSIG(status)) + ")"
                                             : "exit code " + std::to_string(WEXITSTATUS(status));
    } else {
        report.update(result);
    }
    if (a.json) {
        std::cout << report.dump(2) << "\n";
    } else if (crashed) {
        std::cout << "plugin " << report["plugin"].get<std::string>() << ": CRASHED during "
                  << last_step << " (" << report["exit"].get<std::string>() << ")\n";
    } else if (report.contains("create_error")) {
        std::cout << "plugin " << report["plugin"].get<std::string>()
                  << ": create failed: " << report["create_error"].get<std::string>() << "\n";
    } else {
        auto codes = [](const nlohmann::json& j) {
            std::string s;
            for (const auto& [code, n] : j.items())
                s += (s.empty() ? "" : ", ") + std::to_string(n.get<int>()) + " x code " + code;
            return s;
        };
        std::cout << "plugin " << report["plugin"].get<std::string>() << ": survived "
                  << report["messages"] << " synthetic and " << report["malformed"].size() * 2
                  << " malformed messages\n"
                  << "  synthetic results: " << codes(report["valid_codes"]) << "\n"
                  << "  malformed results: " << codes(report["malformed_codes"])
                  << " (0 = accepted, 7 = TB_E_BAD_DATA, 3 = exception)\n"
                  << "  on_message: p50 " << report["on_message_us"]["p50"].get<double>()
                  << " us, p99 " << report["on_message_us"]["p99"].get<double>() << " us\n";
        if (report.contains("on_tick_us")) {
            std::cout << "  on_tick:    p50 " << report["on_tick_us"]["p50"].get<double>()
                      << " us, p99 " << report["on_tick_us"]["p99"].get<double>() << " us\n";
        }
        std::cout << "  recorded " << report["metrics"] << " metrics, " << report["events"]
                  << " events, published " << report["published"] << " messages\n";
        for (const auto& [what, n] : report["refused_host_calls"].items()) {
            std::cout << "  refused by the host " << n << " x: " << what << "\n";
        }
        if (!report.contains("leaks_found")) {
            std::cout << "  leaks: not checked (build testbed with the asan preset to have "
                         "LeakSanitizer check this run)\n";
        } else if (report["leaks_found"].get<bool>()) {
            std::cout << "  leaks: FOUND by LeakSanitizer (its report, with the allocating stack, "
                         "is on stderr)\n";
        } else {
            std::cout << "  leaks: none found by LeakSanitizer\n";
        }
    }
    const bool leaked = report.value("leaks_found", false);
    if (crashed || leaked || report.contains("create_error")) return kExitFailure;
    return kExitOk;
}

}  // namespace

void register_plugin_commands(CLI::App& app) {
    auto* plugin = app.add_subcommand("plugin", "Create, inspect and check plugins");
    plugin->require_subcommand(1);

    auto na = std::make_shared<NewArgs>();
    auto* create = plugin->add_subcommand(
        "new", "Write a complete plugin project (CMake, source, unit test, README)");
    create->add_option("name", na->name, "Plugin id: lower-case letters, digits, '_'")->required();
    create->add_option("--org", na->org, "Organisation responsible for the plugin")->required();
    create->add_option("--contact", na->contact, "E-mail address of the responsible person");
    create->add_option("--dir", na->dir,
                       "Project folder to create (default: ./<name>); must not exist");
    create->callback([na] {
        if (const int rc = run_new(*na); rc != 0) throw CLI::RuntimeError(rc);
    });

    auto ia = std::make_shared<InspectArgs>();
    auto* inspect =
        plugin->add_subcommand("inspect", "Print a plugin's manifest, SDK/ABI version and SHA-256");
    inspect->add_option("file", ia->file, "Plugin library (.so)")->required();
    inspect->add_flag("--json", ia->json, "Print JSON");
    inspect->callback([ia] {
        if (const int rc = run_inspect(*ia); rc != 0) throw CLI::RuntimeError(rc);
    });

    auto ca = std::make_shared<CheckArgs>();
    auto* check = plugin->add_subcommand(
        "check", "Run a plugin on synthetic and malformed input; report survival and timings");
    check->add_option("file", ca->file, "Plugin library (.so)")->required();
    check->add_option("--messages", ca->messages, "Synthetic messages to send")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    check->add_option("--config", ca->config, "Config value key=value (repeatable)");
    check
        ->add_option("--timeout", ca->timeout_s,
                     "Give up on a plugin that takes longer than this (seconds)")
        ->check(CLI::Range(1u, 86400u))
        ->capture_default_str();
    check->add_flag("--json", ca->json, "Print JSON");
    check->callback([ca] {
        if (const int rc = run_check(*ca); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace tb::cli
