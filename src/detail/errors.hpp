#pragma once
// Being replaced: detail::Failure (failure.hpp) and tunkit::make_error are the error plumbing
// now; message/throw_error remain only until every file has moved over.

#include <string>
#include <string_view>
#include <system_error>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "detail/ifname.hpp"
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

/// Throws tunkit::Error with `message(ec, op, device, hint)`.
[[noreturn]] TUNKIT_EXPORT void throw_error(std::error_code ec, std::string_view op,
                                            std::string_view device, std::string_view hint = {});

}  // namespace tunkit::detail
