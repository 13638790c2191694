// Error and Result: every fallible core function says why it failed.
//
// GCC 11 has no std::expected, so this is the small subset skgate needs. An
// Error carries a category (so callers can tell "denied" from "broken") and a
// human-readable reason that names what was wrong and, where possible, how to
// fix it.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace skgate {

enum class ErrorCode {
    invalid,      // malformed or unacceptable input
    not_found,    // a file, user or key that does not exist
    permission,   // unsafe ownership or modes, or access refused
    io,           // the system failed to read or write
    crypto,       // the crypto library failed (not: a bad signature)
    internal,     // a bug or resource exhaustion
    unavailable,  // a remote key source could not be reached or answered badly
};

struct Error {
    ErrorCode code = ErrorCode::invalid;
    std::string message;

    // Prefixes context ("file:line: ") to the reason, keeping the category.
    Error context(const std::string& where) const { return {code, where + ": " + message}; }
};

inline Error make_error(ErrorCode code, std::string message) {
    return {code, std::move(message)};
}
inline Error invalid(std::string message) {
    return {ErrorCode::invalid, std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(v_));
    }
    const Error& error() const {
        assert(!ok());
        return std::get<1>(v_);
    }

    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

  private:
    std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit by design

    static Status success() { return {}; }
    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const {
        assert(failed_);
        return error_;
    }

  private:
    Error error_;
    bool failed_ = false;
};

}  // namespace skgate

// Propagates an Error out of the current function. Used where an early
// return keeps a parser flat instead of nesting every step.
#define SKGATE_TRY(var, expr)         \
    auto var##_result_ = (expr);      \
    if (!var##_result_.ok())          \
        return var##_result_.error(); \
    auto var = std::move(var##_result_).value()

#define SKGATE_CHECK(expr)                 \
    do {                                   \
        auto skgate_status_ = (expr);      \
        if (!skgate_status_.ok())          \
            return skgate_status_.error(); \
    } while (0)
