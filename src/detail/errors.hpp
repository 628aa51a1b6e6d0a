#pragma once
// Being replaced: detail::Failure (failure.hpp) and tunkit::make_error are the error plumbing
// now; message/throw_error remain only until every file has moved over.

#include <string>
#include <string_view>
#include <system_error>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "tunkit/error.hpp"
#include "tunkit/export.hpp"

namespace tunkit::detail {

// cause, message and throw_error are exported from a shared tunkit although this header is not
// installed: tunkit::testing (a library of its own) and tunkit's unit tests use them. They are
// not part of the API.

/// `tunkit: OP "DEVICE": cause (hint)`; the device part is left out when `device` is empty and
/// the hint part when `hint` is empty.
[[nodiscard]] TUNKIT_EXPORT std::string message(std::error_code ec, std::string_view op,
                                                std::string_view device,
                                                std::string_view hint = {});

/// Checks an interface name (or a template with one "%d") against the kernel's dev_valid_name()
/// and dev_alloc_name() rules: `errc::name_too_long` beyond 15 bytes, `errc::invalid_name` for
/// '/', ':', whitespace, "." / "..", or '%' other than one "%d". An empty name passes (the kernel
/// then picks one, where that is allowed).
[[nodiscard]] std::error_code validate_interface_name(std::string_view name) noexcept;

/// The rules behind `errc::invalid_name`, as a hint; empty for other codes.
[[nodiscard]] std::string_view interface_name_hint(std::error_code ec) noexcept;

/// Throws tunkit::Error with `message(ec, op, device, hint)`.
[[noreturn]] TUNKIT_EXPORT void throw_error(std::error_code ec, std::string_view op,
                                            std::string_view device, std::string_view hint = {});

}  // namespace tunkit::detail
