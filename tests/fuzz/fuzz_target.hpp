// tests/fuzz/fuzz_target.hpp: one source file per fuzz target, built two ways.
//
//   TB_FUZZ_TARGET(wire) { ...use data, size...; return 0; }
//
// In the fuzz preset (TB_FUZZ_LIBFUZZER defined) the macro is libFuzzer's entry point and the
// file becomes the executable fuzz_<name>. In every other build the same body is registered by
// name and tests/fuzz/fuzz_regression_test.cpp replays the committed seed corpus and every saved
// crash input through it, so a fixed crash stays fixed and the targets never stop compiling.
// A target reports a broken invariant with TB_FUZZ_CHECK, which aborts (a crash to libFuzzer, a
// death to the replay test); exceptions the code under test may throw by contract are caught by
// the target, anything else escapes and aborts.
// Thread safety: targets run single-threaded; registration happens during static initialisation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace tb::fuzz {

using Entry = int (*)(const uint8_t* data, std::size_t size);

// The registry of targets linked into this executable (replay build only).
std::map<std::string, Entry>& targets();
inline bool register_target(const char* name, Entry fn) {
    targets()[name] = fn;
    return true;
}

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file, line, what);
    std::abort();
}

// Takes typed values off the front of the fuzz input; once the input is exhausted it yields
// zeros and empty strings, so every input, however short, maps to some structured value.
class Bytes {
   public:
    Bytes(const uint8_t* data, std::size_t size) : p_(data), n_(size) {}
    std::size_t left() const { return n_; }
    uint8_t u8() {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
    uint32_t u32() { return static_cast<uint32_t>(u16()) | (static_cast<uint32_t>(u16()) << 16); }
    std::string str(std::size_t max_len) {
        const std::size_t len = std::min<std::size_t>(max_len, n_);
        std::string s(reinterpret_cast<const char*>(p_), len);
        p_ += len;
        n_ -= len;
        return s;
    }
    std::string rest() { return str(n_); }

   private:
    const uint8_t* p_;
    std::size_t n_;
};

}  // namespace tb::fuzz

#define TB_FUZZ_CHECK(cond) ((cond) ? void(0) : ::tb::fuzz::fail(#cond, __FILE__, __LINE__))

#ifdef TB_FUZZ_LIBFUZZER
#define TB_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size)
#else
#define TB_FUZZ_TARGET(name)                                                                       \
    static int tb_fuzz_##name(const uint8_t* data, std::size_t size);                              \
    [[maybe_unused]] static const bool tb_fuzz_registered_##name =                                 \
        ::tb::fuzz::register_target(#name, &tb_fuzz_##name);                                       \
    static int tb_fuzz_##name(const uint8_t* data, std::size_t size)
#endif
