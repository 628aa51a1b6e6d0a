// Sockets: AF_INET / AF_INET6 datagram sockets for the interface look-ups (SIOCGIFINDEX,
// SIOCGIFNAME), and netlink sockets, whose every call is forwarded to the fake rtnetlink.
#include "testing/fake_kernel/state.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>

namespace tunkit::testing {
namespace {

using fake_kernel::FdKind;
using fake_kernel::make_record;

}  // namespace

template <typename Result, typename Forward>
Result FakeKernel::State::socket_call(int fd, Forward&& forward) {
  Fd* f = find_fd(fd);
  if (f == nullptr) return -EBADF;
  switch (f->kind) {
    case FdKind::netlink:
      return forward();
    case FdKind::inet:
      return -EOPNOTSUPP;
    case FdKind::tun:
    case FdKind::event:
    case FdKind::netns:
    case FdKind::ebpf:
      return -ENOTSOCK;
  }
  return -ENOTSOCK;
}

int FakeKernel::State::socket_ioctl(const Fd& f, unsigned long request, void* arg) {
  if (request != SIOCGIFINDEX && request != SIOCGIFNAME && request != SIOCETHTOOL) return -ENOTTY;
  if (arg == nullptr) return -EFAULT;
  auto* ifr = static_cast<ifreq*>(arg);
  if (request == SIOCETHTOOL) {
    // ETHTOOL_GDRVINFO only, as tun_get_drvinfo answers it.
    const std::string name(ifr->ifr_name, strnlen(ifr->ifr_name, IFNAMSIZ));
    const Device* d = find_interface(name, f.netns);
    if (d == nullptr) return -ENODEV;
    if (ifr->ifr_data == nullptr) return -EFAULT;
    std::uint32_t cmd = 0;
    std::memcpy(&cmd, ifr->ifr_data, sizeof cmd);
    if (cmd != ETHTOOL_GDRVINFO || !d->tun_driver) return -EOPNOTSUPP;
    ethtool_drvinfo info{};
    info.cmd = cmd;
    std::memcpy(info.driver, "tun", 4);
    std::memcpy(info.version, "1.6", 4);
    std::memcpy(info.bus_info, d->mode == Mode::tap ? "tap" : "tun", 4);
    std::memcpy(ifr->ifr_data, &info, sizeof info);
    return 0;
  }
  if (request == SIOCGIFINDEX) {
    const std::string name(ifr->ifr_name, strnlen(ifr->ifr_name, IFNAMSIZ));
    const Device* d = find_interface(name, f.netns);
    if (d == nullptr) return -ENODEV;
    ifr->ifr_ifindex = static_cast<int>(d->ifindex);
    return 0;
  }
  auto it = interfaces.find(static_cast<unsigned>(ifr->ifr_ifindex));
  if (ifr->ifr_ifindex <= 0 || it == interfaces.end() || it->second.netns != f.netns) {
    return -ENODEV;
  }
  std::memset(ifr->ifr_name, 0, IFNAMSIZ);
  std::memcpy(ifr->ifr_name, it->second.name.data(), it->second.name.size());
  return 0;
}

int FakeKernel::socket(int domain, int type, int protocol) noexcept {
  State& s = *state_;
  CallRecord rec = make_record(Call::socket, -1, static_cast<unsigned long>(domain), type);
  return s.call<int>(std::move(rec), [&](CallRecord& c) {
    const int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    State::Fd f;
    f.status = O_RDWR | (type & SOCK_NONBLOCK);
    f.cloexec = (type & SOCK_CLOEXEC) != 0;
    if ((domain == AF_INET || domain == AF_INET6) && base == SOCK_DGRAM) {
      f.kind = FdKind::inet;
    } else if (domain == AF_NETLINK && (base == SOCK_RAW || base == SOCK_DGRAM)) {
      f.kind = FdKind::netlink;
    } else {
      return -EAFNOSUPPORT;
    }
    f.netns = s.netns();
    const std::string ns = f.netns;
    const int fd = s.allocate_fd(std::move(f));
    if (domain == AF_NETLINK) {
      if (const int r = s.rtnl.open_socket(fd, protocol, ns); r < 0) {
        s.fds.erase(fd);
        return r;
      }
    }
    c.fd = fd;
    return fd;
  });
}

int FakeKernel::bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
  State& s = *state_;
  return s.call<int>(make_record(Call::bind, fd, 0, len), [&](CallRecord&) {
    return s.socket_call<int>(fd, [&] { return s.rtnl.bind(fd, addr, len); });
  });
}

int FakeKernel::getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept {
  State& s = *state_;
  return s.call<int>(make_record(Call::getsockname, fd), [&](CallRecord&) {
    return s.socket_call<int>(fd, [&] { return s.rtnl.getsockname(fd, addr, len); });
  });
}

int FakeKernel::setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept {
  State& s = *state_;
  CallRecord rec = make_record(Call::setsockopt, fd, static_cast<unsigned long>(level), name);
  return s.call<int>(std::move(rec), [&](CallRecord&) {
    return s.socket_call<int>(fd, [&] { return s.rtnl.setsockopt(fd, level, name, value, len); });
  });
}

ssize_t FakeKernel::sendto(int fd, const void* buf, std::size_t len, int flags,
                           const sockaddr* addr, socklen_t addrlen) noexcept {
  State& s = *state_;
  CallRecord rec = make_record(Call::sendto, fd, 0, static_cast<std::int64_t>(len));
  return s.call<ssize_t>(std::move(rec), [&](CallRecord&) {
    return s.socket_call<ssize_t>(
        fd, [&] { return s.rtnl.sendto(fd, buf, len, flags, addr, addrlen); });
  });
}

ssize_t FakeKernel::recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                             socklen_t* addrlen) noexcept {
  State& s = *state_;
  CallRecord rec = make_record(Call::recvfrom, fd, 0, static_cast<std::int64_t>(len));
  return s.call<ssize_t>(std::move(rec), [&](CallRecord&) {
    return s.socket_call<ssize_t>(
        fd, [&] { return s.rtnl.recvfrom(fd, buf, len, flags, addr, addrlen); });
  });
}

}  // namespace tunkit::testing
