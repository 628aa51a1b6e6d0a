#pragma once
// The failures of tunkit::Link's operations as they are thrown: one function per operation, made
// only where a throwing overload throws (and by configure(), which reports its failed step's
// message). Hints that need formatting (an address, a route, the MTU range) are computed here
// from the operation's own arguments; hints that need the interface's state ask for it, on the
// error path only.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "tunkit/address.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/mac.hpp"

namespace tunkit::detail {

/// The hint shared by every operation on the interface: EPERM (CAP_NET_ADMIN), ENODEV (gone).
[[nodiscard]] std::string_view change_hint(std::error_code ec) noexcept;

/// What is wrong with a route before any request is sent (`errc::invalid_address`), if anything.
enum class RouteProblem : std::uint8_t {
  none,
  prefix_length,   ///< the destination's prefix length exceeds the family's
  host_bits,       ///< host bits set in the destination
  gateway_family,  ///< a gateway of another family than the destination
  source_family,   ///< a source of another family than the destination
};
/// Checks `route` in the order the problems are listed.
[[nodiscard]] RouteProblem route_problem(const Route& route) noexcept;

/// `tunkit: OP "NAME": cause (change hint)`: set up, set down, the reads.
[[nodiscard]] Error link_error(const Link& link, std::string_view op, std::error_code ec);
/// Link::set_mtu's failure, with the device's MTU range when the MTU is outside it.
[[nodiscard]] Error mtu_error(const Link& link, unsigned mtu, std::error_code ec);
/// Link::set_txqueuelen's failure.
[[nodiscard]] Error txqueuelen_error(const Link& link, unsigned packets, std::error_code ec);
/// Link::set_mac's failure.
[[nodiscard]] Error mac_error(const Link& link, const MacAddress& mac, std::error_code ec);
/// Link::rename's failure (the name before the rename, and the one asked for).
[[nodiscard]] Error rename_error(std::string_view old_name, std::string_view new_name,
                                 std::error_code ec);
/// Link::add_address's failure.
[[nodiscard]] Error add_address_error(const Link& link, const IpPrefix& prefix, std::error_code ec);
/// Link::remove_address's failure.
[[nodiscard]] Error remove_address_error(const Link& link, const IpPrefix& prefix,
                                         std::error_code ec);
/// Link::add_address's failure for a point-to-point address.
[[nodiscard]] Error add_peer_address_error(const Link& link, const IpAddress& local,
                                           const IpPrefix& peer, std::error_code ec);
/// Link::remove_address's failure for a point-to-point address.
[[nodiscard]] Error remove_peer_address_error(const Link& link, const IpAddress& local,
                                              const IpPrefix& peer, std::error_code ec);
/// Link::add_route's failure.
[[nodiscard]] Error add_route_error(const Link& link, const Route& route, std::error_code ec);
/// Link::remove_route's failure.
[[nodiscard]] Error remove_route_error(const Link& link, const Route& route, std::error_code ec);
/// Link::move_to_netns's failure: `target` is the namespace as the message names it.
[[nodiscard]] Error move_error(std::string_view name, std::string_view target, std::error_code ec);

/// Runs the `std::error_code&` form of a read (`read(ec)`) and throws its failure as
/// `link_error(link, op, ec)`; else returns its result.
template <typename F>
auto read_or_throw(const Link& link, std::string_view op, F&& read) {
  std::error_code ec;
  auto result = read(ec);
  if (ec) throw link_error(link, op, ec);
  return result;
}

}  // namespace tunkit::detail
