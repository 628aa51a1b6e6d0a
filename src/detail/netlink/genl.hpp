#pragma once
// Generic netlink: resolving a family's id by name (CTRL_CMD_GETFAMILY) and building requests
// to it, over a NETLINK_GENERIC `Socket`.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "detail/netlink/request.hpp"
#include "detail/netlink/socket.hpp"

namespace tunkit::detail::netlink {

/// Asks the generic-netlink controller for the id of family `name` ("ethtool"); on success `id`
/// holds it. ENOENT when the kernel has no such family (the module is not loaded, or the kernel
/// predates it), `errc::netlink_protocol` when the answer lacks the id.
[[nodiscard]] std::error_code resolve_family(Socket& socket, std::string_view name,
                                             std::uint16_t& id) noexcept;

/// An empty request to family `family` with command `cmd` and version `version` (the genlmsghdr
/// is written; attributes follow).
[[nodiscard]] Request genl_request(std::uint16_t family, std::uint8_t cmd,
                                   std::uint8_t version) noexcept;

}  // namespace tunkit::detail::netlink
