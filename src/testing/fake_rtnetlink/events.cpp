// The multicast notifications of the fake rtnetlink: what goes to the sockets subscribed to a
// group (RTMGRP_LINK, RTMGRP_IPV4_IFADDR, ...) in the namespace of the change.
#include "testing/fake_rtnetlink/internal.hpp"

#include <linux/rtnetlink.h>

#include <algorithm>
#include <cerrno>

namespace tunkit::testing {
namespace {

std::uint32_t address_group(const IpAddress& a) {
  return a.is_v4() ? RTMGRP_IPV4_IFADDR : RTMGRP_IPV6_IFADDR;
}

}  // namespace

using namespace fake_rtnl;  // NOLINT(google-build-using-namespace): this fake's own helpers

void FakeRtnetlink::notify(std::uint32_t groups, std::string_view netns, const Datagram& message) {
  for (auto& [fd, socket] : sockets_) {
    if ((socket.groups & groups) == 0 || socket.netns != netns) continue;
    // netlink_broadcast_deliver: a full or congested socket gets nothing; netlink_overrun marks
    // it congested and sets the error the next read reports, only when it was not already.
    if (socket.congested || (socket.limit != 0 && socket.queue.size() >= socket.limit)) {
      if (!socket.congested) {
        socket.congested = true;
        socket.error = ENOBUFS;
      }
      ++socket.dropped;
      continue;
    }
    socket.queue.push_back(message);
  }
}

void FakeRtnetlink::notify_link(const LinkRecord& link, std::uint16_t type) {
  // rtmsg_ifinfo: no request to answer, so sequence number and port 0.
  notify(RTMGRP_LINK, link.netns, link_message(link, type, 0, 0, 0));
}

void FakeRtnetlink::notify_address(const LinkRecord& link, const IpPrefix& prefix,
                                   std::uint16_t type, std::uint32_t seq, std::uint32_t port) {
  const auto& list = link.addresses;
  const auto at = std::find(list.begin(), list.end(), prefix);
  const bool secondary =
      at != list.end() && is_secondary(list, static_cast<std::size_t>(at - list.begin()));
  notify(address_group(prefix.address), link.netns,
         address_message(link, prefix, secondary, type, 0, seq, port));
}

}  // namespace tunkit::testing
