#include "tunkit/testing/fake_kernel.hpp"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <span>
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
constexpr std::size_t kTxFilterExact = 8;          // FLT_EXACT_COUNT: addresses matched exactly
constexpr std::size_t kMaxBpfInstructions = 4096;  // BPF_MAXINSNS
constexpr std::uint16_t kArphrdLoopback = 772;
constexpr unsigned kTapMaxMtu = 65521;  // measured: ETH_MAX_MTU minus the Ethernet header
constexpr std::string_view kNamedNetns = "/run/netns/";

// Each thread's network namespace, per FakeKernel instance. A thread-local map dies with its
// thread, so a new thread (even one reusing an old thread's id) starts in the initial
// namespace, as a real thread created by a process in the initial namespace would. Instances are
// told apart by a serial number, not their address, which a later fake may reuse.
std::atomic<std::uint64_t> g_next_instance{1};
thread_local std::map<std::uint64_t, std::string> t_netns;

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

// netns: what TUNGETDEVNETNS returns; ebpf: what add_ebpf_program() returns.
enum class FdKind : std::uint8_t { tun, event, inet, netlink, netns, ebpf };

struct Fd {
  FdKind kind = FdKind::tun;
  int status = O_RDWR;  // access mode and status flags (F_GETFL)
  bool cloexec = false;
  // TUN: the attached device's ifindex, 0 before TUNSETIFF and after the device was deleted
  // (tfile->tun == NULL in the driver). A disabled queue keeps it (tfile->detached is set too).
  unsigned ifindex = 0;
  bool detached = false;        // disabled with TUNSETQUEUE IFF_DETACH_QUEUE
  unsigned wanted_ifindex = 0;  // TUNSETIFINDEX (tfile->ifindex)
  int sndbuf = INT_MAX;         // sk_sndbuf: per descriptor
  bool socket_filter = false;   // a classic BPF program on this queue's socket (sk_filter)
  std::deque<Packet> rx;        // this queue's ring
  // eventfd
  std::uint64_t counter = 0;
  bool semaphore = false;
  // The namespace: of a socket or /dev/net/tun descriptor, the one it was opened in (the tun
  // driver uses the namespace of open(), not of TUNSETIFF); of a namespace descriptor, the one it
  // refers to.
  std::string netns;
  // ebpf
  bool socket_filter_program = false;  // BPF_PROG_TYPE_SOCKET_FILTER
};

// The driver's struct tap_filter, plus what was passed (for inspection).
struct TxFilterState {
  std::vector<MacAddress> addresses;
  bool all_multicast = false;
  std::size_t exact = 0;   // the first `exact` addresses match exactly
  std::uint64_t hash = 0;  // multicast hash bits (mask[2])
  bool active = false;     // filter->count != 0
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
  bool carrier = false;
  std::uint16_t link_type = ARPHRD_NONE;
  int vnet_hdr_size = kMinVnetHdrSize;
  unsigned offloads = 0;  // TUNSETOFFLOAD's accepted TUN_F_* bits
  bool vnet_le = false;
  bool vnet_be = false;
  int sndbuf = INT_MAX;
  TxFilterState tx_filter;
  std::vector<BpfInstruction> filter_program;  // tun->fprog's instructions (when readable)
  std::size_t filter_length = 0;               // tun->fprog.len
  bool filter_attached = false;                // tun->filter_attached
  int steering_ebpf = -1;
  int filter_ebpf = -1;
  std::vector<int> queues;    // enabled queues by queue index (tun->tfiles)
  std::vector<int> disabled;  // disabled queues, in the order they were disabled
  std::size_t next_queue = 0;
  std::string netns;
};

// ether_crc() >> 26: the bit of the TX filter's 64-bit multicast hash for `mac` (CRC-32 over the
// six bytes, least significant bit first, no final inversion; its top six bits bit-reversed).
unsigned multicast_hash_bit(const std::array<std::uint8_t, 6>& mac) noexcept {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const std::uint8_t byte : mac) {
    crc ^= byte;
    for (int i = 0; i < 8; ++i)
      crc = (crc >> 1U) ^ ((crc & 1U) != 0 ? 0xEDB88320U : 0U);
  }
  std::uint32_t reversed = 0;
  for (unsigned i = 0; i < 32; ++i)
    reversed |= ((crc >> i) & 1U) << (31U - i);
  return reversed >> 26U;
}

// run_filter(): does a TAP device's TX filter let a frame to `frame`'s destination through?
bool tx_filter_passes(const TxFilterState& f, std::span<const std::byte> frame) noexcept {
  if (!f.active) return true;
  if (frame.size() < 6) return false;
  MacAddress dst;
  for (std::size_t i = 0; i < 6; ++i)
    dst.bytes[i] = std::to_integer<std::uint8_t>(frame[i]);
  for (std::size_t i = 0; i < f.exact; ++i) {
    if (f.addresses[i] == dst) return true;
  }
  return dst.is_multicast() && ((f.hash >> multicast_hash_bit(dst.bytes)) & 1U) != 0;
}

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

template <typename T>
T read_arg(const void* arg) noexcept {
  T value{};
  std::memcpy(&value, arg, sizeof value);
  return value;
}

struct ScriptedFailure {
  int err = 0;
  std::size_t after = 0;  // calls to let through first
};

}  // namespace

struct FakeKernel::State {
  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<int, Fd> fds;
  std::map<unsigned, Device> interfaces;  // every interface, TUN/TAP or not, by ifindex
  unsigned next_ifindex = 2;
  std::map<std::string, std::vector<WrittenPacket>, std::less<>> written;
  std::vector<CallRecord> log;
  std::map<Call, std::deque<ScriptedFailure>> failures;
  std::map<unsigned long, std::deque<ScriptedFailure>> ioctl_failures;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool cap_net_admin = true;
  bool cap_sys_admin = true;
  const std::uint64_t instance = g_next_instance++;
  std::set<std::string, std::less<>> namespaces;  // add_netns()
  unsigned features = kDefaultFeatures;
  bool vnet_cross_le = false;
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
      case FdKind::netns:
      case FdKind::ebpf:
        return -ENOTSOCK;
    }
    return -ENOTSOCK;
  }

  // --- helpers (all called with `mu` held) ---

  // The errno the first scripted failure of `queue` gives this call, or 0 (none scripted, or it
  // still lets `after` calls through).
  static int fire(std::deque<ScriptedFailure>& queue) {
    if (queue.empty()) return 0;
    ScriptedFailure& next = queue.front();
    if (next.after > 0) {
      --next.after;
      return 0;
    }
    const int err = next.err;
    queue.pop_front();
    return err;
  }

  int scripted(Call call) {
    auto it = failures.find(call);
    return it == failures.end() ? 0 : fire(it->second);
  }

  int scripted_ioctl(unsigned long request) {
    auto it = ioctl_failures.find(request);
    if (it != ioctl_failures.end()) {
      if (const int err = fire(it->second)) return err;
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

  // The calling thread's namespace.
  std::string netns() const {
    const auto it = t_netns.find(instance);
    return it == t_netns.end() ? std::string() : it->second;
  }

  Device* find_interface(std::string_view name, std::string_view ns) {
    for (auto& [index, dev] : interfaces) {
      if (dev.name == name && dev.netns == ns) return &dev;
    }
    return nullptr;
  }

  // The calling thread's namespace first, then any (for the scenario functions).
  Device* find_any(std::string_view name) {
    if (Device* d = find_interface(name, netns())) return d;
    for (auto& [index, dev] : interfaces) {
      if (dev.name == name) return &dev;
    }
    return nullptr;
  }

  Device* find_tun(std::string_view name) {
    Device* d = find_any(name);
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

  // Creates an interface in namespace `ns` with the index `wanted` (0: the next free one, as
  // dev_index_reserve()).
  unsigned create_interface(std::string name, bool tun_driver, Mode mode, std::uint16_t flags,
                            const std::string& ns, unsigned wanted = 0) {
    Device d;
    d.name = std::move(name);
    if (wanted != 0) {
      d.ifindex = wanted;
    } else {
      while (interfaces.count(next_ifindex) != 0)
        ++next_ifindex;
      d.ifindex = next_ifindex++;
    }
    d.tun_driver = tun_driver;
    d.mode = mode;
    d.flags = flags;
    d.link_type = mode == Mode::tap ? ARPHRD_ETHER : ARPHRD_NONE;
    d.netns = ns;
    const unsigned index = d.ifindex;
    FakeRtnetlink::LinkRecord link;
    link.ifindex = index;
    link.name = d.name;
    link.netns = ns;
    const auto hi = static_cast<std::uint8_t>((index >> 8U) & 0xFFU);
    const auto lo = static_cast<std::uint8_t>(index & 0xFFU);
    if (tun_driver && mode == Mode::tun) {
      link.flags = IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST;
    } else {
      // Ethernet: TAP devices (and add_interface's); the kernel picks a random locally
      // administered address, the fake a predictable one.
      link.flags = IFF_BROADCAST | IFF_MULTICAST;
      link.type = FakeRtnetlink::kTypeEther;
      link.mac = MacAddress{{0x02, 0x00, 0x00, 0x00, hi, lo}};
      link.max_mtu = tun_driver ? kTapMaxMtu : link.max_mtu;
    }
    interfaces.emplace(index, std::move(d));
    rtnl.set_link(std::move(link));
    // down; a TUN/TAP device's carrier follows the attached queues (set_iff)
    if (tun_driver) rtnl.set_carrier(index, false);
    return index;
  }

  void set_carrier(Device& d, bool on) {
    d.carrier = on;
    rtnl.set_carrier(d.ifindex, on);
  }

  // Takes an enabled queue out of tun->tfiles as __tun_detach() does: the last one moves into
  // its place, so queue indexes stay dense.
  static void remove_enabled(Device& d, int fd) {
    auto it = std::find(d.queues.begin(), d.queues.end(), fd);
    if (it == d.queues.end()) return;
    *it = d.queues.back();
    d.queues.pop_back();
    if (d.next_queue >= d.queues.size()) d.next_queue = 0;
  }

  // tun_detach_all(): every descriptor, enabled or disabled, loses the device.
  void remove_interface(unsigned index) {
    auto it = interfaces.find(index);
    if (it == interfaces.end()) return;
    for (const auto* list : {&it->second.queues, &it->second.disabled}) {
      for (int q : *list) {
        if (Fd* f = find_fd(q)) {
          f->ifindex = 0;
          f->detached = false;
          f->rx.clear();
        }
      }
    }
    interfaces.erase(it);
    rtnl.remove_link(index);
  }

  // __tun_detach() on close: the last queue of a non-persistent device takes the device along.
  void detach(int fd, Fd& f) {
    Device* d = attached_device(f);
    if (d == nullptr) return;
    if (f.detached) {
      std::erase(d->disabled, fd);
    } else {
      remove_enabled(*d, fd);
    }
    f.ifindex = 0;
    f.detached = false;
    f.rx.clear();
    if (!d->queues.empty() || !d->disabled.empty()) return;
    // The last queue gone: carrier off, and the device too unless it persists.
    if ((d->flags & IFF_PERSIST) == 0) {
      remove_interface(d->ifindex);
    } else {
      set_carrier(*d, false);
    }
  }

  int set_iff(int fd, Fd& f, ifreq& ifr) {
    if (attached_device(f) != nullptr) return -EEXIST;
    // __tun_chr_ioctl: ifr.ifr_name[IFNAMSIZ-1] = '\0', i.e. a 16-byte name loses its last byte.
    const std::string requested(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ - 1));
    const auto flags = static_cast<std::uint16_t>(ifr.ifr_flags);
    const bool no_carrier = (flags & kIffNoCarrier) != 0;

    if ((flags & IFF_NAPI_FRAGS) != 0) {
      if (!cap_net_admin) return -EPERM;
      if ((flags & IFF_NAPI) == 0 || (flags & TUN_TYPE_MASK) != IFF_TAP) return -EINVAL;
    }

    Device* dev = find_interface(requested, f.netns);
    if (dev != nullptr) {
      if ((flags & IFF_TUN_EXCL) != 0) return -EBUSY;
      const bool as_tun = (flags & IFF_TUN) != 0 && dev->tun_driver && dev->mode == Mode::tun;
      const bool as_tap = (flags & IFF_TAP) != 0 && dev->tun_driver && dev->mode == Mode::tap;
      if (!as_tun && !as_tap) return -EINVAL;
      const bool multi_queue = (dev->flags & IFF_MULTI_QUEUE) != 0;
      if (((flags & IFF_MULTI_QUEUE) != 0) != multi_queue) return -EINVAL;
      if (not_capable(*dev)) return -EPERM;
      // tun_attach()
      if (!multi_queue && dev->queues.size() == 1) return -EBUSY;
      if (dev->queues.size() + dev->disabled.size() == kMaxQueues) return -E2BIG;
      // With a classic filter on the device, tun_attach() attaches it to the new queue unless
      // the flags say IFF_NOFILTER (the bit of IFF_NO_PI), and then returns 0 before attaching
      // the queue (measured on 6.18): the descriptor stays unattached.
      if (dev->filter_attached && (flags & IFF_NOFILTER) == 0) {
        f.socket_filter = true;
      } else {
        dev->queues.push_back(fd);
        f.ifindex = dev->ifindex;
      }
      // A queue joining a multi-queue device that already has others changes neither its flags
      // nor its carrier (measured).
      if (!multi_queue || dev->queues.size() + dev->disabled.size() <= 1) {
        dev->flags =
            static_cast<std::uint16_t>((dev->flags & ~kTunFeatures) | (flags & kTunFeatures));
        set_carrier(*dev, !no_carrier);
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
          if (find_interface(candidate, f.netns) == nullptr) {
            name = std::move(candidate);
            break;
          }
        }
      }
      // register_netdevice(): the index asked with TUNSETIFINDEX must be free (measured).
      if (f.wanted_ifindex != 0 && interfaces.count(f.wanted_ifindex) != 0) return -EBUSY;
      const auto type = static_cast<std::uint16_t>(mode == Mode::tap ? IFF_TAP : IFF_TUN);
      const unsigned index = create_interface(
          name, true, mode, static_cast<std::uint16_t>(type | (flags & kTunFeatures)), f.netns,
          f.wanted_ifindex);
      Device& created = interfaces.at(index);
      created.queues.push_back(fd);
      f.ifindex = index;
      set_carrier(created, !no_carrier);
      dev = &created;
    }
    std::memset(ifr.ifr_name, 0, IFNAMSIZ);
    std::memcpy(ifr.ifr_name, dev->name.data(), dev->name.size());
    return 0;
  }

  // tun_set_queue(): runs before the driver looks for an attached device.
  int set_queue(int fd, Fd& f, const ifreq& ifr) {
    const auto flags = static_cast<std::uint16_t>(ifr.ifr_flags);
    if ((flags & IFF_ATTACH_QUEUE) != 0) {
      Device* dev = f.detached ? attached_device(f) : nullptr;
      if (dev == nullptr) return -EINVAL;
      if (dev->filter_attached) {
        // tun_attach() attaches the classic filter and returns 0 without re-enabling the queue
        // (measured on 6.18).
        f.socket_filter = true;
        return 0;
      }
      std::erase(dev->disabled, fd);
      dev->queues.push_back(fd);
      f.detached = false;
      return 0;
    }
    if ((flags & IFF_DETACH_QUEUE) != 0) {
      Device* dev = attached_device(f);
      if (dev == nullptr || (dev->flags & IFF_MULTI_QUEUE) == 0 || f.detached) return -EINVAL;
      remove_enabled(*dev, fd);
      dev->disabled.push_back(fd);
      f.detached = true;
      f.rx.clear();  // tun_queue_purge()
      return 0;
    }
    return -EINVAL;
  }

  // update_filter(): returns the number of exactly matched addresses, or 0 when filtering is off.
  static int set_tx_filter(Device& d, const void* arg) {
    const auto header = read_arg<tun_filter>(arg);
    TxFilterState next;
    next.all_multicast = (header.flags & TUN_FLT_ALLMULTI) != 0;
    const auto* bytes = static_cast<const std::uint8_t*>(arg) + sizeof header;
    for (std::size_t i = 0; i < header.count; ++i) {
      MacAddress mac;
      std::memcpy(mac.bytes.data(), bytes + i * mac.bytes.size(), mac.bytes.size());
      next.addresses.push_back(mac);
    }
    next.exact = std::min(next.addresses.size(), kTxFilterExact);
    next.active = !next.addresses.empty();
    for (std::size_t i = kTxFilterExact; i < next.addresses.size() && next.active; ++i) {
      // A unicast address past the exact ones leaves filtering off.
      next.active = next.addresses[i].is_multicast();
      next.hash |= std::uint64_t{1} << multicast_hash_bit(next.addresses[i].bytes);
    }
    if (next.all_multicast) next.hash = ~std::uint64_t{0};
    const int result = next.active ? static_cast<int>(next.exact) : 0;
    d.tx_filter = std::move(next);
    return result;
  }

  // TUNATTACHFILTER: the driver stores the program first (so TUNGETFILTER reports it even when
  // it is refused), then attaches it to each enabled queue, which is when it is checked.
  int attach_filter(Device& d, const void* arg) {
    const auto prog = read_arg<sock_fprog>(arg);
    d.filter_length = prog.len;
    d.filter_program.clear();
    if (prog.filter != nullptr && prog.len <= kMaxBpfInstructions) {
      for (std::size_t i = 0; i < prog.len; ++i) {
        const sock_filter& in = prog.filter[i];
        d.filter_program.push_back({in.code, in.jt, in.jf, in.k});
      }
    }
    if (!d.queues.empty()) {
      if (prog.len == 0 || prog.len > kMaxBpfInstructions) return -EINVAL;
      if (prog.filter == nullptr) return -EFAULT;
      if (BPF_CLASS(d.filter_program.back().code) != BPF_RET) return -EINVAL;  // bpf_check_classic
    }
    for (int q : d.queues)
      fds.at(q).socket_filter = true;
    d.filter_attached = true;
    return 0;
  }

  // tun_set_ebpf(): -1 detaches; anything else must be a socket-filter program.
  int set_ebpf(int& slot, const void* arg) {
    const int prog = read_arg<int>(arg);
    if (prog == -1) {
      slot = -1;
      return 0;
    }
    const Fd* p = find_fd(prog);
    if (p == nullptr) return -EBADF;
    if (p->kind != FdKind::ebpf || !p->socket_filter_program) return -EINVAL;
    slot = prog;
    return 0;
  }

  int tun_ioctl(int fd, Fd& f, unsigned long request, void* arg) {
    if (request == TUNGETFEATURES) {
      if (arg == nullptr) return -EFAULT;
      std::memcpy(arg, &features, sizeof features);
      return 0;
    }
    if (request == TUNSETQUEUE) {
      if (arg == nullptr) return -EFAULT;
      return set_queue(fd, f, *static_cast<const ifreq*>(arg));
    }
    if (request == TUNSETIFF) {
      if (arg == nullptr) return -EFAULT;
      return set_iff(fd, f, *static_cast<ifreq*>(arg));
    }
    if (request == TUNSETIFINDEX) {
      if (attached_device(f) != nullptr) return -EPERM;
      if (arg == nullptr) return -EFAULT;
      const auto index = read_arg<unsigned>(arg);
      if (index > static_cast<unsigned>(INT_MAX)) return -EINVAL;  // measured on 6.18
      f.wanted_ifindex = index;
      return 0;
    }
    Device* dev = attached_device(f);
    if (dev == nullptr) return -EBADFD;
    // The requests below that read or write through their argument fault on a null one (the
    // others take it by value, or do not look at it).
    const bool by_value_request = request == TUNSETPERSIST || request == TUNSETOWNER ||
                                  request == TUNSETGROUP || request == TUNSETLINK ||
                                  request == TUNDETACHFILTER || request == TUNGETDEVNETNS;
    const bool known =
        by_value_request || request == TUNGETIFF || request == TUNGETSNDBUF ||
        request == TUNSETSNDBUF || request == TUNSETTXFILTER || request == TUNATTACHFILTER ||
        request == TUNGETFILTER || request == TUNSETSTEERINGEBPF || request == TUNSETFILTEREBPF ||
        request == TUNSETCARRIER || request == TUNGETVNETHDRSZ || request == TUNSETVNETHDRSZ ||
        request == TUNGETVNETLE || request == TUNSETVNETLE || request == TUNGETVNETBE ||
        request == TUNSETVNETBE;
    if (known && !by_value_request && arg == nullptr) return -EFAULT;
    const bool tap = dev->mode == Mode::tap;
    switch (request) {
      case TUNGETIFF: {
        ifreq out{};
        std::memcpy(out.ifr_name, dev->name.data(), dev->name.size());
        // tun_flags(), then the descriptor's own bits. IFF_NOFILTER == IFF_NO_PI, so a queue
        // without a classic filter reports 0x1000 whatever its packet-information setting.
        unsigned shown = dev->flags & (kTunFeatures | IFF_PERSIST | IFF_TUN | IFF_TAP);
        if (f.detached) shown |= IFF_DETACH_QUEUE;
        if (!f.socket_filter) shown |= IFF_NOFILTER;
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
      case TUNSETOFFLOAD: {
        // tun_set_offload(): every offload needs CSUM; ECN needs TSO; USO4 and USO6 only
        // together; the UDP-tunnel bits need TSO or USO (CSUM variant only with GSO); UFO is
        // ignored. Whatever is left over is EINVAL (measured on 6.18).
        unsigned long a = by_value(arg);
        unsigned granted = 0;
        if ((a & 0x01U) != 0) {
          granted |= 0x01U;
          a &= ~0x01UL;
          if ((a & 0x06U) != 0) {
            granted |= static_cast<unsigned>(a & 0x06U);
            a &= ~0x06UL;
            if ((a & 0x08U) != 0) {
              granted |= 0x08U;
              a &= ~0x08UL;
            }
          }
          a &= ~0x10UL;
          if ((a & 0x60U) == 0x60U) {
            granted |= 0x60U;
            a &= ~0x60UL;
          }
          if ((a & 0x80U) != 0 && (granted & 0x66U) != 0) {
            granted |= static_cast<unsigned>(a & 0x180U);
            a &= ~0x180UL;
          }
        }
        if (a != 0) return -EINVAL;
        dev->offloads = granted;
        return 0;
      }
      case TUNSETLINK:
        if (dev->up) return -EBUSY;
        dev->link_type = static_cast<std::uint16_t>(by_value(arg));  // dev->type is 16 bits
        return 0;
      case TUNGETSNDBUF:
        std::memcpy(arg, &f.sndbuf, sizeof f.sndbuf);
        return 0;
      case TUNSETSNDBUF: {
        const int bytes = read_arg<int>(arg);
        if (bytes <= 0) return -EINVAL;
        dev->sndbuf = bytes;
        for (int q : dev->queues)  // tun_set_sndbuf(): the enabled queues only (measured)
          fds.at(q).sndbuf = bytes;
        return 0;
      }
      case TUNSETTXFILTER:
        return tap ? set_tx_filter(*dev, arg) : -EINVAL;
      case TUNATTACHFILTER:
        return tap ? attach_filter(*dev, arg) : -EINVAL;
      case TUNDETACHFILTER:
        if (!tap) return -EINVAL;
        for (int q : dev->queues)  // tun_detach_filter(tun, tun->numqueues)
          fds.at(q).socket_filter = false;
        dev->filter_attached = false;
        return 0;
      case TUNGETFILTER: {
        if (!tap) return -EINVAL;
        sock_fprog out{};
        out.len = static_cast<unsigned short>(dev->filter_length);
        std::memcpy(arg, &out, sizeof out);
        return 0;
      }
      case TUNSETSTEERINGEBPF:
        return set_ebpf(dev->steering_ebpf, arg);
      case TUNSETFILTEREBPF:
        return set_ebpf(dev->filter_ebpf, arg);
      case TUNSETCARRIER: {
        const bool on = read_arg<unsigned>(arg) != 0;
        if (on && dev->queues.empty()) return -EPERM;  // tun_net_change_carrier()
        set_carrier(*dev, on);
        return 0;
      }
      case TUNGETDEVNETNS: {
        if (!cap_net_admin) return -EPERM;
        Fd ns;
        ns.kind = FdKind::netns;
        ns.status = O_RDONLY;
        ns.cloexec = true;  // open_related_ns()
        return allocate_fd(std::move(ns));
      }
      case TUNGETVNETHDRSZ:
        std::memcpy(arg, &dev->vnet_hdr_size, sizeof dev->vnet_hdr_size);
        return 0;
      case TUNSETVNETHDRSZ: {
        const int size = read_arg<int>(arg);
        if (size < kMinVnetHdrSize) return -EINVAL;
        dev->vnet_hdr_size = size;
        return 0;
      }
      case TUNGETVNETLE: {
        const int le = dev->vnet_le ? 1 : 0;
        std::memcpy(arg, &le, sizeof le);
        return 0;
      }
      case TUNSETVNETLE:
        dev->vnet_le = read_arg<int>(arg) != 0;
        return 0;
      case TUNGETVNETBE: {
        if (!vnet_cross_le) return -EINVAL;
        const int be = dev->vnet_be ? 1 : 0;
        std::memcpy(arg, &be, sizeof be);
        return 0;
      }
      case TUNSETVNETBE:
        if (!vnet_cross_le) return -EINVAL;
        dev->vnet_be = read_arg<int>(arg) != 0;
        return 0;
      default:
        return -EINVAL;  // the driver's default case, SIOC* requests included
    }
  }

  int socket_ioctl(const Fd& f, unsigned long request, void* arg) {
    if (request != SIOCGIFINDEX && request != SIOCGIFNAME) return -ENOTTY;
    if (arg == nullptr) return -EFAULT;
    auto* ifr = static_cast<ifreq*>(arg);
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
      case FdKind::netns:
      case FdKind::ebpf:
        return -EINVAL;  // nsfs and bpf-prog files have no read
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
    // tun_put_user counts a transmitted packet when the program reads it (measured).
    rtnl.count_packet(dev->ifindex, false, p.data.size());
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
      case FdKind::netns:
      case FdKind::ebpf:
        return -EINVAL;
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
    rtnl.count_packet(dev->ifindex, true, out.data.size());  // the interface received it
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
        if (rtnl.pending(p.fd) > 0) mask |= POLLIN | POLLRDNORM;
        mask |= POLLOUT | POLLWRNORM;
        break;
      case FdKind::inet:
        mask |= POLLOUT | POLLWRNORM;
        break;
      case FdKind::netns:
      case FdKind::ebpf:
        mask |= POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;  // DEFAULT_POLLMASK
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
    r.offloads = Offloads::from_bits(static_cast<std::uint16_t>(d.offloads));
    r.netns = d.netns;
    r.queues = d.queues.size() + d.disabled.size();
    r.disabled_queues = d.disabled.size();
    for (const auto* list : {&d.queues, &d.disabled}) {
      for (int q : *list) {
        auto it = fds.find(q);
        if (it == fds.end()) continue;
        QueueState qs;
        qs.fd = q;
        qs.enabled = !it->second.detached;
        qs.send_buffer = it->second.sndbuf;
        qs.socket_filter = it->second.socket_filter;
        qs.queued_packets = it->second.rx.size();
        r.queued_packets += qs.queued_packets;
        r.queue_states.push_back(qs);
      }
    }
    r.carrier = d.carrier;
    r.link_type = d.link_type;
    r.send_buffer = d.sndbuf;
    r.vnet_header_size = d.vnet_hdr_size;
    r.vnet_little_endian = d.vnet_le;
    r.vnet_big_endian = d.vnet_be;
    r.tx_filter.addresses = d.tx_filter.addresses;
    r.tx_filter.all_multicast = d.tx_filter.all_multicast;
    r.tx_filter.active = d.tx_filter.active;
    r.filter_program = d.filter_program;
    r.filter_attached = d.filter_attached;
    r.steering_ebpf = d.steering_ebpf;
    r.filter_ebpf = d.filter_ebpf;
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
  link.type = kArphrdLoopback;
  link.mac = MacAddress{{0, 0, 0, 0, 0, 0}};
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
    it->second.netns = l.netns;
  });
  // IFLA_NET_NS_FD names a namespace by one of this fake's descriptors; IFLA_NET_NS_PID by a
  // process: only this one exists here, and its main thread stays in the initial namespace.
  // Both run inside FakeRtnetlink::sendto, with the mutex held.
  state_->rtnl.set_netns_resolver([state = state_.get()](int fd, std::string& ns) {
    const Fd* f = state->find_fd(fd);
    if (f == nullptr) return -EBADF;
    if (f->kind != FdKind::netns) return -EINVAL;
    ns = f->netns;
    return 0;
  });
  state_->rtnl.set_pid_resolver([](std::uint32_t pid, std::string& ns) {
    if (pid != static_cast<std::uint32_t>(::getpid())) return -ESRCH;
    ns.clear();
    return 0;
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
    const std::string_view p(path);
    Fd f;
    f.status = flags & ~(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
    f.cloexec = (flags & O_CLOEXEC) != 0;
    if (p == "/dev/net/tun") {
      f.kind = FdKind::tun;
      f.netns = s.netns();
    } else if (p == "/proc/thread-self/ns/net") {
      f.kind = FdKind::netns;
      f.netns = s.netns();
    } else if (p == "/proc/self/ns/net") {
      f.kind = FdKind::netns;
    } else if (p.starts_with(kNamedNetns) && s.namespaces.contains(p.substr(kNamedNetns.size()))) {
      f.kind = FdKind::netns;
      f.netns = std::string(p.substr(kNamedNetns.size()));
    } else {
      return -ENOENT;
    }
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
      case FdKind::netns:
      case FdKind::ebpf:
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
  if (request == TUNSETPERSIST || request == TUNSETOWNER || request == TUNSETGROUP ||
      request == TUNSETLINK) {
    rec.arg = static_cast<std::int64_t>(by_value(arg));
  } else if (arg != nullptr) {
    switch (request) {
      case TUNSETIFF:
      case SIOCGIFINDEX: {
        const auto* ifr = static_cast<const ifreq*>(arg);
        rec.text.assign(ifr->ifr_name, strnlen(ifr->ifr_name, IFNAMSIZ));
        if (request == TUNSETIFF) rec.arg = static_cast<std::uint16_t>(ifr->ifr_flags);
        break;
      }
      case TUNSETQUEUE:
        rec.arg = static_cast<std::uint16_t>(static_cast<const ifreq*>(arg)->ifr_flags);
        break;
      case TUNSETIFINDEX:
        rec.arg = read_arg<unsigned>(arg);
        break;
      case TUNSETSNDBUF:
      case TUNSETVNETHDRSZ:
      case TUNSETVNETLE:
      case TUNSETVNETBE:
      case TUNSETCARRIER:
      case TUNSETSTEERINGEBPF:
      case TUNSETFILTEREBPF:
        rec.arg = read_arg<int>(arg);
        break;
      case TUNSETTXFILTER:
        rec.arg = read_arg<tun_filter>(arg).count;
        break;
      case TUNATTACHFILTER:
        rec.arg = read_arg<sock_fprog>(arg).len;
        break;
      default:
        break;
    }
  }
  return s.run<int>(std::move(rec), s.scripted_ioctl(request), [&](CallRecord&) {
    Fd* f = s.find_fd(fd);
    if (f == nullptr) return -EBADF;
    switch (f->kind) {
      case FdKind::tun:
        return s.tun_ioctl(fd, *f, request, arg);
      case FdKind::inet:
      case FdKind::netlink:
        return s.socket_ioctl(*f, request, arg);
      case FdKind::event:
      case FdKind::netns:
      case FdKind::ebpf:
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
      case F_DUPFD:
      case F_DUPFD_CLOEXEC: {
        if (f->kind != FdKind::netns) return -EINVAL;  // not simulated for other kinds
        Fd copy = *f;
        copy.cloexec = cmd == F_DUPFD_CLOEXEC;
        return s.allocate_fd(std::move(copy));
      }
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

int FakeKernel::setns(int fd, int nstype) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  CallRecord rec = make_record(Call::setns, fd, 0, nstype);
  return s.run<int>(std::move(rec), s.scripted(Call::setns), [&](CallRecord& c) {
    const Fd* f = s.find_fd(fd);
    if (f == nullptr) return -EBADF;
    if (f->kind != FdKind::netns) {
      c.text = "not a namespace";
      return -EINVAL;
    }
    if (nstype != 0 && nstype != CLONE_NEWNET) return -EINVAL;
    if (!s.cap_sys_admin) return -EPERM;
    c.text = f->netns;
    t_netns[s.instance] = f->netns;
    return 0;
  });
}

// --- Scripting -------------------------------------------------------------------------------

void FakeKernel::fail_next(Call call, int err, std::size_t after) {
  if (err <= 0) throw std::invalid_argument("FakeKernel::fail_next: err must be a positive errno");
  std::lock_guard lock(state_->mu);
  state_->failures[call].push_back({err, after});
}

void FakeKernel::fail_next_ioctl(unsigned long request, int err, std::size_t after) {
  if (err <= 0) {
    throw std::invalid_argument("FakeKernel::fail_next_ioctl: err must be a positive errno");
  }
  std::lock_guard lock(state_->mu);
  state_->ioctl_failures[request].push_back({err, after});
}

void FakeKernel::clear_failures() {
  std::lock_guard lock(state_->mu);
  state_->failures.clear();
  state_->ioctl_failures.clear();
}

// --- Scenario --------------------------------------------------------------------------------

void FakeKernel::set_credentials(uid_t uid, gid_t gid, bool cap_net_admin,
                                 std::vector<gid_t> groups, bool cap_sys_admin) {
  std::lock_guard lock(state_->mu);
  state_->uid = uid;
  state_->gid = gid;
  state_->cap_net_admin = cap_net_admin;
  state_->cap_sys_admin = cap_sys_admin;
  state_->groups = std::move(groups);
}

void FakeKernel::set_features(unsigned features) {
  std::lock_guard lock(state_->mu);
  state_->features = features;
}

void FakeKernel::set_vnet_cross_le(bool supported) {
  std::lock_guard lock(state_->mu);
  state_->vnet_cross_le = supported;
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
  const std::string ns = s.netns();
  if (s.find_interface(name, ns) != nullptr) {
    throw std::invalid_argument("FakeKernel::add_persistent_device: name taken");
  }
  const auto type = static_cast<std::uint16_t>(mode == Mode::tap ? IFF_TAP : IFF_TUN);
  const auto bits = static_cast<std::uint16_t>(type | (flags.bits() & kTunFeatures) | IFF_PERSIST);
  const unsigned index = s.create_interface(std::string(name), true, mode, bits, ns);
  Device& d = s.interfaces.at(index);
  d.owner = owner;
  d.group = group;
  return index;
}

unsigned FakeKernel::add_interface(std::string_view name) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  const std::string ns = s.netns();
  if (!valid_name(name) || s.find_interface(name, ns) != nullptr) {
    throw std::invalid_argument("FakeKernel::add_interface: invalid or taken name");
  }
  return s.create_interface(std::string(name), false, Mode::tun, 0, ns);
}

void FakeKernel::add_netns(std::string_view name) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      !s.namespaces.emplace(name).second) {
    throw std::invalid_argument("FakeKernel::add_netns: invalid or taken name");
  }
}

std::string FakeKernel::current_netns() const {
  std::lock_guard lock(state_->mu);
  return state_->netns();
}

int FakeKernel::add_ebpf_program(bool socket_filter) {
  std::lock_guard lock(state_->mu);
  Fd f;
  f.kind = FdKind::ebpf;
  f.cloexec = true;  // bpf(2) descriptors are O_CLOEXEC
  f.socket_filter_program = socket_filter;
  return state_->allocate_fd(std::move(f));
}

bool FakeKernel::delete_device(std::string_view name) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  Device* d = s.find_any(name);
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
  if (d->queues.empty()) {  // tun_net_xmit() drops: no queue enabled
    s.rtnl.count_packet(d->ifindex, false, packet.size(), true);
    return -1;
  }
  if (d->mode == Mode::tap && !tx_filter_passes(d->tx_filter, packet)) {
    s.rtnl.count_packet(d->ifindex, false, packet.size(), true);
    return -1;
  }
  const int fd = d->queues[d->next_queue % d->queues.size()];
  d->next_queue = (d->next_queue + 1) % d->queues.size();
  Fd& f = s.fds.at(fd);
  // The ring holds txqueuelen packets (tun_queue_resize follows IFLA_TXQLEN).
  const auto link = s.rtnl.link(d->ifindex);
  if (f.rx.size() >= (link ? link->txqlen : kTxQueueLen)) {  // ring full: dropped
    s.rtnl.count_packet(d->ifindex, false, packet.size(), true);
    return -1;
  }
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

std::optional<FakeKernel::DeviceRecord> FakeKernel::device(std::string_view name,
                                                           std::string_view netns) const {
  std::lock_guard lock(state_->mu);
  const Device* d = state_->find_interface(name, netns);
  if (d == nullptr || !d->tun_driver) return std::nullopt;
  return state_->describe(*d);
}

bool FakeKernel::exists(std::string_view name, std::string_view netns) const {
  std::lock_guard lock(state_->mu);
  return state_->find_interface(name, netns) != nullptr;
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
    case Call::setns:
      return "setns";
  }
  return "?";
}

}  // namespace tunkit::testing
