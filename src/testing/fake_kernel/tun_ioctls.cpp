// The ioctl entry point (what the call log records, and the dispatch by descriptor kind) and
// every TUN ioctl: TUNGETFEATURES, TUNSETIFINDEX, and those on an attached descriptor. The
// queue-attaching ones (TUNSETIFF, TUNSETQUEUE) are in tun_driver.cpp, the filters in
// filters.cpp, SIOCGIFINDEX / SIOCGIFNAME in sockets.cpp.
#include "testing/fake_kernel/state.hpp"

#include <linux/filter.h>
#include <sys/ioctl.h>

#include <cerrno>

namespace tunkit::testing {
namespace {

using fake_kernel::by_value;
using fake_kernel::CallRecord;
using fake_kernel::Device;
using fake_kernel::FdKind;
using fake_kernel::kMinVnetHdrSize;
using fake_kernel::kTunFeatures;
using fake_kernel::make_record;
using fake_kernel::read_arg;

// What the call log records of an ioctl's argument (see CallRecord::arg and ::text).
void record_argument(CallRecord& rec, unsigned long request, void* arg) {
  if (request == TUNSETPERSIST || request == TUNSETOWNER || request == TUNSETGROUP ||
      request == TUNSETLINK) {
    rec.arg = static_cast<std::int64_t>(by_value(arg));
    return;
  }
  if (arg == nullptr) return;
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

// tun_set_offload(): every offload needs CSUM; ECN needs TSO; USO4 and USO6 only together; the
// UDP-tunnel bits need TSO or USO (CSUM variant only with GSO); UFO is ignored. Whatever is left
// over is EINVAL (measured on 6.18). Returns the granted TUN_F_* bits, or -EINVAL.
int granted_offloads(unsigned long a) {
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
  return a != 0 ? -EINVAL : static_cast<int>(granted);
}

// Writes a boolean knob as the int the getters report.
int put_flag(void* arg, bool on) {
  const int value = on ? 1 : 0;
  std::memcpy(arg, &value, sizeof value);
  return 0;
}

}  // namespace

void FakeKernel::set_features(unsigned features) {
  std::lock_guard lock(state_->mu);
  state_->features = features;
}

void FakeKernel::set_vnet_cross_le(bool supported) {
  std::lock_guard lock(state_->mu);
  state_->vnet_cross_le = supported;
}

int FakeKernel::ioctl(int fd, unsigned long request, void* arg) noexcept {
  State& s = *state_;
  CallRecord rec = make_record(Call::ioctl, fd, request);
  record_argument(rec, request, arg);
  return s.call<int>(std::move(rec), [&](CallRecord&) {
    State::Fd* f = s.find_fd(fd);
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

int FakeKernel::State::tun_ioctl(int fd, Fd& f, unsigned long request, void* arg) {
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
  const bool known = by_value_request || request == TUNGETIFF || request == TUNGETSNDBUF ||
                     request == TUNSETSNDBUF || request == TUNSETTXFILTER ||
                     request == TUNATTACHFILTER || request == TUNGETFILTER ||
                     request == TUNSETSTEERINGEBPF || request == TUNSETFILTEREBPF ||
                     request == TUNSETCARRIER || request == TUNGETVNETHDRSZ ||
                     request == TUNSETVNETHDRSZ || request == TUNGETVNETLE ||
                     request == TUNSETVNETLE || request == TUNGETVNETBE || request == TUNSETVNETBE;
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
      const int granted = granted_offloads(by_value(arg));
      if (granted < 0) return granted;
      dev->offloads = static_cast<unsigned>(granted);
      rtnl.set_tun_offloads(dev->ifindex, dev->offloads);  // the features follow (ethtool -k)
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
    case TUNGETVNETLE:
      return put_flag(arg, dev->vnet_le);
    case TUNSETVNETLE:
      dev->vnet_le = read_arg<int>(arg) != 0;
      return 0;
    case TUNGETVNETBE:
      if (!vnet_cross_le) return -EINVAL;
      return put_flag(arg, dev->vnet_be);
    case TUNSETVNETBE:
      if (!vnet_cross_le) return -EINVAL;
      dev->vnet_be = read_arg<int>(arg) != 0;
      return 0;
    default:
      return -EINVAL;  // the driver's default case, SIOC* requests included
  }
}

}  // namespace tunkit::testing
