// The interface table: "lo" and the TUN/TAP devices, each mirrored as a link in the fake
// rtnetlink (and changes made over netlink brought back); the scenario functions that add,
// delete and set devices up; and the inspection of devices.
#include "testing/fake_kernel/state.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>

namespace tunkit::testing {
namespace {

using fake_kernel::Device;
using fake_kernel::FdKind;
using fake_kernel::kTunFeatures;

constexpr unsigned kLoopbackIndex = 1;
constexpr unsigned kIffLowerUp = 0x10000;  // <linux/if.h>, which clashes with <net/if.h>
constexpr std::uint16_t kArphrdLoopback = 772;
constexpr unsigned kTapMaxMtu = 65521;  // measured: ETH_MAX_MTU minus the Ethernet header

}  // namespace

namespace fake_kernel {

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    // The kernel's isspace() also counts the Latin-1 no-break space 0xA0.
    const auto u = static_cast<unsigned char>(c);
    return c == '/' || c == ':' || std::isspace(u) != 0 || u == 0xA0;
  });
}

}  // namespace fake_kernel

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
    const State::Fd* f = state->find_fd(fd);
    if (f == nullptr) return -EBADF;
    if (f->kind != FdKind::netns) return -EINVAL;
    ns = f->netns;
    return 0;
  });
  // IFLA_XDP_FD and IFLA_XDP_EXPECTED_FD: bpf_prog_get_type_dev(fd, BPF_PROG_TYPE_XDP) gives
  // -EBADF for a descriptor that is not a BPF program, -EINVAL for another program type.
  state_->rtnl.set_xdp_program_resolver([state = state_.get()](int fd, std::uint32_t& id) {
    const State::Fd* f = state->find_fd(fd);
    if (f == nullptr || f->kind != FdKind::ebpf) return -EBADF;
    if (!f->xdp_program) return -EINVAL;
    id = f->ebpf_prog_id;
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

// --- The table -------------------------------------------------------------------------------

Device* FakeKernel::State::find_interface(std::string_view name, std::string_view ns) {
  for (auto& [index, dev] : interfaces) {
    if (dev.name == name && dev.netns == ns) return &dev;
  }
  return nullptr;
}

Device* FakeKernel::State::find_any(std::string_view name) {
  if (Device* d = find_interface(name, netns())) return d;
  for (auto& [index, dev] : interfaces) {
    if (dev.name == name) return &dev;
  }
  return nullptr;
}

Device* FakeKernel::State::find_tun(std::string_view name) {
  Device* d = find_any(name);
  return d != nullptr && d->tun_driver ? d : nullptr;
}

unsigned FakeKernel::State::create_interface(std::string name, bool tun_driver, Mode mode,
                                             std::uint16_t flags, const std::string& ns,
                                             unsigned wanted) {
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
    link.native_xdp = true;  // tap_netdev_ops has ndo_bpf (and ndo_xdp_xmit); tun_netdev_ops not
  }
  interfaces.emplace(index, std::move(d));
  rtnl.set_link(std::move(link));
  // down; a TUN/TAP device's carrier follows the attached queues (set_iff)
  if (tun_driver) rtnl.set_carrier(index, false);
  return index;
}

void FakeKernel::State::remove_interface(unsigned index) {
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

void FakeKernel::State::set_carrier(Device& d, bool on) {
  d.carrier = on;
  rtnl.set_carrier(d.ifindex, on);
}

// --- Scenario --------------------------------------------------------------------------------

unsigned FakeKernel::add_persistent_device(std::string_view name, Mode mode, Flags flags,
                                           std::optional<uid_t> owner, std::optional<gid_t> group) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (!fake_kernel::valid_name(name) || name.find('%') != std::string_view::npos) {
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
  if (!fake_kernel::valid_name(name) || s.find_interface(name, ns) != nullptr) {
    throw std::invalid_argument("FakeKernel::add_interface: invalid or taken name");
  }
  return s.create_interface(std::string(name), false, Mode::tun, 0, ns);
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

// --- Inspection ------------------------------------------------------------------------------

FakeKernel::DeviceRecord FakeKernel::State::describe(const Device& d) const {
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

}  // namespace tunkit::testing
