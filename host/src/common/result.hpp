// common/result.hpp: Status and Result<T>, the error currency at subsystem boundaries.
//
// An error is a message for a person (where, what, why, what to do) plus a short machine-readable
// reason. Exceptions never leave a subsystem; they are turned into these.
// Thread safety: value types, no shared state.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tb::host {

struct Error {
    std::string message;  // complete sentence(s) for the person who has to act on it
    std::string reason;   // short machine-readable tag, e.g. "abi_major", "not_found"
};

class Status {
   public:
    Status() = default;
    Status(Error e) : error_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
    static Status ok() { return {}; }
    bool is_ok() const noexcept { return !error_.has_value(); }
    explicit operator bool() const noexcept { return is_ok(); }
    const Error& error() const { return *error_; }
    const std::string& message() const { return error_->message; }

   private:
    std::optional<Error> error_;
};

template <class T>
class Result {
   public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Error e) : v_(std::move(e)) {}      // NOLINT(google-explicit-constructor)
    bool is_ok() const noexcept { return std::holds_alternative<T>(v_); }
    explicit operator bool() const noexcept { return is_ok(); }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &std::get<T>(v_); }
    const T* operator->() const { return &std::get<T>(v_); }
    T& operator*() & { return std::get<T>(v_); }
    const T& operator*() const& { return std::get<T>(v_); }
    T operator*() && { return std::get<T>(std::move(v_)); }
    const Error& error() const { return std::get<Error>(v_); }
    Status status() const { return is_ok() ? Status() : Status(error()); }

   private:
    std::variant<T, Error> v_;
};

}  // namespace tb::host
