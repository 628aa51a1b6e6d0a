#pragma once
// Decoded rtnetlink messages as tunkit's public values: one converter per value, shared by every
// operation that reports one (Link, LinkEvents, list_tun_devices, find_tun_device).

#include "detail/netlink/address.hpp"
#include "detail/netlink/link.hpp"
#include "tunkit/link.hpp"

namespace tunkit::detail {

/// The interface as `LinkState` reports it: name, index, flags, MTU and its range, txqueuelen,
/// MAC address and counters. Moves the name out of `message`.
[[nodiscard]] LinkState to_link_state(netlink::LinkMessage&& message) noexcept;
/// The public form of IFLA_XDP.
[[nodiscard]] XdpInfo to_xdp_info(const netlink::XdpLinkData& xdp) noexcept;

/// The address as `AddressInfo` reports it, with its scope, peer and flags.
[[nodiscard]] AddressInfo to_address_info(const netlink::AddressMessage& message) noexcept;

}  // namespace tunkit::detail
