#pragma once
// The kernel's rules for interface names, checked before a name reaches it.

#include <string_view>
#include <system_error>

namespace tunkit::detail {

/// Checks an interface name (or a template with one "%d") against the kernel's dev_valid_name()
/// and dev_alloc_name() rules: `errc::name_too_long` beyond 15 bytes, `errc::invalid_name` for
/// '/', ':', whitespace, "." / "..", or '%' other than one "%d". An empty name passes (the kernel
/// then picks one, where that is allowed).
[[nodiscard]] std::error_code validate_interface_name(std::string_view name) noexcept;

/// The rules behind `errc::invalid_name`, as a hint; empty for other codes.
[[nodiscard]] std::string_view interface_name_hint(std::error_code ec) noexcept;

}  // namespace tunkit::detail
