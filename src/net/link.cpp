#include "tunkit/link.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <fmt/format.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <iterator>
#include <utility>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "detail/ifname.hpp"
#include "detail/netlink/link.hpp"
#include "detail/netlink/no_throw.hpp"
#include "detail/netlink/socket.hpp"
#include "net/convert.hpp"
#include "net/link_errors.hpp"
#include "net/link_request.hpp"
#include "tunkit/netns.hpp"

// The Link object: making one, up/down, MTU, txqueuelen, MAC address, name, network namespace,
// and reading its state back. Addresses (link_address.cpp), routes (link_route.cpp) and
// configure() (link_config.cpp) have files of their own.

namespace tunkit {
namespace {

namespace nl = detail::netlink;
using detail::is_errno;
using detail::sys_error;

// ifi_index is a signed int on the wire, and 0 means "by name".
bool valid_ifindex(unsigned ifindex) noexcept {
  return ifindex != 0 && ifindex <= static_cast<unsigned>(INT_MAX);
}

std::unique_ptr<nl::Socket> open_socket(sys::Syscalls& sys, std::error_code& ec) {
  auto socket = std::make_unique<nl::Socket>();
  *socket = nl::Socket::open(sys, ec);
  return socket;
}

bool all_zero(const MacAddress& mac) noexcept {
  return std::all_of(mac.bytes.begin(), mac.bytes.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

Link::Link(std::unique_ptr<nl::Socket> socket, unsigned ifindex, std::string name) noexcept
    : socket_(std::move(socket)), ifindex_(ifindex), name_(std::move(name)) {}

Link::Link(unsigned ifindex, sys::Syscalls& sys) : ifindex_(ifindex) {
  if (!valid_ifindex(ifindex)) {
    throw make_error(errc::link_not_found, fmt::format("look up interface index {}", ifindex));
  }
  std::error_code ec;
  auto socket = open_socket(sys, ec);
  if (ec) {
    throw make_error(ec, fmt::format("open rtnetlink socket for interface index {}", ifindex));
  }
  nl::LinkMessage info;
  ec = nl::query_link(*socket, nl::get_link(ifindex), info);
  if (!ec && info.ifindex != ifindex) ec = errc::netlink_protocol;
  if (is_errno(ec, ENODEV)) ec = errc::link_not_found;
  if (ec) throw make_error(ec, fmt::format("look up interface index {}", ifindex));
  socket_ = std::move(socket);
  name_ = std::move(info.name);
}

Link Link::from_name(std::string_view name, sys::Syscalls& sys) {
  if (name.size() >= IFNAMSIZ) throw make_error(errc::name_too_long, "look up interface", name);
  if (name.empty()) throw make_error(errc::invalid_name, "look up interface", name);
  std::error_code ec;
  auto socket = open_socket(sys, ec);
  if (ec) throw make_error(ec, "open rtnetlink socket for", name);
  nl::LinkMessage info;
  ec = nl::query_link(*socket, nl::get_link(name), info);
  if (!ec && !valid_ifindex(info.ifindex)) ec = errc::netlink_protocol;
  if (is_errno(ec, ENODEV)) ec = errc::link_not_found;
  if (ec) throw make_error(ec, "look up interface", name);
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
  if (ec) throw detail::link_error(*this, "set up", ec);
}

void Link::set_up(std::error_code& ec) noexcept {
  ec = detail::request_change(socket_.get(), nl::set_link_flags(ifindex_, IFF_UP, IFF_UP));
}

void Link::set_down() {
  std::error_code ec;
  set_down(ec);
  if (ec) throw detail::link_error(*this, "set down", ec);
}

void Link::set_down(std::error_code& ec) noexcept {
  ec = detail::request_change(socket_.get(), nl::set_link_flags(ifindex_, 0, IFF_UP));
}

// --- MTU, txqueuelen, MAC address, name --------------------------------------------------------

void Link::set_mtu(unsigned mtu) {
  std::error_code ec;
  set_mtu(mtu, ec);
  if (ec) throw detail::mtu_error(*this, mtu, ec);
}

void Link::set_mtu(unsigned mtu, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  // The kernel answers a bare EINVAL for an MTU out of range; the range it reports (Linux 4.19+)
  // lets us refuse first and say why.
  nl::LinkMessage info;
  ec = nl::query_link(*socket_, nl::get_link(ifindex_), info);
  if (!ec && info.ifindex != ifindex_) ec = errc::netlink_protocol;
  if (ec) return;
  if (info.max_mtu && *info.max_mtu != 0 &&
      (mtu < info.min_mtu.value_or(0) || mtu > *info.max_mtu)) {
    ec = errc::out_of_range;
    return;
  }
  auto request = nl::set_link_mtu(ifindex_, mtu);
  ec = socket_->transact(request);
}

void Link::set_txqueuelen(unsigned packets) {
  std::error_code ec;
  set_txqueuelen(packets, ec);
  if (ec) throw detail::txqueuelen_error(*this, packets, ec);
}

void Link::set_txqueuelen(unsigned packets, std::error_code& ec) noexcept {
  ec = detail::request_change(socket_.get(), nl::set_link_txqlen(ifindex_, packets));
}

void Link::set_mac(const MacAddress& mac) {
  std::error_code ec;
  set_mac(mac, ec);
  if (ec) throw detail::mac_error(*this, mac, ec);
}

void Link::set_mac(const MacAddress& mac, std::error_code& ec) noexcept {
  // is_valid_ether_addr() in the kernel refuses these (EADDRNOTAVAIL): refused first.
  const bool invalid = mac.is_multicast() || all_zero(mac);
  ec = detail::request_change(socket_.get(), nl::set_link_address(ifindex_, mac.bytes),
                              invalid ? errc::invalid_address : std::error_code{});
}

MacAddress Link::set_random_mac() {
  const MacAddress mac = MacAddress::random();
  set_mac(mac);
  return mac;
}

void Link::rename(std::string_view new_name) {
  std::error_code ec;
  const std::string old = name_;
  rename(new_name, ec);
  if (ec) throw detail::rename_error(old, new_name, ec);
}

void Link::rename(std::string_view new_name, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  ec = detail::validate_interface_name(new_name);
  if (!ec && new_name.empty()) ec = errc::invalid_name;
  if (ec) return;
  // Linux before 6.2 refuses to rename an interface that is up (EBUSY); later ones allow it.
  // Checking first makes every kernel behave like the older ones, as documented.
  nl::LinkMessage info;
  ec = nl::query_link(*socket_, nl::get_link(ifindex_), info);
  if (!ec && info.ifindex != ifindex_) ec = errc::netlink_protocol;
  if (ec) return;
  if ((info.flags & IFF_UP) != 0) {
    ec = sys_error(EBUSY);
    return;
  }
  auto request = nl::set_link_name(ifindex_, new_name);
  ec = socket_->transact(request);
  if (ec) return;
  ec = nl::no_throw([&] { name_.assign(new_name); });
  if (ec || new_name.find('%') == std::string_view::npos) return;
  // A template: the kernel chose the number.
  nl::LinkMessage renamed;
  if (!nl::query_link(*socket_, nl::get_link(ifindex_), renamed) && !renamed.name.empty()) {
    name_ = std::move(renamed.name);
  }
}

// --- namespaces --------------------------------------------------------------------------------

void Link::move_to_netns(const NetNs& ns) {
  std::error_code ec;
  move_to_netns(ns, ec);
  if (ec) throw detail::move_error(name_, fmt::format("\"{}\"", ns.description()), ec);
}

void Link::move_to_netns(const NetNs& ns, std::error_code& ec) noexcept {
  if (!socket_ || !ns.is_open()) {
    ec = errc::not_open;
    return;
  }
  auto request = nl::set_link_netns_fd(ifindex_, static_cast<std::uint32_t>(ns.native_handle()));
  ec = socket_->transact(request);
  // The interface is gone from this socket's namespace: nothing this Link could do would reach
  // it any more.
  if (!ec) socket_.reset();
}

void Link::move_to_netns_of(pid_t pid) {
  std::error_code ec;
  move_to_netns_of(pid, ec);
  if (ec) throw detail::move_error(name_, fmt::format("of process {}", pid), ec);
}

void Link::move_to_netns_of(pid_t pid, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  if (pid <= 0) {
    ec = sys_error(ESRCH);
    return;
  }
  auto request = nl::set_link_netns_pid(ifindex_, static_cast<std::uint32_t>(pid));
  ec = socket_->transact(request);
  if (!ec) socket_.reset();
}

// --- reading -----------------------------------------------------------------------------------

LinkState Link::state() const {
  return detail::read_or_throw(*this, "read state of",
                               [&](std::error_code& ec) { return state(ec); });
}

LinkState Link::state(std::error_code& ec) const noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return {};
  }
  nl::LinkMessage info;
  ec = nl::query_link(*socket_, nl::get_link(ifindex_), info);
  if (!ec && info.ifindex != ifindex_) ec = errc::netlink_protocol;
  if (ec) return {};
  return detail::to_link_state(std::move(info));
}

LinkStats Link::statistics() const {
  return detail::read_or_throw(*this, "read statistics of",
                               [&](std::error_code& ec) { return statistics(ec); });
}

LinkStats Link::statistics(std::error_code& ec) const noexcept {
  return state(ec).stats;
}

unsigned Link::txqueuelen() const {
  return detail::read_or_throw(*this, "read txqueuelen of",
                               [&](std::error_code& ec) { return txqueuelen(ec); });
}

unsigned Link::txqueuelen(std::error_code& ec) const noexcept {
  return state(ec).txqueuelen;
}

std::optional<MacAddress> Link::mac() const {
  return detail::read_or_throw(*this, "read MAC address of",
                               [&](std::error_code& ec) { return mac(ec); });
}

std::optional<MacAddress> Link::mac(std::error_code& ec) const noexcept {
  return state(ec).mac;
}

std::string to_string(const LinkState& state) {
  std::string flags;
  auto add = [&](bool on, std::string_view name) {
    if (!on) return;
    if (!flags.empty()) flags += ',';
    flags += name;
  };
  add((state.flags & IFF_POINTOPOINT) != 0, "POINTOPOINT");
  add((state.flags & IFF_BROADCAST) != 0, "BROADCAST");
  add((state.flags & IFF_MULTICAST) != 0, "MULTICAST");
  add((state.flags & IFF_NOARP) != 0, "NOARP");
  add(state.up, "UP");
  add(state.running, "RUNNING");
  add(state.lower_up, "LOWER_UP");
  add(state.up && !state.lower_up, "NO-CARRIER");
  std::string out = fmt::format("{}: {}: <{}> mtu {} qlen {}", state.ifindex, state.name, flags,
                                state.mtu, state.txqueuelen);
  if (state.mac) fmt::format_to(std::back_inserter(out), " link/ether {}", state.mac->to_string());
  return out;
}

}  // namespace tunkit
