#include "tunkit/testing/fake_kernel.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "tunkit/testing/fake_rtnetlink.hpp"

namespace tunkit::testing {
namespace {

// The driver's constants (drivers/net/tun.c), spelled out where Debian 12's 6.1 headers may lack
// them or where the driver keeps them private.
constexpr std::uint16_t kIffNoCarrier = 0x0040;
constexpr unsigned kIffLowerUp = 0x10000;  // <linux/if.h>, which clashes with <net/if.h>
constexpr std::uint16_t kTunFeatures =
    IFF_NO_PI | IFF_ONE_QUEUE | IFF_VNET_HDR | IFF_MULTI_QUEUE | IFF_NAPI | IFF_NAPI_FRAGS;
constexpr unsigned kDefaultFeatures = IFF_TUN | IFF_TAP | kIffNoCarrier | kTunFeatures;  // 0x7173
static_assert(kDefaultFeatures == 0x7173);
constexpr std::size_t kMaxQueues = 256;   // MAX_TAP_QUEUES
constexpr std::size_t kTxQueueLen = 500;  // default tx_queue_len: the per-queue ring size
constexpr int kMinVnetHdrSize = 10;       // sizeof(struct virtio_net_hdr)
constexpr int kIovMax = 1024;             // UIO_MAXIOV
constexpr int kFirstFd = 1000;
constexpr unsigned kLoopbackIndex = 1;
constexpr std::size_t kPiSize = 4;  // sizeof(struct tun_pi)
constexpr std::size_t kEthHeader = 14;
constexpr int kSettableStatusFlags = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

using Call = FakeKernel::Call;
using CallRecord = FakeKernel::CallRecord;

CallRecord make_record(Call call, int fd, unsigned long request = 0, std::int64_t arg = 0) {
  CallRecord r;
  r.call = call;
  r.fd = fd;
  r.request = request;
  r.arg = arg;
  return r;
}

struct Packet {
  std::vector<std::byte> data;
  std::uint16_t protocol = 0;  // host order
};

enum class FdKind : std::uint8_t { tun, event, inet, netlink };

struct Fd {
  FdKind kind = FdKind::tun;
  int status = O_RDWR;  // access mode and status flags (F_GETFL)
  bool cloexec = false;
  // TUN: the attached device's ifindex, 0 before TUNSETIFF and after the device was deleted
  // (tfile->tun == NULL in the driver).
  unsigned ifindex = 0;
  std::deque<Packet> rx;  // this queue's ring
  // eventfd
  std::uint64_t counter = 0;
  bool semaphore = false;
};

struct Device {
  std::string name;
  unsigned ifindex = 0;
  bool tun_driver = true;  // false: "lo" and add_interface()
  Mode mode = Mode::tun;
  std::uint16_t flags = 0;  // tun->flags: TUN/TAP, TUN_FEATURES, PERSIST
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
  bool up = false;
  bool no_carrier = false;  // created with IFF_NO_CARRIER: no carrier even with a reader
  int vnet_hdr_size = kMinVnetHdrSize;
  std::vector<int> queues;  // attached descriptors, in attach order
  std::size_t next_queue = 0;
};

std::uint16_t ip_protocol(std::span<const std::byte> packet) noexcept {
  if (packet.empty()) return 0;
  switch (std::to_integer<unsigned>(packet[0]) >> 4U) {
    case 4:
      return 0x0800;  // ETH_P_IP
    case 6:
      return 0x86DD;  // ETH_P_IPV6
    default:
      return 0;
  }
}

std::uint16_t frame_protocol(std::span<const std::byte> frame) noexcept {
  if (frame.size() < kEthHeader) return 0;
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(frame[12]) << 8U) |
                                    std::to_integer<unsigned>(frame[13]));
}

// dev_valid_name() in net/core/dev.c.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0;
  });
}

// Total length of an iovec array, or -EINVAL / -EFAULT as readv(2)/writev(2) report.
ssize_t iov_total(const iovec* iov, int iovcnt) noexcept {
  if (iovcnt < 0 || iovcnt > kIovMax) return -EINVAL;
  if (iovcnt > 0 && iov == nullptr) return -EFAULT;
  std::size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) {
    const iovec& v = iov[i];
    if (v.iov_len > 0 && v.iov_base == nullptr) return -EFAULT;
    total += v.iov_len;
    if (total > static_cast<std::size_t>(std::numeric_limits<ssize_t>::max())) return -EINVAL;
  }
  return static_cast<ssize_t>(total);
}

std::uintptr_t by_value(void* arg) noexcept {
  // TUNSETPERSIST/OWNER/GROUP take their argument by value in the pointer's place.
  return reinterpret_cast<std::uintptr_t>(arg);  // NOLINT(performance-no-int-to-ptr)
}

}  // namespace

struct FakeKernel::State {
  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<int, Fd> fds;
  std::map<unsigned, Device> interfaces;  // every interface, TUN/TAP or not, by ifindex
  unsigned next_ifindex = 2;
  std::map<std::string, std::vector<WrittenPacket>, std::less<>> written;
  std::vector<CallRecord> log;
  std::map<Call, std::deque<int>> failures;
  std::map<unsigned long, std::deque<int>> ioctl_failures;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool cap_net_admin = true;
  unsigned features = kDefaultFeatures;
  std::chrono::milliseconds block_limit{5000};
  FakeRtnetlink rtnl;

  // Runs `body` unless a failure was scripted for this call (`scripted_err`), logs the call, and
  // wakes waiting pollers (any call may have made something ready). Allocation failures inside
  // the fake surface as -ENOMEM rather than terminating through noexcept.
  template <typename Result, typename Body>
  Result run(CallRecord rec, int scripted_err, Body&& body) noexcept {
    Result r{};
    try {
      r = scripted_err != 0 ? static_cast<Result>(-scripted_err) : static_cast<Result>(body(rec));
      rec.result = static_cast<std::int64_t>(r);
      log.push_back(std::move(rec));
    } catch (...) {
      r = static_cast<Result>(-ENOMEM);
    }
    cv.notify_all();
    return r;
  }

  // The socket calls: forwarded for netlink sockets, refused otherwise.
  template <typename Result, typename Forward>
  Result socket_call(int fd, Forward&& forward) {
    Fd* f = find_fd(fd);
    if (f == nullptr) return -EBADF;
    switch (f->kind) {
      case FdKind::netlink:
        return forward();
      case FdKind::inet:
        return -EOPNOTSUPP;
      case FdKind::tun:
      case FdKind::event:
        return -ENOTSOCK;
    }
    return -ENOTSOCK;
  }

  // --- helpers (all called with `mu` held) ---

  int scripted(Call call) {
    auto it = failures.find(call);
    if (it == failures.end() || it->second.empty()) return 0;
    const int err = it->second.front();
    it->second.pop_front();
    return err;
  }

  int scripted_ioctl(unsigned long request) {
    auto it = ioctl_failures.find(request);
    if (it != ioctl_failures.end() && !it->second.empty()) {
      const int err = it->second.front();
      it->second.pop_front();
      return err;
    }
    return scripted(Call::ioctl);
  }

  Fd* find_fd(int fd) {
    auto it = fds.find(fd);
    return it == fds.end() ? nullptr : &it->second;
  }

  int allocate_fd(Fd f) {
    int fd = kFirstFd;
    for (const auto& [number, unused] : fds) {  // lowest free number, as the kernel allocates
      if (number != fd) break;
      ++fd;
    }
    fds.emplace(fd, std::move(f));
    return fd;
  }

  Device* find_interface(std::string_view name) {
    for (auto& [index, dev] : interfaces) {
      if (dev.name == name) return &dev;
    }
    return nullptr;
  }

  Device* find_tun(std::string_view name) {
    Device* d = find_interface(name);
    return d != nullptr && d->tun_driver ? d : nullptr;
  }

  Device* attached_device(const Fd& f) {
    if (f.kind != FdKind::tun || f.ifindex == 0) return nullptr;
    auto it = interfaces.find(f.ifindex);
    return it == interfaces.end() ? nullptr : &it->second;
  }

  bool in_group(gid_t g) const {
    return g == gid || std::find(groups.begin(), groups.end(), g) != groups.end();
  }

  // tun_not_capable()
  bool not_capable(const Device& d) const {
    return ((d.owner && *d.owner != uid) || (d.group && !in_group(*d.group))) && !cap_net_admin;
  }

  unsigned create_interface(std::string name, bool tun_driver, Mode mode, std::uint16_t flags) {
    Device d;
    d.name = std::move(name);
    d.ifindex = next_ifindex++;
    d.tun_driver = tun_driver;
    d.mode = mode;
    d.flags = flags;
    const unsigned index = d.ifindex;
    if (tun_driver) {
      rtnl.add_link(index, d.name);  // down; carrier follows the attached queues (below)
      rtnl.set_carrier(index, false);
    } else {
      FakeRtnetlink::LinkRecord link;
      link.ifindex = index;
      link.name = d.name;
      link.flags = IFF_BROADCAST | IFF_MULTICAST;
      rtnl.set_link(std::move(link));
    }
    interfaces.emplace(index, std::move(d));
    return index;
  }

  void remove_interface(unsigned index) {
    auto it = interfaces.find(index);
    if (it == interfaces.end()) return;
    for (int q : it->second.queues) {
      if (Fd* f = find_fd(q)) {
        f->ifindex = 0;
        f->rx.clear();
      }
    }
    interfaces.erase(it);
    rtnl.remove_link(index);
  }

  // __tun_detach() on close: the last queue of a non-persistent device takes the device along.
  void detach(int fd, Fd& f) {
    Device* d = attached_device(f);
    if (d == nullptr) return;
    std::erase(d->queues, fd);
    f.ifindex = 0;
    f.rx.clear();
    if (!d->queues.empty()) return;
    // The last queue gone: carrier off, and the device too unless it persists.
    if ((d->flags & IFF_PERSIST) == 0) {
      remove_interface(d->ifindex);
    } else {
      rtnl.set_carrier(d->ifindex, false);
    }
  }

  int set_iff(int fd, Fd& f, ifreq& ifr) {
    if (attached_device(f) != nullptr) return -EEXIST;
    // __tun_chr_ioctl: ifr.ifr_name[IFNAMSIZ-1] = '\0', i.e. a 16-byte name loses its last byte.
    const std::string requested(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ - 1));
    const auto flags = static_cast<std::uint16_t>(ifr.ifr_flags);

    if ((flags & IFF_NAPI_FRAGS) != 0) {
      if (!cap_net_admin) return -EPERM;
      if ((flags & IFF_NAPI) == 0 || (flags & TUN_TYPE_MASK) != IFF_TAP) return -EINVAL;
    }

    Device* dev = find_interface(requested);
    if (dev != nullptr) {
      if ((flags & IFF_TUN_EXCL) != 0) return -EBUSY;
      const bool as_tun = (flags & IFF_TUN) != 0 && dev->tun_driver && dev->mode == Mode::tun;
      const bool as_tap = (flags & IFF_TAP) != 0 && dev->tun_driver && dev->mode == Mode::tap;
      if (!as_tun && !as_tap) return -EINVAL;
      if (((flags & IFF_MULTI_QUEUE) != 0) != ((dev->flags & IFF_MULTI_QUEUE) != 0)) return -EINVAL;
      if (not_capable(*dev)) return -EPERM;
      // tun_attach()
      if ((dev->flags & IFF_MULTI_QUEUE) == 0 && dev->queues.size() == 1) return -EBUSY;
      if (dev->queues.size() == kMaxQueues) return -E2BIG;
      dev->queues.push_back(fd);
      f.ifindex = dev->ifindex;
      // A queue joining a multi-queue device that already has others does not change its flags.
      if ((dev->flags & IFF_MULTI_QUEUE) == 0 || dev->queues.size() == 1) {
        dev->flags =
            static_cast<std::uint16_t>((dev->flags & ~kTunFeatures) | (flags & kTunFeatures));
      }
    } else {
      if (!cap_net_admin) return -EPERM;
      Mode mode = Mode::tun;
      std::string name;
      if ((flags & IFF_TUN) != 0) {
        name = "tun%d";
      } else if ((flags & IFF_TAP) != 0) {
        mode = Mode::tap;
        name = "tap%d";
      } else {
        return -EINVAL;
      }
      if (!requested.empty()) name = requested;
      if (!valid_name(name)) return -EINVAL;
      if (const auto p = name.find('%'); p != std::string::npos) {
        // __dev_alloc_name(): exactly one "%d", replaced by the lowest unused number.
        if (p + 1 >= name.size() || name[p + 1] != 'd' ||
            name.find('%', p + 2) != std::string::npos) {
          return -EINVAL;
        }
        for (unsigned i = 0;; ++i) {
          std::string candidate = name.substr(0, p) + std::to_string(i) + name.substr(p + 2);
          candidate.resize(std::min<std::size_t>(candidate.size(), IFNAMSIZ - 1));
          if (find_interface(candidate) == nullptr) {
            name = std::move(candidate);
            break;
          }
        }
      }
      const auto type = static_cast<std::uint16_t>(mode == Mode::tap ? IFF_TAP : IFF_TUN);
      const unsigned index = create_interface(
          name, true, mode, static_cast<std::uint16_t>(type | (flags & kTunFeatures)));
      Device& created = interfaces.at(index);
      created.no_carrier = (flags & kIffNoCarrier) != 0;
      created.queues.push_back(fd);
      f.ifindex = index;
      dev = &created;
    }
    rtnl.set_carrier(dev->ifindex, !dev->no_carrier);  // a reader is attached
    std::memset(ifr.ifr_name, 0, IFNAMSIZ);
    std::memcpy(ifr.ifr_name, dev->name.data(), dev->name.size());
    return 0;
  }

  int tun_ioctl(int fd, Fd& f, unsigned long request, void* arg) {
    if (request == TUNGETFEATURES) {
      if (arg == nullptr) return -EFAULT;
      std::memcpy(arg, &features, sizeof features);
      return 0;
    }
    if (request == TUNSETIFF) {
      if (arg == nullptr) return -EFAULT;
      return set_iff(fd, f, *static_cast<ifreq*>(arg));
    }
    Device* dev = attached_device(f);
    if (dev == nullptr) return -EBADFD;
    switch (request) {
      case TUNGETIFF: {
        if (arg == nullptr) return -EFAULT;
        ifreq out{};
        std::memcpy(out.ifr_name, dev->name.data(), dev->name.size());
        // tun_flags() | IFF_NOFILTER: no socket filter is attached, and IFF_NOFILTER == IFF_NO_PI,
        // so the kernel reports 0x1000 whatever the packet-information setting (measured).
        const unsigned shown = (dev->flags & (kTunFeatures | IFF_PERSIST | IFF_TUN | IFF_TAP)) |
                               static_cast<unsigned>(IFF_NOFILTER);
        out.ifr_flags = static_cast<short>(shown);
        std::memcpy(arg, &out, sizeof out);
        return 0;
      }
      case TUNSETPERSIST:
        if (by_value(arg) != 0) {
          dev->flags |= IFF_PERSIST;
        } else {
          dev->flags = static_cast<std::uint16_t>(dev->flags & ~IFF_PERSIST);
        }
        return 0;
      case TUNSETOWNER: {
        const auto owner = static_cast<uid_t>(by_value(arg));
        if (owner == static_cast<uid_t>(-1)) return -EINVAL;  // !uid_valid()
        dev->owner = owner;
        return 0;
      }
      case TUNSETGROUP: {
        const auto group = static_cast<gid_t>(by_value(arg));
        if (group == static_cast<gid_t>(-1)) return -EINVAL;
        dev->group = group;
        return 0;
      }
      case TUNGETVNETHDRSZ:
        if (arg == nullptr) return -EFAULT;
        std::memcpy(arg, &dev->vnet_hdr_size, sizeof dev->vnet_hdr_size);
        return 0;
      case TUNSETVNETHDRSZ: {
        if (arg == nullptr) return -EFAULT;
        int size = 0;
        std::memcpy(&size, arg, sizeof size);
        if (size < kMinVnetHdrSize) return -EINVAL;
        dev->vnet_hdr_size = size;
        return 0;
      }
      default:
        return -EINVAL;  // the driver's default case, SIOC* requests included
    }
  }

  int socket_ioctl(unsigned long request, void* arg) {
    if (request != SIOCGIFINDEX && request != SIOCGIFNAME) return -ENOTTY;
    if (arg == nullptr) return -EFAULT;
    auto* ifr = static_cast<ifreq*>(arg);
    if (request == SIOCGIFINDEX) {
      const std::string name(ifr->ifr_name, strnlen(ifr->ifr_name, IFNAMSIZ));
      const Device* d = find_interface(name);
      if (d == nullptr) return -ENODEV;
      ifr->ifr_ifindex = static_cast<int>(d->ifindex);
      return 0;
    }
    auto it = interfaces.find(static_cast<unsigned>(ifr->ifr_ifindex));
    if (ifr->ifr_ifindex <= 0 || it == interfaces.end()) return -ENODEV;
    std::memset(ifr->ifr_name, 0, IFNAMSIZ);
    std::memcpy(ifr->ifr_name, it->second.name.data(), it->second.name.size());
    return 0;
  }

  // One read of at most out.size() bytes (readv has already flattened its buffers).
  ssize_t read_into(int fd, std::span<std::byte> out) {
    Fd* f = find_fd(fd);
    if (f == nullptr) return -EBADF;
    switch (f->kind) {
      case FdKind::tun:
        return tun_read(*f, out);
      case FdKind::event: {
        if (out.size() < sizeof(std::uint64_t)) return -EINVAL;
        if (f->counter == 0) return -EAGAIN;  // also when blocking: a fake never blocks in read
        const std::uint64_t value = f->semaphore ? 1 : f->counter;
        f->counter -= value;
        std::memcpy(out.data(), &value, sizeof value);
        return static_cast<ssize_t>(sizeof value);
      }
      case FdKind::netlink:
        return rtnl.recvfrom(fd, out.data(), out.size(), 0, nullptr, nullptr);
      case FdKind::inet:
        return -EAGAIN;
    }
    return -EBADF;
  }

  // tun_chr_read_iter() / tun_put_user().
  ssize_t tun_read(Fd& f, std::span<std::byte> out) {
    Device* dev = attached_device(f);
    if (dev == nullptr) return -EBADFD;
    if (out.empty()) return 0;
    if (f.rx.empty()) return -EAGAIN;
    const Packet p = std::move(f.rx.front());
    f.rx.pop_front();
    const bool pi = (dev->flags & IFF_NO_PI) == 0;
    const bool vnet = (dev->flags & IFF_VNET_HDR) != 0;
    const auto vnet_size = static_cast<std::size_t>(dev->vnet_hdr_size);
    std::size_t total = p.data.size() + (vnet ? vnet_size : 0);
    std::size_t at = 0;
    if (pi) {
      if (out.size() < kPiSize) return -EINVAL;  // and the packet is dropped
      total += kPiSize;
      const std::uint16_t pi_flags = out.size() < total ? TUN_PKT_STRIP : 0;
      std::memcpy(out.data(), &pi_flags, sizeof pi_flags);  // host order, as struct tun_pi
      out[2] = static_cast<std::byte>(p.protocol >> 8U);    // big-endian
      out[3] = static_cast<std::byte>(p.protocol & 0xFFU);
      at = kPiSize;
    }
    if (vnet) {
      if (out.size() - at < vnet_size) return -EINVAL;
      std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(at), vnet_size, std::byte{0});
      at += vnet_size;
    }
    const std::size_t n = std::min(out.size() - at, p.data.size());
    std::copy_n(p.data.begin(), n, out.begin() + static_cast<std::ptrdiff_t>(at));
    return static_cast<ssize_t>(std::min(total, out.size()));
  }

  ssize_t write_from(int fd, std::span<const std::byte> in) {
    Fd* f = find_fd(fd);
    if (f == nullptr) return -EBADF;
    switch (f->kind) {
      case FdKind::tun:
        return tun_write(fd, *f, in);
      case FdKind::event: {
        if (in.size() < sizeof(std::uint64_t)) return -EINVAL;
        std::uint64_t value = 0;
        std::memcpy(&value, in.data(), sizeof value);
        constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
        if (value == kMax) return -EINVAL;
        if (kMax - 1 - f->counter < value) return -EAGAIN;  // would block: never in a fake
        f->counter += value;
        return static_cast<ssize_t>(sizeof value);
      }
      case FdKind::netlink:
        return rtnl.sendto(fd, in.data(), in.size(), 0, nullptr, 0);
      case FdKind::inet:
        return -EDESTADDRREQ;
    }
    return -EBADF;
  }

  // tun_chr_write_iter() / tun_get_user(), in the kernel's order of checks (measured).
  ssize_t tun_write(int fd, Fd& f, std::span<const std::byte> in) {
    Device* dev = attached_device(f);
    if (dev == nullptr) return -EBADFD;
    std::span<const std::byte> rest = in;
    WrittenPacket out;
    out.fd = fd;
    const bool pi = (dev->flags & IFF_NO_PI) == 0;
    if (pi) {
      if (rest.size() < kPiSize) return -EINVAL;
      out.protocol = static_cast<std::uint16_t>((std::to_integer<unsigned>(rest[2]) << 8U) |
                                                std::to_integer<unsigned>(rest[3]));
      rest = rest.subspan(kPiSize);
    }
    if ((dev->flags & IFF_VNET_HDR) != 0) {
      const auto size = static_cast<std::size_t>(dev->vnet_hdr_size);
      if (rest.size() < size) return -EINVAL;
      out.vnet_header.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(size));
      rest = rest.subspan(size);
    }
    if (dev->mode == Mode::tap) {
      if (rest.size() < kEthHeader) return -EINVAL;
      if (!pi) out.protocol = frame_protocol(rest);
    } else if (!pi) {
      out.protocol = ip_protocol(rest);
      if (out.protocol == 0) return -EINVAL;  // neither IPv4 nor IPv6 (or empty)
    }
    if (!dev->up) return -EIO;
    out.data.assign(rest.begin(), rest.end());
    written[dev->name].push_back(std::move(out));
    return static_cast<ssize_t>(in.size());
  }

  short readiness(const pollfd& p) {
    if (p.fd < 0) return 0;
    Fd* f = find_fd(p.fd);
    if (f == nullptr) return POLLNVAL;
    int mask = 0;
    switch (f->kind) {
      case FdKind::tun: {
        const Device* dev = attached_device(*f);
        if (dev == nullptr) return POLLERR;  // tun_chr_poll(): no device, EPOLLERR alone
        if (!f->rx.empty()) mask |= POLLIN | POLLRDNORM;
        if (dev->up) mask |= POLLOUT | POLLWRNORM;
        break;
      }
      case FdKind::event:
        if (f->counter > 0) mask |= POLLIN | POLLRDNORM;
        if (f->counter < std::numeric_limits<std::uint64_t>::max() - 1)
          mask |= POLLOUT | POLLWRNORM;
        break;
      case FdKind::netlink:
        mask |= POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
        break;
      case FdKind::inet:
        mask |= POLLOUT | POLLWRNORM;
        break;
    }
    return static_cast<short>(mask & (p.events | POLLERR | POLLHUP));
  }

  int scan(pollfd* pfds, nfds_t n) {
    int ready = 0;
    for (nfds_t i = 0; i < n; ++i) {
      pfds[i].revents = readiness(pfds[i]);
      if (pfds[i].revents != 0) ++ready;
    }
    return ready;
  }

  DeviceRecord describe(const Device& d) const {
    DeviceRecord r;
    r.name = d.name;
    r.ifindex = d.ifindex;
    r.mode = d.mode;
    r.flags = Flags::from_bits(d.flags);
    r.persist = (d.flags & IFF_PERSIST) != 0;
    r.up = d.up;
    r.owner = d.owner;
    r.group = d.group;
    r.queues = d.queues.size();
    for (int q : d.queues) {
      if (auto it = fds.find(q); it != fds.end()) r.queued_packets += it->second.rx.size();
    }
    return r;
  }
};

FakeKernel::FakeKernel() : state_(std::make_unique<State>()) {
  Device lo;
  lo.name = "lo";
  lo.ifindex = kLoopbackIndex;
  lo.tun_driver = false;
  lo.up = true;
  state_->interfaces.emplace(kLoopbackIndex, std::move(lo));

  FakeRtnetlink::LinkRecord link;
  link.ifindex = kLoopbackIndex;
  link.name = "lo";
  link.flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING | kIffLowerUp;
  link.mtu = 65536;
  // The kernel reports no range for lo (min_mtu = max_mtu = 0: unchecked); FakeRtnetlink checks
  // the range literally, so give it one that admits lo's own MTU.
  link.min_mtu = 0;
  link.max_mtu = 65536;
  link.addresses = {IpPrefix::parse("127.0.0.1/8"), IpPrefix::parse("::1/128")};
  state_->rtnl.set_link(std::move(link));

  // Changes made over netlink (up/down, rename) reach the devices. The observer runs inside
  // FakeRtnetlink::sendto, which this class only calls with the mutex held: no locking here.
  state_->rtnl.set_link_observer([state = state_.get()](const FakeRtnetlink::LinkRecord& l) {
    auto it = state->interfaces.find(l.ifindex);
    if (it == state->interfaces.end()) return;
    it->second.up = (l.flags & IFF_UP) != 0;
    it->second.name = l.name;
  });
  // What tun_fill_info() reports for a TUN/TAP device. Runs inside sendto too: no locking.
  state_->rtnl.set_tun_info_source(
      [state = state_.get()](unsigned ifindex) -> std::optional<FakeRtnetlink::TunInfo> {
        auto it = state->interfaces.find(ifindex);
        if (it == state->interfaces.end() || !it->second.tun_driver) return std::nullopt;
        const Device& d = it->second;
        FakeRtnetlink::TunInfo t;
        t.type = static_cast<std::uint8_t>(d.flags & (IFF_TUN | IFF_TAP));
        t.packet_info = (d.flags & IFF_NO_PI) == 0;
        t.vnet_hdr = (d.flags & IFF_VNET_HDR) != 0;
        t.persist = (d.flags & IFF_PERSIST) != 0;
        t.multi_queue = (d.flags & IFF_MULTI_QUEUE) != 0;
        if (d.owner) t.owner = *d.owner;
        if (d.group) t.group = *d.group;
        t.queues = static_cast<std::uint32_t>(d.queues.size());
        return t;
      });
}

FakeKernel::~FakeKernel() = default;

int FakeKernel::open(const char* path, int flags) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::open, -1, 0, flags);
  rec.text = path != nullptr ? path : "";
  const int r = s.run<int>(std::move(rec), s.scripted(Call::open), [&](CallRecord& c) {
    if (path == nullptr) return -EFAULT;
    if (std::string_view(path) != "/dev/net/tun") return -ENOENT;
    Fd f;
    f.kind = FdKind::tun;
    f.status = flags & ~(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
    f.cloexec = (flags & O_CLOEXEC) != 0;
    c.fd = s.allocate_fd(std::move(f));
    return c.fd;
  });
  return r;
}

int FakeKernel::close(int fd) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  const int err = s.scripted(Call::close);
  return s.run<int>(make_record(Call::close, fd), 0, [&](CallRecord&) {
    auto it = s.fds.find(fd);
    if (it == s.fds.end()) return err != 0 ? -err : -EBADF;
    // Released even when a failure is scripted: Linux frees the descriptor before reporting
    // EINTR or EIO from close(2), which is why it must never be retried.
    switch (it->second.kind) {
      case FdKind::tun:
        s.detach(fd, it->second);
        break;
      case FdKind::netlink:
        s.rtnl.close_socket(fd);
        break;
      case FdKind::event:
      case FdKind::inet:
        break;
    }
    s.fds.erase(fd);
    return err != 0 ? -err : 0;
  });
}

int FakeKernel::ioctl(int fd, unsigned long request, void* arg) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::ioctl, fd, request);
  if (request == TUNSETPERSIST || request == TUNSETOWNER || request == TUNSETGROUP) {
    rec.arg = static_cast<std::int64_t>(by_value(arg));
  } else if ((request == TUNSETIFF || request == SIOCGIFINDEX) && arg != nullptr) {
    const auto* ifr = static_cast<const ifreq*>(arg);
    rec.text.assign(ifr->ifr_name, strnlen(ifr->ifr_name, IFNAMSIZ));
    if (request == TUNSETIFF) rec.arg = static_cast<std::uint16_t>(ifr->ifr_flags);
  }
  return s.run<int>(std::move(rec), s.scripted_ioctl(request), [&](CallRecord&) {
    Fd* f = s.find_fd(fd);
    if (f == nullptr) return -EBADF;
    switch (f->kind) {
      case FdKind::tun:
        return s.tun_ioctl(fd, *f, request, arg);
      case FdKind::inet:
      case FdKind::netlink:
        return s.socket_ioctl(request, arg);
      case FdKind::event:
        return -ENOTTY;
    }
    return -ENOTTY;
  });
}

ssize_t FakeKernel::read(int fd, void* buf, std::size_t count) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::read, fd, 0, static_cast<std::int64_t>(count));
  return s.run<ssize_t>(std::move(rec), s.scripted(Call::read), [&](CallRecord&) -> ssize_t {
    if (buf == nullptr && count > 0) return -EFAULT;
    return s.read_into(fd, {static_cast<std::byte*>(buf), count});
  });
}

ssize_t FakeKernel::write(int fd, const void* buf, std::size_t count) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::write, fd, 0, static_cast<std::int64_t>(count));
  return s.run<ssize_t>(std::move(rec), s.scripted(Call::write), [&](CallRecord&) -> ssize_t {
    if (buf == nullptr && count > 0) return -EFAULT;
    return s.write_from(fd, {static_cast<const std::byte*>(buf), count});
  });
}

ssize_t FakeKernel::readv(int fd, const iovec* iov, int iovcnt) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  const ssize_t total = iov_total(iov, iovcnt);
  CallRecord rec = make_record(Call::readv, fd, 0, total);
  return s.run<ssize_t>(std::move(rec), s.scripted(Call::readv), [&](CallRecord&) -> ssize_t {
    if (total < 0) return total;
    // The driver's iov_iter is one byte stream over the buffers: read flat, then scatter.
    std::vector<std::byte> flat(static_cast<std::size_t>(total));
    const ssize_t r = s.read_into(fd, flat);
    if (r <= 0) return r;
    std::size_t left = std::min(static_cast<std::size_t>(r), flat.size());
    std::size_t at = 0;
    for (int i = 0; i < iovcnt && left > 0; ++i) {
      const std::size_t n = std::min(left, iov[i].iov_len);
      std::memcpy(iov[i].iov_base, flat.data() + at, n);
      at += n;
      left -= n;
    }
    return r;
  });
}

ssize_t FakeKernel::writev(int fd, const iovec* iov, int iovcnt) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  const ssize_t total = iov_total(iov, iovcnt);
  CallRecord rec = make_record(Call::writev, fd, 0, total);
  return s.run<ssize_t>(std::move(rec), s.scripted(Call::writev), [&](CallRecord&) -> ssize_t {
    if (total < 0) return total;
    std::vector<std::byte> flat;
    flat.reserve(static_cast<std::size_t>(total));
    for (int i = 0; i < iovcnt; ++i) {
      const auto* base = static_cast<const std::byte*>(iov[i].iov_base);
      flat.insert(flat.end(), base, base + iov[i].iov_len);
    }
    return s.write_from(fd, flat);
  });
}

int FakeKernel::poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  CallRecord rec =
      make_record(Call::poll, nfds > 0 && fds != nullptr ? fds[0].fd : -1, 0, timeout_ms);
  if (const int err = s.scripted(Call::poll))
    return s.run<int>(std::move(rec), err, [](CallRecord&) { return 0; });
  if (nfds > 0 && fds == nullptr)
    return s.run<int>(std::move(rec), EFAULT, [](CallRecord&) { return 0; });
  int ready = s.scan(fds, nfds);
  if (ready == 0 && timeout_ms < 0) {
    // Wait for another thread to make something ready; give up after block_limit so that a test
    // that would hang fails instead (see the header).
    const auto deadline = std::chrono::steady_clock::now() + s.block_limit;
    while (ready == 0) {
      if (s.cv.wait_until(lock, deadline) == std::cv_status::timeout) {
        ready = s.scan(fds, nfds);
        if (ready == 0) ready = -EDEADLK;
        break;
      }
      ready = s.scan(fds, nfds);
    }
  }
  return s.run<int>(std::move(rec), 0, [&](CallRecord&) { return ready; });
}

int FakeKernel::eventfd(unsigned int initval, int flags) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  return s.run<int>(make_record(Call::eventfd, -1, 0, flags), s.scripted(Call::eventfd),
                    [&](CallRecord& c) {
                      if ((flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) != 0)
                        return -EINVAL;
                      Fd f;
                      f.kind = FdKind::event;
                      f.status = O_RDWR | (flags & EFD_NONBLOCK);
                      f.cloexec = (flags & EFD_CLOEXEC) != 0;
                      f.counter = initval;
                      f.semaphore = (flags & EFD_SEMAPHORE) != 0;
                      c.fd = s.allocate_fd(std::move(f));
                      return c.fd;
                    });
}

int FakeKernel::fcntl(int fd, int cmd, int arg) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::fcntl, fd, static_cast<unsigned long>(cmd), arg);
  return s.run<int>(std::move(rec), s.scripted(Call::fcntl), [&](CallRecord&) {
    Fd* f = s.find_fd(fd);
    if (f == nullptr) return -EBADF;
    switch (cmd) {
      case F_GETFL:
        return f->status;
      case F_SETFL:
        f->status = (f->status & ~kSettableStatusFlags) | (arg & kSettableStatusFlags);
        return 0;
      case F_GETFD:
        return f->cloexec ? FD_CLOEXEC : 0;
      case F_SETFD:
        f->cloexec = (arg & FD_CLOEXEC) != 0;
        return 0;
      default:
        return -EINVAL;
    }
  });
}

int FakeKernel::socket(int domain, int type, int protocol) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::socket, -1, static_cast<unsigned long>(domain), type);
  return s.run<int>(std::move(rec), s.scripted(Call::socket), [&](CallRecord& c) {
    const int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    Fd f;
    f.status = O_RDWR | (type & SOCK_NONBLOCK);
    f.cloexec = (type & SOCK_CLOEXEC) != 0;
    if ((domain == AF_INET || domain == AF_INET6) && base == SOCK_DGRAM) {
      f.kind = FdKind::inet;
    } else if (domain == AF_NETLINK && (base == SOCK_RAW || base == SOCK_DGRAM)) {
      f.kind = FdKind::netlink;
    } else {
      return -EAFNOSUPPORT;
    }
    const int fd = s.allocate_fd(std::move(f));
    if (domain == AF_NETLINK) {
      if (const int r = s.rtnl.open_socket(fd, protocol); r < 0) {
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
  std::lock_guard lock(s.mu);
  return s.run<int>(make_record(Call::bind, fd, 0, len), s.scripted(Call::bind), [&](CallRecord&) {
    return s.socket_call<int>(fd, [&] { return s.rtnl.bind(fd, addr, len); });
  });
}

int FakeKernel::getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  return s.run<int>(
      make_record(Call::getsockname, fd), s.scripted(Call::getsockname), [&](CallRecord&) {
        return s.socket_call<int>(fd, [&] { return s.rtnl.getsockname(fd, addr, len); });
      });
}

int FakeKernel::setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::setsockopt, fd, static_cast<unsigned long>(level), name);
  return s.run<int>(std::move(rec), s.scripted(Call::setsockopt), [&](CallRecord&) {
    return s.socket_call<int>(fd, [&] { return s.rtnl.setsockopt(fd, level, name, value, len); });
  });
}

ssize_t FakeKernel::sendto(int fd, const void* buf, std::size_t len, int flags,
                           const sockaddr* addr, socklen_t addrlen) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::sendto, fd, 0, static_cast<std::int64_t>(len));
  return s.run<ssize_t>(std::move(rec), s.scripted(Call::sendto), [&](CallRecord&) {
    return s.socket_call<ssize_t>(
        fd, [&] { return s.rtnl.sendto(fd, buf, len, flags, addr, addrlen); });
  });
}

ssize_t FakeKernel::recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                             socklen_t* addrlen) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::recvfrom, fd, 0, static_cast<std::int64_t>(len));
  return s.run<ssize_t>(std::move(rec), s.scripted(Call::recvfrom), [&](CallRecord&) {
    return s.socket_call<ssize_t>(
        fd, [&] { return s.rtnl.recvfrom(fd, buf, len, flags, addr, addrlen); });
  });
}

// --- Scripting -------------------------------------------------------------------------------

void FakeKernel::fail_next(Call call, int err) {
  if (err <= 0) throw std::invalid_argument("FakeKernel::fail_next: err must be a positive errno");
  std::lock_guard lock(state_->mu);
  state_->failures[call].push_back(err);
}

void FakeKernel::fail_next_ioctl(unsigned long request, int err) {
  if (err <= 0) {
    throw std::invalid_argument("FakeKernel::fail_next_ioctl: err must be a positive errno");
  }
  std::lock_guard lock(state_->mu);
  state_->ioctl_failures[request].push_back(err);
}

void FakeKernel::clear_failures() {
  std::lock_guard lock(state_->mu);
  state_->failures.clear();
  state_->ioctl_failures.clear();
}

// --- Scenario --------------------------------------------------------------------------------

void FakeKernel::set_credentials(uid_t uid, gid_t gid, bool cap_net_admin,
                                 std::vector<gid_t> groups) {
  std::lock_guard lock(state_->mu);
  state_->uid = uid;
  state_->gid = gid;
  state_->cap_net_admin = cap_net_admin;
  state_->groups = std::move(groups);
}

void FakeKernel::set_features(unsigned features) {
  std::lock_guard lock(state_->mu);
  state_->features = features;
}

void FakeKernel::set_block_limit(std::chrono::milliseconds limit) {
  std::lock_guard lock(state_->mu);
  state_->block_limit = limit;
}

unsigned FakeKernel::add_persistent_device(std::string_view name, Mode mode, Flags flags,
                                           std::optional<uid_t> owner, std::optional<gid_t> group) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (!valid_name(name) || name.find('%') != std::string_view::npos) {
    throw std::invalid_argument("FakeKernel::add_persistent_device: invalid name");
  }
  if (s.find_interface(name) != nullptr) {
    throw std::invalid_argument("FakeKernel::add_persistent_device: name taken");
  }
  const auto type = static_cast<std::uint16_t>(mode == Mode::tap ? IFF_TAP : IFF_TUN);
  const auto bits = static_cast<std::uint16_t>(type | (flags.bits() & kTunFeatures) | IFF_PERSIST);
  const unsigned index = s.create_interface(std::string(name), true, mode, bits);
  Device& d = s.interfaces.at(index);
  d.owner = owner;
  d.group = group;
  return index;
}

unsigned FakeKernel::add_interface(std::string_view name) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (!valid_name(name) || s.find_interface(name) != nullptr) {
    throw std::invalid_argument("FakeKernel::add_interface: invalid or taken name");
  }
  return s.create_interface(std::string(name), false, Mode::tun, 0);
}

bool FakeKernel::delete_device(std::string_view name) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  Device* d = s.find_interface(name);
  if (d == nullptr || d->ifindex == kLoopbackIndex) return false;
  s.remove_interface(d->ifindex);
  s.cv.notify_all();
  return true;
}

bool FakeKernel::set_up(std::string_view name, bool up) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  Device* d = s.find_tun(name);
  if (d == nullptr) return false;
  d->up = up;
  s.rtnl.set_admin_up(d->ifindex, up);
  s.cv.notify_all();
  return true;
}

// --- Packets ---------------------------------------------------------------------------------

int FakeKernel::inject(std::string_view name, std::span<const std::byte> packet) {
  std::uint16_t protocol = 0;
  {
    std::lock_guard lock(state_->mu);
    const Device* d = state_->find_tun(name);
    if (d == nullptr) throw std::invalid_argument("FakeKernel::inject: no such TUN/TAP device");
    protocol = d->mode == Mode::tap ? frame_protocol(packet) : ip_protocol(packet);
  }
  return inject(name, packet, protocol);
}

int FakeKernel::inject(std::string_view name, std::span<const std::byte> packet,
                       std::uint16_t protocol) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  Device* d = s.find_tun(name);
  if (d == nullptr) throw std::invalid_argument("FakeKernel::inject: no such TUN/TAP device");
  if (d->queues.empty()) return -1;  // tun_net_xmit() drops: no queue attached
  const int fd = d->queues[d->next_queue % d->queues.size()];
  d->next_queue = (d->next_queue + 1) % d->queues.size();
  Fd& f = s.fds.at(fd);
  if (f.rx.size() >= kTxQueueLen) return -1;  // ring full: dropped
  f.rx.push_back({{packet.begin(), packet.end()}, protocol});
  s.cv.notify_all();
  return fd;
}

std::vector<FakeKernel::WrittenPacket> FakeKernel::written(std::string_view name) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->written.find(name);
  return it == state_->written.end() ? std::vector<WrittenPacket>{} : it->second;
}

void FakeKernel::clear_written() {
  std::lock_guard lock(state_->mu);
  state_->written.clear();
}

// --- Inspection ------------------------------------------------------------------------------

std::vector<FakeKernel::CallRecord> FakeKernel::calls() const {
  std::lock_guard lock(state_->mu);
  return state_->log;
}

std::size_t FakeKernel::count(Call call) const {
  std::lock_guard lock(state_->mu);
  return static_cast<std::size_t>(std::count_if(
      state_->log.begin(), state_->log.end(), [&](const CallRecord& r) { return r.call == call; }));
}

std::size_t FakeKernel::count_ioctl(unsigned long request) const {
  std::lock_guard lock(state_->mu);
  return static_cast<std::size_t>(std::count_if(
      state_->log.begin(), state_->log.end(),
      [&](const CallRecord& r) { return r.call == Call::ioctl && r.request == request; }));
}

void FakeKernel::clear_calls() {
  std::lock_guard lock(state_->mu);
  state_->log.clear();
}

std::size_t FakeKernel::open_fd_count() const {
  std::lock_guard lock(state_->mu);
  return state_->fds.size();
}

std::vector<int> FakeKernel::open_fds() const {
  std::lock_guard lock(state_->mu);
  std::vector<int> out;
  out.reserve(state_->fds.size());
  for (const auto& [fd, unused] : state_->fds)
    out.push_back(fd);
  return out;
}

std::vector<FakeKernel::DeviceRecord> FakeKernel::devices() const {
  std::lock_guard lock(state_->mu);
  std::vector<DeviceRecord> out;
  for (const auto& [index, d] : state_->interfaces) {
    if (d.tun_driver) out.push_back(state_->describe(d));
  }
  return out;
}

std::optional<FakeKernel::DeviceRecord> FakeKernel::device(std::string_view name) const {
  std::lock_guard lock(state_->mu);
  const Device* d = state_->find_tun(name);
  if (d == nullptr) return std::nullopt;
  return state_->describe(*d);
}

bool FakeKernel::exists(std::string_view name) const {
  std::lock_guard lock(state_->mu);
  return state_->find_interface(name) != nullptr;
}

FakeRtnetlink& FakeKernel::rtnetlink() noexcept {
  return state_->rtnl;
}

std::string_view to_string(FakeKernel::Call call) noexcept {
  switch (call) {
    case Call::open:
      return "open";
    case Call::close:
      return "close";
    case Call::ioctl:
      return "ioctl";
    case Call::read:
      return "read";
    case Call::write:
      return "write";
    case Call::readv:
      return "readv";
    case Call::writev:
      return "writev";
    case Call::poll:
      return "poll";
    case Call::eventfd:
      return "eventfd";
    case Call::fcntl:
      return "fcntl";
    case Call::socket:
      return "socket";
    case Call::bind:
      return "bind";
    case Call::getsockname:
      return "getsockname";
    case Call::setsockopt:
      return "setsockopt";
    case Call::sendto:
      return "sendto";
    case Call::recvfrom:
      return "recvfrom";
  }
  return "?";
}

}  // namespace tunkit::testing
