#pragma once
// tunkit's internal rtnetlink client, in layers that later features reuse one by one:
//
//  1. Messages: `Request` (request.hpp) builds one netlink message in a fixed buffer;
//     `parse_message` and `MessageWalk` (parse.hpp) give checked access to received ones. libmnl
//     does the byte work (alignment, padding, attribute headers); nothing there talks to a
//     socket. This header holds the few rules they share.
//  2. `Socket` (socket.hpp): a NETLINK_ROUTE socket opened and driven only through
//     `tunkit::sys::Syscalls`, so a fake kernel sees every call.
//  3. One codec per message family: what a request asks for and what a reply says, in C++
//     values, with the requests of that family (link.hpp, address.hpp, route.hpp).
//
// Errors: the kernel's errno as a `std::system_category()` code; a reply that does not follow the
// protocol (truncated datagram, bad lengths, missing header) as `errc::netlink_protocol`.
// Nothing here reads the global errno, and nothing throws except `decode_link` (std::bad_alloc
// for the name).
//
// References: netlink(7), rtnetlink(7), Documentation/userspace-api/netlink/intro.rst.

#include <linux/netlink.h>

#include <cstddef>
#include <system_error>

#include "tunkit/error.hpp"

namespace tunkit::detail::netlink {

/// Netlink's 4-byte alignment (NLMSG_ALIGN / NLA_ALIGN), without the macros' int arithmetic.
constexpr std::size_t align(std::size_t n) noexcept {
  return (n + 3U) & ~std::size_t{3};
}
/// The aligned length of a message header.
inline constexpr std::size_t kHeaderLen = align(sizeof(nlmsghdr));
/// The aligned length of an attribute header.
inline constexpr std::size_t kAttrHeaderLen = align(sizeof(nlattr));

/// A reply that does not follow the protocol.
[[nodiscard]] inline std::error_code protocol_error() noexcept {
  return errc::netlink_protocol;
}

}  // namespace tunkit::detail::netlink
