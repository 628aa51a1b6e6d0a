#pragma once
// The seam's return convention in one place: results or -errno, EINTR retried, errno values
// turned into std::error_code.

#include <cerrno>
#include <system_error>

namespace tunkit::detail {

/// A system_category error_code from a positive errno value.
[[nodiscard]] inline std::error_code sys_error(int err) noexcept {
  return {err, std::system_category()};
}

/// True when `ec` is the errno `value` (system category).
[[nodiscard]] inline bool is_errno(std::error_code ec, int value) noexcept {
  return ec.category() == std::system_category() && ec.value() == value;
}

/// Retries a seam call while it fails with EINTR; returns the result or -errno. Never used for
/// close(2): on Linux the descriptor is gone even when close reports EINTR.
template <typename F>
auto retry_eintr(F&& f) noexcept {
  for (;;) {
    auto r = f();
    if (r != -EINTR) return r;
  }
}

}  // namespace tunkit::detail
