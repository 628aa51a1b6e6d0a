#include "tunkit/link.hpp"

#include <fmt/format.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <climits>
#include <new>
#include <utility>

#include "detail/errors.hpp"
#include "detail/netlink.hpp"

namespace tunkit {
namespace {

namespace nl = detail::netlink;
using detail::sys_error;

// IPv6 refuses interfaces whose MTU is below its minimum link MTU (RFC 8200 section 5).
constexpr unsigned kIpv6MinMtu = 1280;

constexpr std::string_view kNeedsNetAdmin =
    "needs CAP_NET_ADMIN in the interface's network namespace";

bool is_errno(std::error_code ec, int value) noexcept {
  return ec.category() == std::system_category() && ec.value() == value;
}

// The hint shared by every operation that changes the interface.
std::string_view change_hint(std::error_code ec) noexcept {
  if (is_errno(ec, EPERM)) return kNeedsNetAdmin;
  if (is_errno(ec, ENODEV)) return "the interface no longer exists";
  return {};
}

// ifi_index is a signed int on the wire, and 0 means "by name".
bool valid_ifindex(unsigned ifindex) noexcept {
  return ifindex != 0 && ifindex <= static_cast<unsigned>(INT_MAX);
}

// Sends a GETLINK request and decodes its single RTM_NEWLINK answer.
std::error_code query_link(nl::Socket& socket, nl::Request request, nl::LinkMessage& out) noexcept {
  bool found = false;
  auto on_message = [&](const nlmsghdr& message) -> std::error_code {
    if (found || message.nlmsg_type != RTM_NEWLINK) return errc::netlink_protocol;
    found = true;
    try {
      return nl::decode_link(message, out);
    } catch (const std::bad_alloc&) {
      return sys_error(ENOMEM);
    }
  };
  std::error_code ec = socket.transact(request, on_message);
  if (!ec && !found) ec = errc::netlink_protocol;
  return ec;
}

std::unique_ptr<nl::Socket> open_socket(sys::Syscalls& sys, std::error_code& ec) {
  auto socket = std::make_unique<nl::Socket>();
  *socket = nl::Socket::open(sys, ec);
  return socket;
}

}  // namespace

Link::Link(std::unique_ptr<nl::Socket> socket, unsigned ifindex, std::string name) noexcept
    : socket_(std::move(socket)), ifindex_(ifindex), name_(std::move(name)) {}

Link::Link(unsigned ifindex, sys::Syscalls& sys) : ifindex_(ifindex) {
  if (!valid_ifindex(ifindex)) {
    detail::throw_error(errc::link_not_found, fmt::format("look up interface index {}", ifindex),
                        {});
  }
  std::error_code ec;
  auto socket = open_socket(sys, ec);
  if (ec) {
    detail::throw_error(ec, fmt::format("open rtnetlink socket for interface index {}", ifindex),
                        {});
  }
  nl::LinkMessage info;
  ec = query_link(*socket, nl::get_link(ifindex), info);
  if (!ec && info.ifindex != ifindex) ec = errc::netlink_protocol;
  if (is_errno(ec, ENODEV)) ec = errc::link_not_found;
  if (ec) detail::throw_error(ec, fmt::format("look up interface index {}", ifindex), {});
  socket_ = std::move(socket);
  name_ = std::move(info.name);
}

Link Link::from_name(std::string_view name, sys::Syscalls& sys) {
  if (name.size() >= IFNAMSIZ) detail::throw_error(errc::name_too_long, "look up interface", name);
  if (name.empty()) detail::throw_error(errc::invalid_name, "look up interface", name);
  std::error_code ec;
  auto socket = open_socket(sys, ec);
  if (ec) detail::throw_error(ec, "open rtnetlink socket for", name);
  nl::LinkMessage info;
  ec = query_link(*socket, nl::get_link(name), info);
  if (!ec && !valid_ifindex(info.ifindex)) ec = errc::netlink_protocol;
  if (is_errno(ec, ENODEV)) ec = errc::link_not_found;
  if (ec) detail::throw_error(ec, "look up interface", name);
  const unsigned ifindex = info.ifindex;
  return Link(std::move(socket), ifindex, info.name.empty() ? std::string(name) : info.name);
}

Link::Link(Link&& other) noexcept = default;
Link& Link::operator=(Link&& other) noexcept = default;
Link::~Link() = default;

// --- up / down ---------------------------------------------------------------------------------

void Link::set_up() {
  std::error_code ec;
  set_up(ec);
  if (ec) detail::throw_error(ec, "set up", name_, change_hint(ec));
}

void Link::set_up(std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  auto request = nl::set_link_flags(ifindex_, IFF_UP, IFF_UP);
  ec = socket_->transact(request);
}

void Link::set_down() {
  std::error_code ec;
  set_down(ec);
  if (ec) detail::throw_error(ec, "set down", name_, change_hint(ec));
}

void Link::set_down(std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  auto request = nl::set_link_flags(ifindex_, 0, IFF_UP);
  ec = socket_->transact(request);
}

// --- MTU ---------------------------------------------------------------------------------------

void Link::set_mtu(unsigned mtu) {
  std::error_code ec;
  set_mtu(mtu, ec);
  if (!ec) return;
  std::string hint(change_hint(ec));
  if (is_errno(ec, EINVAL)) {
    // The kernel does not say why; the device's range (Linux 4.19+) usually does. Asking costs
    // one more request, on the error path only.
    std::error_code state_ec;
    const LinkState s = state(state_ec);
    if (state_ec || s.max_mtu == 0) {
      hint = "MTU out of range for this device";
    } else if (mtu < s.min_mtu || mtu > s.max_mtu) {
      hint = fmt::format("MTU out of range for this device: {} to {}", s.min_mtu, s.max_mtu);
    }
  }
  detail::throw_error(ec, fmt::format("set MTU {} on", mtu), name_, hint);
}

void Link::set_mtu(unsigned mtu, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  auto request = nl::set_link_mtu(ifindex_, mtu);
  ec = socket_->transact(request);
}

// --- addresses ---------------------------------------------------------------------------------

void Link::add_address(const IpPrefix& prefix) {
  std::error_code ec;
  add_address(prefix, ec);
  if (!ec) return;
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) {
    hint = prefix.address.is_v4() ? "the prefix length of an IPv4 address is at most 32"
                                  : "the prefix length of an IPv6 address is at most 128";
  } else if (prefix.address.is_v6() && is_errno(ec, EACCES)) {
    hint = fmt::format("IPv6 is disabled on this interface (sysctl net.ipv6.conf.{}.disable_ipv6)",
                       name_);
  } else if (prefix.address.is_v6() && is_errno(ec, EINVAL)) {
    std::error_code state_ec;
    const LinkState s = state(state_ec);
    if (!state_ec && s.mtu < kIpv6MinMtu) {
      hint = fmt::format("IPv6 needs an MTU of at least {}; this interface has {}", kIpv6MinMtu,
                         s.mtu);
    }
  }
  detail::throw_error(ec, fmt::format("add address {} on", prefix.to_string()), name_, hint);
}

void Link::add_address(const IpPrefix& prefix, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  if (!prefix.is_valid()) {
    ec = errc::invalid_address;
    return;
  }
  auto request = nl::add_address(ifindex_, prefix);
  ec = socket_->transact(request);
}

void Link::remove_address(const IpPrefix& prefix) {
  std::error_code ec;
  remove_address(prefix, ec);
  if (!ec) return;
  std::string_view hint = change_hint(ec);
  if (is_errno(ec, EADDRNOTAVAIL)) {
    hint = "no assigned address matches both address and prefix length";
  } else if (ec == errc::invalid_address) {
    hint = prefix.address.is_v4() ? "the prefix length of an IPv4 address is at most 32"
                                  : "the prefix length of an IPv6 address is at most 128";
  }
  detail::throw_error(ec, fmt::format("remove address {} from", prefix.to_string()), name_, hint);
}

void Link::remove_address(const IpPrefix& prefix, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  if (!prefix.is_valid()) {
    ec = errc::invalid_address;
    return;
  }
  auto request = nl::remove_address(ifindex_, prefix);
  ec = socket_->transact(request);
}

// --- reading -----------------------------------------------------------------------------------

LinkState Link::state() const {
  std::error_code ec;
  LinkState s = state(ec);
  if (ec) detail::throw_error(ec, "read state of", name_, change_hint(ec));
  return s;
}

LinkState Link::state(std::error_code& ec) const noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return {};
  }
  nl::LinkMessage info;
  ec = query_link(*socket_, nl::get_link(ifindex_), info);
  if (!ec && info.ifindex != ifindex_) ec = errc::netlink_protocol;
  if (ec) return {};
  LinkState s;
  s.name = std::move(info.name);  // moves, never allocates
  s.ifindex = info.ifindex;
  s.mtu = info.mtu.value_or(0);
  s.min_mtu = info.min_mtu.value_or(0);
  s.max_mtu = info.max_mtu.value_or(0);
  s.flags = info.flags;
  s.up = (info.flags & IFF_UP) != 0;
  s.running = (info.flags & IFF_RUNNING) != 0;
  s.lower_up = (info.flags & IFF_LOWER_UP) != 0;
  return s;
}

std::vector<IpPrefix> Link::addresses() const {
  std::error_code ec;
  std::vector<IpPrefix> result = addresses(ec);
  if (ec) detail::throw_error(ec, "read addresses of", name_, change_hint(ec));
  return result;
}

std::vector<IpPrefix> Link::addresses(std::error_code& ec) const noexcept {
  std::vector<IpPrefix> result;
  if (!socket_) {
    ec = errc::not_open;
    return result;
  }
  auto on_message = [&](const nlmsghdr& message) -> std::error_code {
    if (message.nlmsg_type != RTM_NEWADDR) return {};
    nl::AddressMessage address;
    const std::error_code decode_ec = nl::decode_address(message, address);
    if (is_errno(decode_ec, EAFNOSUPPORT)) return {};  // another family (MCTP, ...)
    if (decode_ec) return decode_ec;
    // Kernels without strict checking dump every interface's addresses.
    if (address.ifindex != ifindex_) return {};
    try {
      result.push_back(address.prefix);
    } catch (const std::bad_alloc&) {
      return sys_error(ENOMEM);
    }
    return {};
  };
  auto request = nl::dump_addresses(ifindex_);
  ec = socket_->dump(request, on_message, [&] { result.clear(); });
  if (ec) result.clear();
  return result;
}

}  // namespace tunkit
