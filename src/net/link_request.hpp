#pragma once
// How each of tunkit::Link's changes is sent: the shape every `std::error_code&` form of a change
// shares (link.cpp, link_address.cpp, link_route.cpp).

#include <system_error>

#include "detail/netlink/request.hpp"
#include "detail/netlink/socket.hpp"
#include "tunkit/error.hpp"

namespace tunkit::detail {

/// Sends the change `request` on `socket` and waits for the kernel's answer: `errc::not_open`
/// when there is no socket (a moved-from Link, or one moved to another namespace), else
/// `refused` when it is set (the change was checked and refused before any request).
[[nodiscard]] inline std::error_code request_change(netlink::Socket* socket,
                                                    netlink::Request request,
                                                    std::error_code refused = {}) noexcept {
  if (socket == nullptr) return errc::not_open;
  if (refused) return refused;
  return socket->transact(request);
}

}  // namespace tunkit::detail
