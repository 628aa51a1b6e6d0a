#include "tunkit/link.hpp"

#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <new>
#include <utility>

#include "detail/errors.hpp"
#include "detail/netlink/address.hpp"
#include "detail/netlink/link.hpp"
#include "detail/netlink/route.hpp"
#include "detail/netlink/socket.hpp"
#include "tunkit/netns.hpp"

namespace tunkit {
namespace {

namespace nl = detail::netlink;
using detail::sys_error;

// IPv6 refuses interfaces whose MTU is below its minimum link MTU (RFC 8200 section 5).
constexpr unsigned kIpv6MinMtu = 1280;

constexpr std::string_view kNeedsNetAdmin =
    "needs CAP_NET_ADMIN in the interface's network namespace";

// The public enums carry the kernel's values; keep them honest.
static_assert(static_cast<unsigned>(AddressScope::global) == RT_SCOPE_UNIVERSE);
static_assert(static_cast<unsigned>(AddressScope::site) == RT_SCOPE_SITE);
static_assert(static_cast<unsigned>(AddressScope::link) == RT_SCOPE_LINK);
static_assert(static_cast<unsigned>(AddressScope::host) == RT_SCOPE_HOST);
static_assert(static_cast<unsigned>(AddressScope::nowhere) == RT_SCOPE_NOWHERE);
static_assert(static_cast<unsigned>(RouteProtocol::kernel) == RTPROT_KERNEL);
static_assert(static_cast<unsigned>(RouteProtocol::boot) == RTPROT_BOOT);
static_assert(static_cast<unsigned>(RouteProtocol::static_route) == RTPROT_STATIC);

bool is_errno(std::error_code ec, int value) noexcept {
  return ec.category() == std::system_category() && ec.value() == value;
}

// The hint shared by every operation that changes the interface.
std::string_view change_hint(std::error_code ec) noexcept {
  if (is_errno(ec, EPERM)) return kNeedsNetAdmin;
  if (is_errno(ec, ENODEV)) return "the interface no longer exists";
  return {};
}

std::string_view prefix_length_hint(const IpAddress& address) noexcept {
  return address.is_v4() ? "the prefix length of an IPv4 address is at most 32"
                         : "the prefix length of an IPv6 address is at most 128";
}

// ifi_index is a signed int on the wire, and 0 means "by name".
bool valid_ifindex(unsigned ifindex) noexcept {
  return ifindex != 0 && ifindex <= static_cast<unsigned>(INT_MAX);
}

std::unique_ptr<nl::Socket> open_socket(sys::Syscalls& sys, std::error_code& ec) {
  auto socket = std::make_unique<nl::Socket>();
  *socket = nl::Socket::open(sys, ec);
  return socket;
}

LinkState to_state(nl::LinkMessage&& info) noexcept {
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
  s.txqueuelen = info.txqlen.value_or(0);
  if (info.mac) s.mac = MacAddress{*info.mac};  // braces: clang 14 has no aggregate ()-init
  if (info.stats) {
    const nl::LinkCounters& c = *info.stats;
    s.stats = {c.rx_packets, c.tx_packets, c.rx_bytes,   c.tx_bytes,
               c.rx_errors,  c.tx_errors,  c.rx_dropped, c.tx_dropped};
  }
  return s;
}

// The network of `prefix`: its address with the host bits cleared.
IpAddress network_of(const IpPrefix& prefix) noexcept {
  std::array<std::uint8_t, 16> b{};
  const auto bytes = prefix.address.bytes();
  unsigned left = prefix.length;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const unsigned bits = std::min(left, 8U);
    const auto mask = static_cast<std::uint8_t>(bits == 0 ? 0U : 0xFFU << (8U - bits));
    b[i] = static_cast<std::uint8_t>(bytes[i] & mask);
    left -= bits;
  }
  if (prefix.address.is_v4()) return IpAddress::v4({b[0], b[1], b[2], b[3]});
  return IpAddress::v6(b);
}

std::string_view family_name(const IpAddress& a) noexcept {
  return a.is_v4() ? "IPv4" : "IPv6";
}

// Checks a route before any request; on failure sets `hint` (when non-null) to the reason.
std::error_code check_route(const Route& route, std::string* hint) {
  const IpPrefix& dst = route.destination;
  auto fail = [&](std::string why) -> std::error_code {
    if (hint != nullptr) *hint = std::move(why);
    return errc::invalid_address;
  };
  if (!dst.is_valid()) return fail(std::string(prefix_length_hint(dst.address)));
  if (network_of(dst) != dst.address) {
    // IPv4 would answer EINVAL; IPv6 would silently clear the bits. Refuse both alike.
    return fail(fmt::format("host bits are set: the network is {}/{}", network_of(dst).to_string(),
                            dst.length));
  }
  if (route.gateway && route.gateway->family() != dst.address.family()) {
    return fail(fmt::format("the gateway is {} but the destination is {}",
                            family_name(*route.gateway), family_name(dst.address)));
  }
  if (route.source && route.source->family() != dst.address.family()) {
    return fail(fmt::format("the source is {} but the destination is {}",
                            family_name(*route.source), family_name(dst.address)));
  }
  return {};
}

// "10.9.0.0/16 via 10.0.0.254 metric 5", as `ip route` writes it.
std::string describe(const Route& route) {
  std::string out = route.destination.to_string();
  if (route.gateway) fmt::format_to(std::back_inserter(out), " via {}", route.gateway->to_string());
  if (route.metric != 0) fmt::format_to(std::back_inserter(out), " metric {}", route.metric);
  return out;
}

nl::RouteMessage to_message(const Route& route, unsigned ifindex) noexcept {
  nl::RouteMessage m;
  m.destination = route.destination;
  m.gateway = route.gateway;
  m.source = route.source;
  m.oif = ifindex;
  m.priority = route.metric;
  m.table = RT_TABLE_MAIN;
  m.protocol = static_cast<std::uint8_t>(route.protocol);
  // ip-route(8): a route without a gateway is on the link; with one it reaches further.
  m.scope = route.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  m.type = RTN_UNICAST;
  return m;
}

// Dumps the addresses of interface `ifindex` and passes each to `on_address`; `restart` runs
// when the kernel restarts an inconsistent dump.
std::error_code dump_addresses(
    nl::Socket& socket, unsigned ifindex,
    nl::FunctionRef<std::error_code(const nl::AddressMessage&)> on_address,
    nl::FunctionRef<void()> restart) noexcept {
  auto on_message = [&](const nlmsghdr& message) -> std::error_code {
    if (message.nlmsg_type != RTM_NEWADDR) return {};
    nl::AddressMessage address;
    const std::error_code decode_ec = nl::decode_address(message, address);
    if (is_errno(decode_ec, EAFNOSUPPORT)) return {};  // another family (MCTP, ...)
    if (decode_ec) return decode_ec;
    // Kernels without strict checking dump every interface's addresses.
    if (address.ifindex != ifindex) return {};
    return on_address(address);
  };
  auto request = nl::dump_addresses(ifindex);
  return socket.dump(request, on_message, restart);
}

// Runs `f` and turns std::bad_alloc into ENOMEM (for the noexcept forms that fill vectors).
template <typename F>
std::error_code no_throw(F&& f) noexcept {
  try {
    f();
    return {};
  } catch (const std::bad_alloc&) {
    return sys_error(ENOMEM);
  }
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

// --- MTU, txqueuelen, MAC address, name --------------------------------------------------------

namespace {

// The messages of the failures of each operation, shared by the throwing forms and configure().
// Hints that need the interface's state ask for it: on the error path only.

std::string mtu_failure(const Link& link, unsigned mtu, std::error_code ec) {
  std::string hint(change_hint(ec));
  if (ec == errc::out_of_range || is_errno(ec, EINVAL)) {
    // The range is asked again here; the ec form has no room to return it.
    std::error_code state_ec;
    const LinkState s = link.state(state_ec);
    if (!state_ec && s.max_mtu != 0 && (mtu < s.min_mtu || mtu > s.max_mtu)) {
      hint = fmt::format("{}..{}", s.min_mtu, s.max_mtu);
    } else if (ec == errc::out_of_range || state_ec || s.max_mtu == 0) {
      hint = "MTU out of range for this device";
    }
  }
  return detail::message(ec, fmt::format("set MTU {} on", mtu), link.name(), hint);
}

std::string txqueuelen_failure(const Link& link, unsigned packets, std::error_code ec) {
  return detail::message(ec, fmt::format("set txqueuelen {} on", packets), link.name(),
                         change_hint(ec));
}

std::string mac_failure(const Link& link, const MacAddress& mac, std::error_code ec) {
  std::string_view hint = change_hint(ec);
  if (ec == errc::invalid_address || is_errno(ec, EADDRNOTAVAIL)) {
    hint = "a device address must be unicast and not all zeros";
  } else if (is_errno(ec, EOPNOTSUPP)) {
    hint = "this device has no link-layer address to set (TUN devices have none; TAP devices do)";
  } else if (is_errno(ec, EBUSY)) {
    hint = "the device does not accept a new address while it is up: set it down first";
  }
  // errc::invalid_address reads "invalid IP address or prefix": say what was wrong instead.
  if (ec == errc::invalid_address) {
    return fmt::format("tunkit: set MAC address {} on \"{}\": invalid MAC address ({})",
                       mac.to_string(), link.name(), hint);
  }
  return detail::message(ec, fmt::format("set MAC address {} on", mac.to_string()), link.name(),
                         hint);
}

std::string add_address_failure(const Link& link, const IpPrefix& prefix, std::error_code ec) {
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) {
    hint = prefix_length_hint(prefix.address);
  } else if (prefix.address.is_v6() && is_errno(ec, EACCES)) {
    hint = fmt::format("IPv6 is disabled on this interface (sysctl net.ipv6.conf.{}.disable_ipv6)",
                       link.name());
  } else if (prefix.address.is_v6() && is_errno(ec, EINVAL)) {
    std::error_code state_ec;
    const LinkState s = link.state(state_ec);
    if (!state_ec && s.mtu < kIpv6MinMtu) {
      hint = fmt::format("IPv6 needs an MTU of at least {}; this interface has {}", kIpv6MinMtu,
                         s.mtu);
    }
  }
  return detail::message(ec, fmt::format("add address {} on", prefix.to_string()), link.name(),
                         hint);
}

std::string add_route_failure(const Link& link, const Route& route, std::error_code ec) {
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) {
    (void)check_route(route, &hint);
  } else if (is_errno(ec, ENETDOWN)) {
    hint = "the interface is down: set it up first";
  } else if ((is_errno(ec, ENETUNREACH) || is_errno(ec, EHOSTUNREACH)) && route.gateway) {
    hint = fmt::format(
        "the gateway {} is not on a network this interface reaches: add an address in its "
        "subnet first",
        route.gateway->to_string());
  } else if (is_errno(ec, EEXIST)) {
    hint = "a route to this destination with this metric exists";
  } else if (is_errno(ec, EINVAL) && route.source) {
    hint = fmt::format("is the source {} an address of this host?", route.source->to_string());
  } else if (is_errno(ec, ENODEV) && route.destination.address.is_v6()) {
    std::error_code state_ec;
    const LinkState s = link.state(state_ec);
    if (!state_ec && s.mtu < kIpv6MinMtu) {
      hint = fmt::format("IPv6 needs an MTU of at least {}; this interface has {}", kIpv6MinMtu,
                         s.mtu);
    }
  }
  return detail::message(ec, fmt::format("add route {} on", describe(route)), link.name(), hint);
}

}  // namespace

void Link::set_mtu(unsigned mtu) {
  std::error_code ec;
  set_mtu(mtu, ec);
  if (ec) throw Error(ec, mtu_failure(*this, mtu, ec));
}

void Link::set_mtu(unsigned mtu, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  // The kernel answers a bare EINVAL for an MTU out of range; the range it reports (Linux 4.19+)
  // lets us refuse first and say why.
  nl::LinkMessage info;
  ec = query_link(*socket_, nl::get_link(ifindex_), info);
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
  if (ec) throw Error(ec, txqueuelen_failure(*this, packets, ec));
}

void Link::set_txqueuelen(unsigned packets, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  auto request = nl::set_link_txqlen(ifindex_, packets);
  ec = socket_->transact(request);
}

namespace {

bool all_zero(const MacAddress& mac) noexcept {
  return std::all_of(mac.bytes.begin(), mac.bytes.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

void Link::set_mac(const MacAddress& mac) {
  std::error_code ec;
  set_mac(mac, ec);
  if (ec) throw Error(ec, mac_failure(*this, mac, ec));
}

void Link::set_mac(const MacAddress& mac, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  if (mac.is_multicast() || all_zero(mac)) {
    ec = errc::invalid_address;  // is_valid_ether_addr() in the kernel: EADDRNOTAVAIL
    return;
  }
  auto request = nl::set_link_address(ifindex_, mac.bytes);
  ec = socket_->transact(request);
}

MacAddress Link::set_random_mac() {
  const MacAddress mac = MacAddress::random();
  set_mac(mac);
  return mac;
}

std::optional<MacAddress> Link::mac() const {
  std::error_code ec;
  auto result = mac(ec);
  if (ec) detail::throw_error(ec, "read MAC address of", name_, change_hint(ec));
  return result;
}

std::optional<MacAddress> Link::mac(std::error_code& ec) const noexcept {
  return state(ec).mac;
}

void Link::rename(std::string_view new_name) {
  std::error_code ec;
  const std::string old = name_;
  rename(new_name, ec);
  if (!ec) return;
  std::string_view hint = change_hint(ec);
  if (is_errno(ec, EBUSY)) {
    hint = "the interface is up: set it down first";
  } else if (is_errno(ec, EEXIST)) {
    hint = "another interface has that name";
  } else if (ec == errc::invalid_name) {
    hint = new_name.empty() ? "the name is empty" : detail::interface_name_hint(ec);
  }
  std::string message =
      fmt::format("tunkit: rename \"{}\" to \"{}\": {}", old, new_name, detail::cause(ec));
  if (!hint.empty()) fmt::format_to(std::back_inserter(message), " ({})", hint);
  throw Error(ec, std::move(message));
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
  ec = query_link(*socket_, nl::get_link(ifindex_), info);
  if (!ec && info.ifindex != ifindex_) ec = errc::netlink_protocol;
  if (ec) return;
  if ((info.flags & IFF_UP) != 0) {
    ec = sys_error(EBUSY);
    return;
  }
  auto request = nl::set_link_name(ifindex_, new_name);
  ec = socket_->transact(request);
  if (ec) return;
  ec = no_throw([&] { name_.assign(new_name); });
  if (ec || new_name.find('%') == std::string_view::npos) return;
  // A template: the kernel chose the number.
  nl::LinkMessage renamed;
  if (!query_link(*socket_, nl::get_link(ifindex_), renamed) && !renamed.name.empty()) {
    name_ = std::move(renamed.name);
  }
}

// --- addresses ---------------------------------------------------------------------------------

void Link::add_address(const IpPrefix& prefix) {
  std::error_code ec;
  add_address(prefix, ec);
  if (ec) throw Error(ec, add_address_failure(*this, prefix, ec));
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
    hint = prefix_length_hint(prefix.address);
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

namespace {

std::string peer_text(const IpAddress& local, const IpPrefix& peer) {
  return fmt::format("{} peer {}", local.to_string(), peer.to_string());
}

std::string peer_hint(const IpAddress& local, const IpPrefix& peer) {
  if (local.family() != peer.address.family()) {
    return fmt::format("the local address is {} but the peer is {}", family_name(local),
                       family_name(peer.address));
  }
  return std::string(prefix_length_hint(peer.address));
}

}  // namespace

void Link::add_address(const IpAddress& local, const IpPrefix& peer) {
  std::error_code ec;
  add_address(local, peer, ec);
  if (!ec) return;
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) hint = peer_hint(local, peer);
  detail::throw_error(ec, fmt::format("add address {} on", peer_text(local, peer)), name_, hint);
}

void Link::add_address(const IpAddress& local, const IpPrefix& peer, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  if (!peer.is_valid() || local.family() != peer.address.family()) {
    ec = errc::invalid_address;
    return;
  }
  auto request = nl::add_address(ifindex_, IpPrefix{local, peer.length}, peer.address);
  ec = socket_->transact(request);
}

void Link::remove_address(const IpAddress& local, const IpPrefix& peer) {
  std::error_code ec;
  remove_address(local, peer, ec);
  if (!ec) return;
  std::string hint(change_hint(ec));
  if (is_errno(ec, EADDRNOTAVAIL)) {
    hint = "no assigned address matches local address, peer and prefix length";
  } else if (ec == errc::invalid_address) {
    hint = peer_hint(local, peer);
  }
  detail::throw_error(ec, fmt::format("remove address {} from", peer_text(local, peer)), name_,
                      hint);
}

void Link::remove_address(const IpAddress& local, const IpPrefix& peer,
                          std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  if (!peer.is_valid() || local.family() != peer.address.family()) {
    ec = errc::invalid_address;
    return;
  }
  auto request = nl::remove_address(ifindex_, IpPrefix{local, peer.length}, peer.address);
  ec = socket_->transact(request);
}

// --- routes ------------------------------------------------------------------------------------

void Link::add_route(const Route& route) {
  std::error_code ec;
  add_route(route, ec);
  if (ec) throw Error(ec, add_route_failure(*this, route, ec));
}

void Link::add_route(const Route& route, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  ec = check_route(route, nullptr);
  if (ec) return;
  auto request = nl::add_route(to_message(route, ifindex_));
  ec = socket_->transact(request);
}

void Link::remove_route(const Route& route) {
  std::error_code ec;
  remove_route(route, ec);
  if (!ec) return;
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) (void)check_route(route, &hint);
  if (is_errno(ec, ESRCH)) {
    // strerror(ESRCH) is "No such process", which would mislead here.
    throw Error(ec, fmt::format("tunkit: remove route {} from \"{}\": no such route (no route "
                                "through this interface matches destination, gateway and metric)",
                                describe(route), name_));
  }
  detail::throw_error(ec, fmt::format("remove route {} from", describe(route)), name_, hint);
}

void Link::remove_route(const Route& route, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  ec = check_route(route, nullptr);
  if (ec) return;
  auto request = nl::remove_route(to_message(route, ifindex_));
  ec = socket_->transact(request);
}

std::vector<Route> Link::routes() const {
  std::error_code ec;
  std::vector<Route> result = routes(ec);
  if (ec) detail::throw_error(ec, "read routes of", name_, change_hint(ec));
  return result;
}

std::vector<Route> Link::routes(std::error_code& ec) const noexcept {
  std::vector<Route> result;
  if (!socket_) {
    ec = errc::not_open;
    return result;
  }
  for (const std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
    std::vector<Route> found;
    auto on_message = [&](const nlmsghdr& message) -> std::error_code {
      if (message.nlmsg_type != RTM_NEWROUTE) return {};
      nl::RouteMessage m;
      const std::error_code decode_ec = nl::decode_route(message, m);
      if (is_errno(decode_ec, EAFNOSUPPORT)) return {};
      if (decode_ec) return decode_ec;
      // The dump holds every table and interface; `ip route show dev NAME` shows these.
      if (m.table != RT_TABLE_MAIN || m.type != RTN_UNICAST || m.oif != ifindex_) return {};
      return no_throw([&] {
        found.push_back(Route{m.destination, m.gateway, m.priority,
                              static_cast<RouteProtocol>(m.protocol), m.source});
      });
    };
    auto request = nl::dump_routes(family);
    ec = socket_->dump(request, on_message, [&] { found.clear(); });
    if (!ec) ec = no_throw([&] { result.insert(result.end(), found.begin(), found.end()); });
    if (ec) {
      result.clear();
      return result;
    }
  }
  return result;
}

// --- namespaces --------------------------------------------------------------------------------

namespace {

std::string move_message(std::error_code ec, std::string_view name, std::string_view target) {
  std::string_view hint = change_hint(ec);
  if (is_errno(ec, EEXIST)) {
    hint = "the target namespace has an interface of the same name: rename it first";
  } else if (is_errno(ec, EINVAL)) {
    hint = "not a network namespace, or an interface that cannot change namespace (lo)";
  } else if (is_errno(ec, EPERM)) {
    hint = "needs CAP_NET_ADMIN in both network namespaces";
  } else if (is_errno(ec, EBADF)) {
    hint = "the namespace descriptor is not open";
  }
  std::string message = fmt::format("tunkit: move \"{}\" to network namespace {}: {}", name, target,
                                    detail::cause(ec));
  if (!hint.empty()) fmt::format_to(std::back_inserter(message), " ({})", hint);
  return message;
}

}  // namespace

void Link::move_to_netns(const NetNs& ns) {
  std::error_code ec;
  move_to_netns(ns, ec);
  if (ec) throw Error(ec, move_message(ec, name_, fmt::format("\"{}\"", ns.description())));
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
  if (ec) throw Error(ec, move_message(ec, name_, fmt::format("of process {}", pid)));
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

// --- configure ---------------------------------------------------------------------------------

namespace {

// One applied step of Link::configure, and how to undo it.
struct Undo {
  enum class Kind : std::uint8_t { mtu, txqueuelen, mac, address, up, route };
  Kind kind = Kind::mtu;
  unsigned value = 0;             // mtu, txqueuelen: the old value
  std::optional<MacAddress> mac;  // mac: the old address
  IpPrefix prefix;                // address
  Route route;                    // route
};

// Runs `config` on `link`. On failure undoes what was applied and returns the error; when
// `message` is non-null, it receives the failed step's message as its throwing form has it.
std::error_code apply(Link& link, const LinkConfig& config, std::string* message) noexcept {
  std::vector<Undo> done;
  std::error_code ec;
  const LinkState before = link.state(ec);
  if (ec) {
    if (message != nullptr) {
      *message = detail::message(ec, "read state of", link.name(), change_hint(ec));
    }
    return ec;
  }
  if (no_throw([&] { done.reserve(4 + config.addresses.size() + config.routes.size()); })) {
    return sys_error(ENOMEM);
  }
  // One step: its ec form, then the record of how to undo it (room reserved above), or on
  // failure its message, made before the rollback since hints read the failed state.
  auto step = [&](auto&& run, auto&& failure, Undo undo) -> bool {
    run(ec);
    if (!ec) {
      done.push_back(std::move(undo));
      return true;
    }
    if (message != nullptr) {
      try {
        *message = failure();
      } catch (const std::bad_alloc&) {
        message->clear();
      }
    }
    return false;
  };
  bool ok = true;
  if (config.mtu) {
    const unsigned mtu = *config.mtu;
    ok =
        step([&](std::error_code& e) { link.set_mtu(mtu, e); },
             [&] { return mtu_failure(link, mtu, ec); }, {Undo::Kind::mtu, before.mtu, {}, {}, {}});
  }
  if (ok && config.txqueuelen) {
    const unsigned n = *config.txqueuelen;
    ok = step([&](std::error_code& e) { link.set_txqueuelen(n, e); },
              [&] { return txqueuelen_failure(link, n, ec); },
              {Undo::Kind::txqueuelen, before.txqueuelen, {}, {}, {}});
  }
  if (ok && config.mac) {
    const MacAddress& mac = *config.mac;
    ok = step([&](std::error_code& e) { link.set_mac(mac, e); },
              [&] { return mac_failure(link, mac, ec); }, {Undo::Kind::mac, 0, before.mac, {}, {}});
  }
  for (std::size_t i = 0; ok && i < config.addresses.size(); ++i) {
    const IpPrefix& p = config.addresses[i];
    ok =
        step([&](std::error_code& e) { link.add_address(p, e); },
             [&] { return add_address_failure(link, p, ec); }, {Undo::Kind::address, 0, {}, p, {}});
  }
  if (ok && config.up && !before.up) {
    ok = step([&](std::error_code& e) { link.set_up(e); },
              [&] { return detail::message(ec, "set up", link.name(), change_hint(ec)); },
              {Undo::Kind::up, 0, {}, {}, {}});
  }
  for (std::size_t i = 0; ok && i < config.routes.size(); ++i) {
    const Route& r = config.routes[i];
    ok = step([&](std::error_code& e) { link.add_route(r, e); },
              [&] { return add_route_failure(link, r, ec); }, {Undo::Kind::route, 0, {}, {}, r});
  }
  if (ok) return {};

  // Undo in reverse order; what the kernel already undid itself (IPv6 addresses and routes
  // dropped by set_down) fails harmlessly.
  for (auto it = done.rbegin(); it != done.rend(); ++it) {
    std::error_code ignored;
    switch (it->kind) {
      case Undo::Kind::route:
        link.remove_route(it->route, ignored);
        break;
      case Undo::Kind::up:
        link.set_down(ignored);
        break;
      case Undo::Kind::address:
        link.remove_address(it->prefix, ignored);
        break;
      case Undo::Kind::mac:
        if (it->mac) link.set_mac(*it->mac, ignored);
        break;
      case Undo::Kind::txqueuelen:
        link.set_txqueuelen(it->value, ignored);
        break;
      case Undo::Kind::mtu:
        link.set_mtu(it->value, ignored);
        break;
    }
  }
  return ec;
}

}  // namespace

void Link::configure(const LinkConfig& config) {
  std::string message;
  const std::error_code ec = apply(*this, config, &message);
  if (!ec) return;
  throw Error(ec, message + "; the steps before it were undone");
}

void Link::configure(const LinkConfig& config, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  ec = apply(*this, config, nullptr);
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
  return to_state(std::move(info));
}

LinkStats Link::statistics() const {
  std::error_code ec;
  const LinkStats s = statistics(ec);
  if (ec) detail::throw_error(ec, "read statistics of", name_, change_hint(ec));
  return s;
}

LinkStats Link::statistics(std::error_code& ec) const noexcept {
  return state(ec).stats;
}

unsigned Link::txqueuelen() const {
  std::error_code ec;
  const unsigned n = txqueuelen(ec);
  if (ec) detail::throw_error(ec, "read txqueuelen of", name_, change_hint(ec));
  return n;
}

unsigned Link::txqueuelen(std::error_code& ec) const noexcept {
  return state(ec).txqueuelen;
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
  ec = dump_addresses(
      *socket_, ifindex_,
      [&](const nl::AddressMessage& a) { return no_throw([&] { result.push_back(a.prefix); }); },
      [&] { result.clear(); });
  if (ec) result.clear();
  return result;
}

std::vector<AddressInfo> Link::address_details() const {
  std::error_code ec;
  std::vector<AddressInfo> result = address_details(ec);
  if (ec) detail::throw_error(ec, "read addresses of", name_, change_hint(ec));
  return result;
}

std::vector<AddressInfo> Link::address_details(std::error_code& ec) const noexcept {
  std::vector<AddressInfo> result;
  if (!socket_) {
    ec = errc::not_open;
    return result;
  }
  ec = dump_addresses(
      *socket_, ifindex_,
      [&](const nl::AddressMessage& a) {
        return no_throw([&] {
          result.push_back(AddressInfo{a.prefix, a.peer, static_cast<AddressScope>(a.scope),
                                       (a.flags & IFA_F_SECONDARY) != 0,
                                       (a.flags & IFA_F_TENTATIVE) != 0, a.flags});
        });
      },
      [&] { result.clear(); });
  if (ec) result.clear();
  return result;
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
