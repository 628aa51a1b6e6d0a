#pragma once
// detail::Failure: the one value in which a failed step travels from where it is detected to
// where a throwing overload throws it.

#include <string>
#include <string_view>
#include <system_error>

#include "tunkit/error.hpp"

namespace tunkit::detail {

/// One failed step as tunkit observed it: the code, the operation, the device and the hint when
/// the fix is known. Holds no text of its own (the views refer to static text or to names that
/// outlive the call: the object's name, the caller's options), so making one never allocates and
/// the non-throwing overloads simply return `code`. Formatted only by `raise`, where a throwing
/// overload throws.
struct Failure {
  std::error_code code;        ///< errno (system category) or tunkit::errc
  std::string_view op;         ///< the operation: "TUNSETIFF", "open /dev/net/tun for", ...
  std::string_view device;     ///< the device (or other object) it was done to; may be empty
  std::string_view hint = {};  ///< the fix or the observed cause, when known

  /// True when something failed.
  explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

/// Throws tunkit::Error for `f`.
[[noreturn]] inline void raise(const Failure& f) {
  throw make_error(f.code, f.op, f.device, f.hint);
}

/// The cause in plain, lower-case words ("device busy"), for errno and tunkit::errc codes.
[[nodiscard]] std::string cause(std::error_code ec);

}  // namespace tunkit::detail
