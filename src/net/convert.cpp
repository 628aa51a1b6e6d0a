#include "net/convert.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <utility>

namespace tunkit::detail {

// The public enum carries the kernel's values; keep it honest.
static_assert(static_cast<unsigned>(AddressScope::global) == RT_SCOPE_UNIVERSE);
static_assert(static_cast<unsigned>(AddressScope::site) == RT_SCOPE_SITE);
static_assert(static_cast<unsigned>(AddressScope::link) == RT_SCOPE_LINK);
static_assert(static_cast<unsigned>(AddressScope::host) == RT_SCOPE_HOST);
static_assert(static_cast<unsigned>(AddressScope::nowhere) == RT_SCOPE_NOWHERE);

LinkState to_link_state(netlink::LinkMessage&& message) noexcept {
  LinkState s;
  s.name = std::move(message.name);  // moves, never allocates
  s.ifindex = message.ifindex;
  s.mtu = message.mtu.value_or(0);
  s.min_mtu = message.min_mtu.value_or(0);
  s.max_mtu = message.max_mtu.value_or(0);
  s.flags = message.flags;
  s.up = (message.flags & IFF_UP) != 0;
  s.running = (message.flags & IFF_RUNNING) != 0;
  s.lower_up = (message.flags & IFF_LOWER_UP) != 0;
  s.txqueuelen = message.txqlen.value_or(0);
  if (message.mac) s.mac = MacAddress{*message.mac};  // braces: clang 14 has no aggregate ()-init
  if (message.stats) {
    const netlink::LinkCounters& c = *message.stats;
    s.stats = {c.rx_packets, c.tx_packets, c.rx_bytes,   c.tx_bytes,
               c.rx_errors,  c.tx_errors,  c.rx_dropped, c.tx_dropped};
  }
  s.kind = std::move(message.kind);  // moves, never allocates
  if (message.xdp) s.xdp = to_xdp_info(*message.xdp);
  return s;
}

XdpInfo to_xdp_info(const netlink::XdpLinkData& x) noexcept {
  XdpInfo info;
  switch (x.attached) {
    case XDP_ATTACHED_DRV:
      info.mode = XdpMode::native;
      break;
    case XDP_ATTACHED_SKB:
      info.mode = XdpMode::generic;
      break;
    case XDP_ATTACHED_HW:
      info.mode = XdpMode::offload;
      break;
    case XDP_ATTACHED_MULTI:
      info.mode = XdpMode::multi;
      break;
    default:
      info.mode = XdpMode::none;
      break;
  }
  info.prog_id = x.prog_id;
  // The kernel sends the per-mode ids only with XDP_ATTACHED_MULTI; filled for one mode too.
  info.native_prog_id = x.drv_prog_id;
  info.generic_prog_id = x.skb_prog_id;
  info.offload_prog_id = x.hw_prog_id;
  if (info.mode == XdpMode::native && info.native_prog_id == 0) info.native_prog_id = x.prog_id;
  if (info.mode == XdpMode::generic && info.generic_prog_id == 0) info.generic_prog_id = x.prog_id;
  if (info.mode == XdpMode::offload && info.offload_prog_id == 0) info.offload_prog_id = x.prog_id;
  return info;
}

AddressInfo to_address_info(const netlink::AddressMessage& message) noexcept {
  return AddressInfo{message.prefix,
                     message.peer,
                     static_cast<AddressScope>(message.scope),
                     (message.flags & IFA_F_SECONDARY) != 0,
                     (message.flags & IFA_F_TENTATIVE) != 0,
                     message.flags};
}

}  // namespace tunkit::detail
