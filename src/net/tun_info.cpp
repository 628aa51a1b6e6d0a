#include "tunkit/tun_info.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <utility>

#include "detail/eintr.hpp"
#include "detail/netlink/link.hpp"
#include "detail/netlink/no_throw.hpp"
#include "detail/netlink/socket.hpp"
#include "net/convert.hpp"
#include "tunkit/error.hpp"

namespace tunkit {
namespace {

namespace nl = detail::netlink;
using detail::is_errno;

// A decoded RTM_NEWLINK of kind "tun" as the public value; nullopt for other kinds.
std::optional<TunDeviceInfo> to_info(nl::LinkMessage&& m) {
  if (m.kind != "tun" || !m.tun) return std::nullopt;
  TunDeviceInfo d;
  const nl::TunLinkData& t = *m.tun;
  d.mode = (t.type & IFF_TAP) != 0 ? Mode::tap : Mode::tun;
  d.packet_info = t.packet_info;
  d.vnet_hdr = t.vnet_hdr;
  d.persist = t.persist;
  d.multi_queue = t.multi_queue;
  if (t.owner) d.owner = static_cast<uid_t>(*t.owner);
  if (t.group) d.group = static_cast<gid_t>(*t.group);
  if (t.queues) d.queues = *t.queues;
  if (t.disabled_queues) d.disabled_queues = *t.disabled_queues;
  d.link = detail::to_link_state(std::move(m));
  d.mac = d.link.mac;
  return d;
}

std::string_view read_hint(std::error_code ec) noexcept {
  if (ec == errc::netlink_protocol) return "unexpected rtnetlink answer";
  return {};
}

}  // namespace

Flags TunDeviceInfo::flags() const noexcept {
  Flags f = mode == Mode::tap ? Flag::tap : Flag::tun;
  if (!packet_info) f |= Flag::no_pi;
  if (vnet_hdr) f |= Flag::vnet_hdr;
  if (multi_queue) f |= Flag::multi_queue;
  if (persist) f |= Flag::persist;
  return f;
}

Options TunDeviceInfo::attach_options() const {
  Options o;
  o.name = link.name;
  o.mode = mode;
  o.packet_info = packet_info;
  o.vnet_hdr = vnet_hdr;
  o.multi_queue = multi_queue;
  return o;
}

std::vector<TunDeviceInfo> list_tun_devices(std::error_code& ec, sys::Syscalls& sys) noexcept {
  std::vector<TunDeviceInfo> result;
  nl::Socket socket = nl::Socket::open(sys, ec);
  if (ec) return result;
  auto on_message = [&](const nlmsghdr& message) -> std::error_code {
    if (message.nlmsg_type != RTM_NEWLINK) return {};
    return nl::no_throw([&] {
      nl::LinkMessage m;
      if (auto decode_ec = nl::decode_link(message, m)) return decode_ec;
      // Kernels before 4.20 ignore the kind filter: filter here too.
      if (auto info = to_info(std::move(m))) result.push_back(std::move(*info));
      return std::error_code{};
    });
  };
  auto request = nl::dump_links("tun");
  ec = socket.dump(request, on_message, [&] { result.clear(); });
  if (ec) result.clear();
  return result;
}

std::vector<TunDeviceInfo> list_tun_devices(sys::Syscalls& sys) {
  std::error_code ec;
  std::vector<TunDeviceInfo> result = list_tun_devices(ec, sys);
  if (ec) throw make_error(ec, "list TUN/TAP devices", {}, read_hint(ec));
  return result;
}

std::optional<TunDeviceInfo> find_tun_device(std::string_view name, std::error_code& ec,
                                             sys::Syscalls& sys) noexcept {
  ec.clear();
  if (name.empty()) {
    ec = errc::invalid_name;
    return std::nullopt;
  }
  if (name.size() >= IFNAMSIZ) {
    ec = errc::name_too_long;
    return std::nullopt;
  }
  nl::Socket socket = nl::Socket::open(sys, ec);
  if (ec) return std::nullopt;
  std::optional<TunDeviceInfo> found;
  auto on_message = [&](const nlmsghdr& message) -> std::error_code {
    if (message.nlmsg_type != RTM_NEWLINK || found) return errc::netlink_protocol;
    return nl::no_throw([&] {
      nl::LinkMessage m;
      if (auto decode_ec = nl::decode_link(message, m)) return decode_ec;
      found = to_info(std::move(m));
      return std::error_code{};
    });
  };
  auto request = nl::get_link(name);
  ec = socket.transact(request, on_message);
  if (is_errno(ec, ENODEV)) {
    ec.clear();  // no such interface: not an error here
    return std::nullopt;
  }
  if (ec) return std::nullopt;
  return found;
}

std::optional<TunDeviceInfo> find_tun_device(std::string_view name, sys::Syscalls& sys) {
  std::error_code ec;
  std::optional<TunDeviceInfo> result = find_tun_device(name, ec, sys);
  if (ec) throw make_error(ec, "look up TUN/TAP device", name, read_hint(ec));
  return result;
}

}  // namespace tunkit
