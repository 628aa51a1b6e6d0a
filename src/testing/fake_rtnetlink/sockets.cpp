// The socket surface of the fake rtnetlink (besides sendto, in dispatch.cpp): sockets opened and
// closed, port ids, bind, options and groups, the receive queues.
#include "testing/fake_rtnetlink/internal.hpp"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace tunkit::testing {

using namespace fake_rtnl;  // NOLINT(google-build-using-namespace): this fake's own helpers

FakeRtnetlink::FakeRtnetlink() = default;
FakeRtnetlink::~FakeRtnetlink() = default;

int FakeRtnetlink::open_socket(int fd, int protocol, std::string netns) {
  if (protocol != NETLINK_ROUTE && (protocol != NETLINK_GENERIC || !generic_supported_)) {
    return -EPROTONOSUPPORT;
  }
  Socket socket;
  socket.protocol = protocol;
  socket.netns = std::move(netns);
  sockets_[fd] = std::move(socket);
  return 0;
}

int FakeRtnetlink::autobind(Socket& socket) {
  auto in_use = [&](std::uint32_t port) {
    return std::any_of(sockets_.begin(), sockets_.end(),
                       [&](const auto& s) { return s.second.bound && s.second.port_id == port; });
  };
  // netlink_autobind: the process id first, then negative numbers counting down from -4096.
  std::uint32_t port = kFirstPortId;
  if (first_port_taken_ || in_use(port)) {
    do {
      port = 0xFFFFF000U - next_negative_port_++;
    } while (in_use(port));
  }
  first_port_taken_ = true;
  socket.port_id = port;
  socket.bound = true;
  return 0;
}

int FakeRtnetlink::bind(int fd, const sockaddr* addr, socklen_t len) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  if (addr == nullptr) return -EFAULT;
  if (len < sizeof(sockaddr_nl)) return -EINVAL;
  sockaddr_nl nl{};
  std::memcpy(&nl, addr, sizeof nl);
  if (nl.nl_family != AF_NETLINK) return -EINVAL;
  Socket& s = it->second;
  if (s.bound) {
    if (nl.nl_pid != 0 && nl.nl_pid != s.port_id) return -EINVAL;
    s.groups = nl.nl_groups;  // netlink_bind: a second bind changes the groups
    return 0;
  }
  if (nl.nl_pid == 0) {
    autobind(s);
  } else {
    for (const auto& [other_fd, other] : sockets_) {
      if (other.bound && other.port_id == nl.nl_pid) return -EADDRINUSE;
    }
    s.port_id = nl.nl_pid;
    s.bound = true;
  }
  s.groups = nl.nl_groups;
  return 0;
}

int FakeRtnetlink::getsockname(int fd, sockaddr* addr, socklen_t* len) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  if (addr == nullptr || len == nullptr) return -EFAULT;
  sockaddr_nl nl{};
  nl.nl_family = AF_NETLINK;
  nl.nl_pid = it->second.port_id;
  std::memcpy(addr, &nl, std::min<std::size_t>(*len, sizeof nl));
  *len = sizeof nl;
  return 0;
}

int FakeRtnetlink::setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  if (level != SOL_NETLINK) return 0;
  if (name == NETLINK_ADD_MEMBERSHIP || name == NETLINK_DROP_MEMBERSHIP) {
    if (value == nullptr || len < sizeof(std::uint32_t)) return -EINVAL;
    std::uint32_t group = 0;
    std::memcpy(&group, value, sizeof group);
    if (group == 0 || group > RTNLGRP_MAX) return -EINVAL;
    if (group <= 32) {  // the bitmask holds the first 32 groups, which is all this fake sends
      const std::uint32_t bit = 1U << (group - 1);
      it->second.groups =
          name == NETLINK_ADD_MEMBERSHIP ? it->second.groups | bit : it->second.groups & ~bit;
    }
    return 0;
  }
  if (name == NETLINK_EXT_ACK) {
    if (value == nullptr || len < sizeof(int)) return -EINVAL;
    int on = 0;
    std::memcpy(&on, value, sizeof on);
    it->second.ext_ack = on != 0;
    return 0;
  }
  if (name != NETLINK_CAP_ACK && name != NETLINK_GET_STRICT_CHK) return 0;
  if (name == NETLINK_GET_STRICT_CHK && !strict_supported_) return -ENOPROTOOPT;
  if (value == nullptr || len < sizeof(int)) return -EINVAL;
  int on = 0;
  std::memcpy(&on, value, sizeof on);
  (name == NETLINK_CAP_ACK ? it->second.cap_ack : it->second.strict) = on != 0;
  return 0;
}

ssize_t FakeRtnetlink::recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                                socklen_t* addrlen) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  Socket& socket = it->second;
  // sock_error() comes before the queue: the loss is reported first, once, and what was queued
  // before it stays to be read.
  if (socket.error != 0) return -std::exchange(socket.error, 0);
  auto& queue = socket.queue;
  if (queue.empty()) return -EAGAIN;
  if (buf == nullptr && len > 0) return -EFAULT;
  const Datagram& d = queue.front();
  const std::size_t copied = std::min(len, d.size());
  if (copied > 0) std::memcpy(buf, d.data(), copied);
  const auto full = static_cast<ssize_t>(d.size());
  if (addr != nullptr && addrlen != nullptr) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    std::memcpy(addr, &kernel, std::min<std::size_t>(*addrlen, sizeof kernel));
    *addrlen = sizeof kernel;
  }
  if ((flags & MSG_PEEK) == 0) queue.pop_front();
  if (queue.empty()) socket.congested = false;  // netlink_rcv_wake: read empty, deliver again
  return (flags & MSG_TRUNC) != 0 ? full : static_cast<ssize_t>(copied);
}

void FakeRtnetlink::close_socket(int fd) {
  sockets_.erase(fd);
}

std::size_t FakeRtnetlink::pending(int fd) const {
  const auto it = sockets_.find(fd);
  return it == sockets_.end() ? 0 : it->second.queue.size();
}

int FakeRtnetlink::set_receive_limit(int fd, std::size_t datagrams) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  it->second.limit = datagrams;
  return 0;
}

std::size_t FakeRtnetlink::dropped(int fd) const {
  const auto it = sockets_.find(fd);
  return it == sockets_.end() ? 0 : it->second.dropped;
}

}  // namespace tunkit::testing
