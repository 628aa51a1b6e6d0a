#pragma once
// The address family (RTM_*ADDR): what an address message says, and the requests that add,
// remove and list interface addresses.

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <optional>
#include <system_error>

#include "detail/netlink/function_ref.hpp"
#include "detail/netlink/request.hpp"
#include "tunkit/address.hpp"

namespace tunkit::detail::netlink {

class Socket;

/// An interface address as RTM_NEWADDR (or RTM_DELADDR) describes it.
struct AddressMessage {
  std::uint16_t message_type = RTM_NEWADDR;  ///< nlmsg_type: RTM_NEWADDR or RTM_DELADDR
  std::uint32_t ifindex = 0;                 ///< ifa_index
  IpPrefix prefix;                           ///< IFA_LOCAL, else IFA_ADDRESS, with ifa_prefixlen
  /// IFA_ADDRESS when it differs from IFA_LOCAL: the peer of a point-to-point address.
  std::optional<IpAddress> peer;
  std::uint8_t scope = 0;   ///< ifa_scope (RT_SCOPE_*)
  std::uint32_t flags = 0;  ///< IFA_FLAGS when present, else ifa_flags (IFA_F_*)
};

/// Decodes an RTM_NEWADDR or RTM_DELADDR message. EAFNOSUPPORT (system category) for families
/// other than AF_INET / AF_INET6, which a dump of all families also returns (MCTP...): callers
/// skip those; `errc::netlink_protocol` when the message is malformed.
[[nodiscard]] std::error_code decode_address(const nlmsghdr& message, AddressMessage& out) noexcept;

/// Dumps the IPv4 and IPv6 addresses of interface `ifindex` (of every interface when 0) and
/// passes each to `on_address` (addresses of other families are skipped, as are other
/// interfaces' ones, which kernels without strict checking dump too); `restart` runs when the
/// kernel restarts an inconsistent dump.
[[nodiscard]] std::error_code for_each_address(
    Socket& socket, std::uint32_t ifindex,
    FunctionRef<std::error_code(const AddressMessage&)> on_address,
    FunctionRef<void()> restart) noexcept;

/// RTM_NEWADDR (NLM_F_CREATE | NLM_F_EXCL) adding `prefix` to the interface: IFA_LOCAL and
/// IFA_ADDRESS for IPv4 (equal: no peer), IFA_ADDRESS for IPv6. With a `peer`, IFA_LOCAL is
/// `prefix.address` and IFA_ADDRESS the peer, for both families (point-to-point).
[[nodiscard]] Request add_address(std::uint32_t ifindex, const IpPrefix& prefix,
                                  const std::optional<IpAddress>& peer = std::nullopt) noexcept;
/// RTM_DELADDR removing `prefix` from the interface (same attributes as `add_address`).
[[nodiscard]] Request remove_address(std::uint32_t ifindex, const IpPrefix& prefix,
                                     const std::optional<IpAddress>& peer = std::nullopt) noexcept;
/// RTM_GETADDR dump of both families. `ifindex` goes into ifa_index, which kernels with strict
/// checking use as a filter; others dump every interface, so callers still filter.
[[nodiscard]] Request dump_addresses(std::uint32_t ifindex) noexcept;

}  // namespace tunkit::detail::netlink
