// The tun driver's queues: TUNSETIFF (creating a device or attaching to one, with every check in
// the driver's order), TUNSETQUEUE (disabling and re-enabling a queue), the detach on close, and
// the caller's credentials that the permission checks use.
#include "testing/fake_kernel/state.hpp"

#include <algorithm>
#include <cerrno>

namespace tunkit::testing {
namespace {

using fake_kernel::Device;
using fake_kernel::FdKind;
using fake_kernel::kIffNoCarrier;
using fake_kernel::kTunFeatures;

constexpr std::size_t kMaxQueues = 256;  // MAX_TAP_QUEUES

}  // namespace

void FakeKernel::set_credentials(uid_t uid, gid_t gid, bool cap_net_admin,
                                 std::vector<gid_t> groups, bool cap_sys_admin) {
  std::lock_guard lock(state_->mu);
  state_->uid = uid;
  state_->gid = gid;
  state_->cap_net_admin = cap_net_admin;
  state_->cap_sys_admin = cap_sys_admin;
  state_->groups = std::move(groups);
}

Device* FakeKernel::State::attached_device(const Fd& f) {
  if (f.kind != FdKind::tun || f.ifindex == 0) return nullptr;
  auto it = interfaces.find(f.ifindex);
  return it == interfaces.end() ? nullptr : &it->second;
}

bool FakeKernel::State::in_group(gid_t g) const {
  return g == gid || std::find(groups.begin(), groups.end(), g) != groups.end();
}

bool FakeKernel::State::not_capable(const Device& d) const {
  return ((d.owner && *d.owner != uid) || (d.group && !in_group(*d.group))) && !cap_net_admin;
}

int FakeKernel::State::set_iff(int fd, Fd& f, ifreq& ifr) {
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
    if (!fake_kernel::valid_name(name)) return -EINVAL;
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
int FakeKernel::State::set_queue(int fd, Fd& f, const ifreq& ifr) {
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

// Takes an enabled queue out of tun->tfiles as __tun_detach() does: the last one moves into its
// place, so queue indexes stay dense.
void FakeKernel::State::remove_enabled(Device& d, int fd) {
  auto it = std::find(d.queues.begin(), d.queues.end(), fd);
  if (it == d.queues.end()) return;
  *it = d.queues.back();
  d.queues.pop_back();
  if (d.next_queue >= d.queues.size()) d.next_queue = 0;
}

// The last queue of a non-persistent device takes the device along.
void FakeKernel::State::detach(int fd, Fd& f) {
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

}  // namespace tunkit::testing
