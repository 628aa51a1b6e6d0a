#pragma once
/// @file
/// `tunkit::Result<T, E>`: the outcome of the non-throwing packet, builder and offload functions,
/// a value or the reason there is none (a small `std::expected` for C++20).

#include <optional>
#include <utility>

#include "tunkit/error.hpp"

namespace tunkit {

/// Either a value or an error (a small `std::expected` for C++20). `T` and `E` are cheap to copy.
///
/// `E` describes itself through two functions found by argument-dependent lookup:
/// `to_string(const E&)` (the reason in words) and `make_error_code(const E&)` (the
/// `std::error_code` it belongs to); `value()` uses them to throw.
///
/// @code
/// auto ip = tunkit::Ipv4View::parse(buf);
/// if (!ip) return log(tunkit::to_string(ip.error()));
/// use(ip->ttl());
/// @endcode
template <class T, class E>
class [[nodiscard]] Result {
 public:
  /// A success.
  Result(T value) noexcept : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  /// A failure.
  Result(E error) noexcept : error_(error) {}  // NOLINT(google-explicit-constructor)

  /// True on success.
  [[nodiscard]] bool has_value() const noexcept { return value_.has_value(); }
  /// True on success.
  explicit operator bool() const noexcept { return has_value(); }
  /// The value; requires `has_value()`.
  [[nodiscard]] const T& operator*() const noexcept { return *value_; }
  /// The value; requires `has_value()`.
  [[nodiscard]] T& operator*() noexcept { return *value_; }
  /// Member access to the value; requires `has_value()`.
  [[nodiscard]] const T* operator->() const noexcept { return &*value_; }
  /// Member access to the value; requires `has_value()`.
  [[nodiscard]] T* operator->() noexcept { return &*value_; }
  /// The value.
  /// @throws tunkit::Error when there is none: `code()` is `make_error_code(error())`, `what()`
  /// ends with the error's description in parentheses, e.g.
  /// `tunkit: Result::value: malformed packet (IPv4: truncated (10 bytes, header needs 20))`.
  [[nodiscard]] const T& value() const {
    if (!value_) throw make_error(make_error_code(error_), "Result::value", {}, to_string(error_));
    return *value_;
  }
  /// The error; meaningful only when `!has_value()`.
  [[nodiscard]] const E& error() const noexcept { return error_; }

 private:
  std::optional<T> value_;
  E error_{};
};

}  // namespace tunkit
