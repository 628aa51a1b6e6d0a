#pragma once
// Internal helpers shared by Queue and TunDevice: name rules, errno hints, EINTR retry.

#include <cerrno>
#include <string_view>
#include <system_error>

#include "detail/eintr.hpp"
#include "tunkit/options.hpp"

namespace tunkit::detail {

inline constexpr const char* kTunPath = "/dev/net/tun";

/// The hint for a failed TUNSETIFF: what the errno means for this driver.
[[nodiscard]] std::string_view setiff_hint(int err, const Options& o) noexcept;
/// The hint for a failed open("/dev/net/tun").
[[nodiscard]] std::string_view open_hint(int err) noexcept;
/// The display name of a device about to be opened: the name, or the kernel's default template.
[[nodiscard]] std::string_view shown_name(const Options& o) noexcept;

/// The TUNSET{PERSIST,OWNER,GROUP,LINK,...} ioctls take their argument by value, not by pointer.
[[nodiscard]] inline void* int_arg(unsigned long v) noexcept {
  return reinterpret_cast<void*>(v);  // NOLINT(performance-no-int-to-ptr)
}

}  // namespace tunkit::detail
