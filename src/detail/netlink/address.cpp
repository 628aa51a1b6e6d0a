#include "detail/netlink/address.hpp"

#include <linux/if_addr.h>
#include <sys/socket.h>

#include <cerrno>

#include "detail/eintr.hpp"
#include "detail/netlink/message.hpp"
#include "detail/netlink/parse.hpp"
#include "detail/netlink/socket.hpp"

namespace tunkit::detail::netlink {
namespace {

Request address_request(std::uint16_t type, std::uint16_t flags, std::uint32_t ifindex,
                        const IpPrefix& prefix, const std::optional<IpAddress>& peer) noexcept {
  Request r(type, flags);
  ifaddrmsg ifa{};
  ifa.ifa_family = prefix.address.is_v4() ? AF_INET : AF_INET6;
  ifa.ifa_prefixlen = prefix.length;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = ifindex;
  r.put_header(ifa);
  if (peer) {
    // rtnetlink(7): IFA_LOCAL is the local address, IFA_ADDRESS the point-to-point peer.
    r.put_bytes(IFA_LOCAL, prefix.address.bytes());
    r.put_bytes(IFA_ADDRESS, peer->bytes());
    return r;
  }
  if (prefix.address.is_v4()) r.put_bytes(IFA_LOCAL, prefix.address.bytes());
  r.put_bytes(IFA_ADDRESS, prefix.address.bytes());
  return r;
}

}  // namespace

std::error_code decode_address(const nlmsghdr& message, AddressMessage& out) noexcept {
  if (message.nlmsg_type != RTM_NEWADDR && message.nlmsg_type != RTM_DELADDR) {
    return protocol_error();
  }
  ifaddrmsg ifa{};
  AttributeTable<IFA_FLAGS + 1> attrs{};
  if (auto ec = parse_message(message, ifa, attrs)) return ec;
  if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) return sys_error(EAFNOSUPPORT);
  out = {};
  out.message_type = message.nlmsg_type;
  out.ifindex = ifa.ifa_index;
  out.scope = ifa.ifa_scope;
  out.flags = ifa.ifa_flags;
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point
  // configurations and equals IFA_LOCAL otherwise. IPv6 sends IFA_ADDRESS alone unless there is
  // a peer.
  const nlattr* local_attr = attrs[IFA_LOCAL] != nullptr ? attrs[IFA_LOCAL] : attrs[IFA_ADDRESS];
  if (local_attr == nullptr) return protocol_error();
  const auto local = get_address(ifa.ifa_family, *local_attr);
  if (!local) return protocol_error();
  out.prefix = {*local, ifa.ifa_prefixlen};
  if (!out.prefix.is_valid()) return protocol_error();
  if (attrs[IFA_LOCAL] != nullptr && attrs[IFA_ADDRESS] != nullptr) {
    const auto address = get_address(ifa.ifa_family, *attrs[IFA_ADDRESS]);
    if (!address) return protocol_error();
    if (*address != *local) out.peer = *address;
  }
  if (const nlattr* f = attrs[IFA_FLAGS]) {
    const auto flags = get_u32(*f);
    if (!flags) return protocol_error();
    out.flags = *flags;
  }
  return {};
}

std::error_code for_each_address(Socket& socket, std::uint32_t ifindex,
                                 FunctionRef<std::error_code(const AddressMessage&)> on_address,
                                 FunctionRef<void()> restart) noexcept {
  auto on_message = [&](const nlmsghdr& message) -> std::error_code {
    if (message.nlmsg_type != RTM_NEWADDR) return {};
    AddressMessage address;
    const std::error_code decode_ec = decode_address(message, address);
    if (is_errno(decode_ec, EAFNOSUPPORT)) return {};  // another family (MCTP, ...)
    if (decode_ec) return decode_ec;
    // Kernels without strict checking dump every interface's addresses.
    if (ifindex != 0 && address.ifindex != ifindex) return {};
    return on_address(address);
  };
  auto request = dump_addresses(ifindex);
  return socket.dump(request, on_message, restart);
}

Request add_address(std::uint32_t ifindex, const IpPrefix& prefix,
                    const std::optional<IpAddress>& peer) noexcept {
  return address_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, prefix, peer);
}

Request remove_address(std::uint32_t ifindex, const IpPrefix& prefix,
                       const std::optional<IpAddress>& peer) noexcept {
  return address_request(RTM_DELADDR, 0, ifindex, prefix, peer);
}

Request dump_addresses(std::uint32_t ifindex) noexcept {
  Request r(RTM_GETADDR, NLM_F_DUMP);
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_UNSPEC;
  ifa.ifa_index = ifindex;
  r.put_header(ifa);
  return r;
}

}  // namespace tunkit::detail::netlink
