#pragma once
// Builds tunkit's error messages: `tunkit: OPERATION "DEVICE": cause (hint)`.

#include <string>
#include <string_view>
#include <system_error>

#include "tunkit/error.hpp"

namespace tunkit::detail {

/// A system_category error_code from a positive errno value.
[[nodiscard]] inline std::error_code sys_error(int err) noexcept {
  return {err, std::system_category()};
}

/// The cause in plain, lower-case words ("device busy"), for errno codes and tunkit::errc codes.
[[nodiscard]] std::string cause(std::error_code ec);

/// `tunkit: OP "DEVICE": cause (hint)`; the device part is left out when `device` is empty and
/// the hint part when `hint` is empty.
[[nodiscard]] std::string message(std::error_code ec, std::string_view op, std::string_view device,
                                  std::string_view hint = {});

/// Throws tunkit::Error with `message(ec, op, device, hint)`.
[[noreturn]] void throw_error(std::error_code ec, std::string_view op, std::string_view device,
                              std::string_view hint = {});

}  // namespace tunkit::detail
