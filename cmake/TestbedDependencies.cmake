# Every dependency is a Debian 12 package installed by tools/setup-deps; nothing is downloaded.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS filesystem system)
find_package(SQLite3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq>=4.3)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(TOMLPP REQUIRED tomlplusplus>=3)
find_path(CPPZMQ_INCLUDE_DIR zmq.hpp REQUIRED)

add_library(tb_deps_zmq INTERFACE)
target_link_libraries(tb_deps_zmq INTERFACE PkgConfig::ZMQ)
target_include_directories(tb_deps_zmq SYSTEM INTERFACE ${CPPZMQ_INCLUDE_DIR})
add_library(tb::zmq ALIAS tb_deps_zmq)

# toml++ is used header-only (TOML_HEADER_ONLY=1), not through Debian's shared libtomlplusplus:
# one parser everywhere, compiled with our flags, so the asan and fuzz builds instrument it too
# (UBSan then sees toml++ 3.3.0's unreachable code, docs/reliability.md, bug 9). Include it only
# through config/toml_guard.hpp's callers; it is a heavy header.
find_path(TOMLPP_INCLUDE_DIR toml++/toml.h HINTS ${TOMLPP_INCLUDE_DIRS} REQUIRED)
add_library(tb_deps_toml INTERFACE)
target_include_directories(tb_deps_toml SYSTEM INTERFACE ${TOMLPP_INCLUDE_DIR})
target_compile_definitions(tb_deps_toml INTERFACE TOML_HEADER_ONLY=1 TOML_SHARED_LIB=0)
add_library(tb::toml ALIAS tb_deps_toml)
