#pragma once
// no_throw: how the noexcept forms of the rtnetlink code report running out of memory.

#include <cerrno>
#include <new>
#include <system_error>
#include <type_traits>

#include "detail/eintr.hpp"

namespace tunkit::detail::netlink {

/// Runs `f` and returns ENOMEM when it throws std::bad_alloc (filling a vector, copying a name);
/// otherwise what `f` returns when that is a `std::error_code`, else success.
template <typename F>
std::error_code no_throw(F&& f) noexcept {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      f();
      return {};
    } else {
      return f();
    }
  } catch (const std::bad_alloc&) {
    return sys_error(ENOMEM);
  }
}

}  // namespace tunkit::detail::netlink
