// Adopting descriptors someone else opened: Queue::adopt and TunDevice::adopt. Every descriptor
// is read first and changed only when all of them are accepted, so that a refusal leaves the
// caller's descriptors as they were.
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "detail/real_sys.hpp"
#include "tun/queue_access.hpp"
#include "tun/wake_table.hpp"
#include "tunkit/detail/tun_wire.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/tun_info.hpp"

namespace tunkit {
namespace detail {
namespace {

constexpr unsigned kMiscMajor = 10;  // MISC_MAJOR
constexpr unsigned kTunMinor = 200;  // TUN_MINOR: /dev/net/tun

// What a descriptor that is not /dev/net/tun is, for the message ("it is a socket").
std::string kind_of(const struct stat& st) {
  switch (st.st_mode & S_IFMT) {
    case S_IFSOCK:
      return "a socket";
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a pipe";
    case S_IFBLK:
      return "a block device";
    case S_IFCHR:
      return fmt::format("character device {}:{}", major(st.st_rdev), minor(st.st_rdev));
    case 0:
      return "an anonymous inode (an eventfd, epoll, timerfd or BPF descriptor)";
    default:
      return "a file";
  }
}

// Fills `out`; text that cannot be allocated is left out, the code never.
bool refuse(AdoptFailure& out, std::error_code code, int fd, std::string_view device,
            std::string hint) noexcept {
  out.code = code;
  out.fd = fd;
  try {
    out.device = device;
    out.hint = std::move(hint);
  } catch (...) {
    out.device.clear();
    out.hint.clear();
  }
  return false;
}

}  // namespace

void raise_adopt(const AdoptFailure& f) {
  const std::string op = f.device.empty() ? fmt::format("adopt descriptor {}", f.fd)
                                          : fmt::format("adopt descriptor {} of", f.fd);
  throw make_error(f.code, op, f.device, f.hint);
}

bool inspect_for_adoption(int fd, const AdoptOptions& adopt, sys::Syscalls& sys, Inspected& in,
                          AdoptFailure& out) noexcept {
  try {
    in = Inspected{};
    in.fd = fd;
    if (fd < 0) return refuse(out, sys_error(EBADF), fd, {}, "not a descriptor number");
    in.fd_flags = retry_eintr([&] { return sys.fcntl(fd, F_GETFD, 0); });
    if (in.fd_flags < 0) {
      return refuse(out, sys_error(-in.fd_flags), fd, {},
                    in.fd_flags == -EBADF ? "not open in this process" : "");
    }
    in.status = retry_eintr([&] { return sys.fcntl(fd, F_GETFL, 0); });
    if (in.status < 0) return refuse(out, sys_error(-in.status), fd, {}, "F_GETFL");

    // The character device 10:200 is /dev/net/tun whatever its path; anything else is not a
    // queue, whatever a TUN ioctl number might mean to its driver. A seam without fstat
    // (-ENOSYS) leaves the question to TUNGETIFF.
    struct stat st {};
    const int r = retry_eintr([&] { return sys.fstat(fd, &st); });
    if (r < 0 && r != -ENOSYS) return refuse(out, sys_error(-r), fd, {}, "fstat");
    if (r == 0 && !(S_ISCHR(st.st_mode) && major(st.st_rdev) == kMiscMajor &&
                    minor(st.st_rdev) == kTunMinor)) {
      return refuse(out, errc::not_a_queue, fd, {},
                    fmt::format("it is {}, not a /dev/net/tun descriptor", kind_of(st)));
    }

    ifreq ifr{};
    if (int g = retry_eintr([&] { return sys.ioctl(fd, TUNGETIFF, &ifr); }); g < 0) {
      if (g == -EBADFD) {
        return refuse(out, errc::not_a_queue, fd, {},
                      "/dev/net/tun without an interface: no TUNSETIFF yet, or the interface "
                      "was deleted");
      }
      if (r == -ENOSYS && (g == -ENOTTY || g == -EINVAL || g == -ENOTSOCK)) {
        return refuse(out, errc::not_a_queue, fd, {}, "it answers no TUN ioctl");
      }
      return refuse(out, sys_error(-g), fd, {}, "TUNGETIFF");
    }
    in.name.assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
    in.flags = static_cast<std::uint16_t>(ifr.ifr_flags);
    if (!adopt.name.empty() && adopt.name != in.name) {
      return refuse(out, sys_error(EINVAL), fd, in.name,
                    fmt::format("not \"{}\", the device asked for", adopt.name));
    }
    if ((in.flags & kDetachQueue) != 0) {
      return refuse(out, sys_error(EINVAL), fd, in.name,
                    "a disabled queue (TUNSETQUEUE IFF_DETACH_QUEUE): enable it before handing "
                    "it over");
    }
    const Mode mode = (in.flags & IFF_TAP) != 0 ? Mode::tap : Mode::tun;
    const bool vnet = (in.flags & IFF_VNET_HDR) != 0;
    const bool multi = (in.flags & IFF_MULTI_QUEUE) != 0;

    // The index and the packet-information header from rtnetlink, in the caller's namespace: a
    // device of that name there with other flags is another device (the descriptor's is in
    // another namespace).
    std::error_code ec;
    const std::optional<TunDeviceInfo> info = find_tun_device(in.name, ec, sys);
    if (ec) return refuse(out, ec, fd, in.name, "RTM_GETLINK");
    const bool same =
        info && info->mode == mode && info->vnet_hdr == vnet && info->multi_queue == multi;
    if (same) {
      in.ifindex = info->link.ifindex;
      in.packet_info = info->packet_info;
      if (adopt.packet_info && *adopt.packet_info != info->packet_info) {
        return refuse(out, sys_error(EINVAL), fd, in.name,
                      info->packet_info ? "the device has the packet-information header, which "
                                          "AdoptOptions::packet_info says it has not"
                                        : "the device has no packet-information header, which "
                                          "AdoptOptions::packet_info says it has");
      }
    } else if (adopt.packet_info) {
      in.packet_info = *adopt.packet_info;
    } else {
      return refuse(out, sys_error(EINVAL), fd, in.name,
                    "the device is not in this network namespace: say whether it has the "
                    "packet-information header (AdoptOptions::packet_info)");
    }
    if (vnet) {
      if (const Failure f = read_vnet(fd, sys, in.vnet)) {
        return refuse(out, f.code, fd, in.name, std::string(f.op));
      }
    }
    return true;
  } catch (...) {
    return refuse(out, sys_error(ENOMEM), fd, {}, {});
  }
}

bool QueueAccess::take(Queue& q, const Inspected& in, bool non_blocking, sys::Syscalls& sys,
                       AdoptFailure& out) noexcept {
  q.close();
  const int event = retry_eintr([&] { return sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (event < 0) return refuse(out, sys_error(-event), in.fd, in.name, "eventfd");
  OwnedFd wake(event, sys);
  // Status flags belong to the open file (shared with every copy of the descriptor), FD_CLOEXEC
  // to this number.
  if ((in.status & O_NONBLOCK) == 0) {
    if (int r = retry_eintr([&] { return sys.fcntl(in.fd, F_SETFL, in.status | O_NONBLOCK); });
        r < 0) {
      return refuse(out, sys_error(-r), in.fd, in.name, "F_SETFL O_NONBLOCK");
    }
  }
  if ((in.fd_flags & FD_CLOEXEC) == 0) {
    if (int r = retry_eintr([&] { return sys.fcntl(in.fd, F_SETFD, in.fd_flags | FD_CLOEXEC); });
        r < 0) {
      if ((in.status & O_NONBLOCK) == 0) (void)sys.fcntl(in.fd, F_SETFL, in.status);
      return refuse(out, sys_error(-r), in.fd, in.name, "F_SETFD FD_CLOEXEC");
    }
  }
  static std::atomic<std::uint64_t> adoptions{0};
  // Open ids of adopted queues count down from the top, so they never meet those of opens.
  q.open_id_ = ~adoptions.fetch_add(1, std::memory_order_relaxed);
  q.fd_ = OwnedFd(in.fd, sys);
  q.wake_ = std::move(wake);
  q.ifindex_ = in.ifindex;
  q.mode_ = (in.flags & IFF_TAP) != 0 ? Mode::tap : Mode::tun;
  q.packet_info_ = in.packet_info;
  q.direct_ = sys::detail::is_real(q.fd_) && !q.packet_info_;
  q.non_blocking_ = non_blocking;
  q.vnet_.store(in.vnet);
  q.enabled_.store(true);
  try {
    q.name_ = in.name;
  } catch (...) {
    give_back(q, in);
    return refuse(out, sys_error(ENOMEM), in.fd, {}, {});
  }
  return true;
}

void QueueAccess::give_back(Queue& q, const Inspected& in) noexcept {
  if (q.fd_.get() != in.fd) return;
  sys::Syscalls& sys = q.fd_.sys();
  (void)q.fd_.release();
  if ((in.status & O_NONBLOCK) == 0) (void)sys.fcntl(in.fd, F_SETFL, in.status);
  if ((in.fd_flags & FD_CLOEXEC) == 0) (void)sys.fcntl(in.fd, F_SETFD, in.fd_flags);
  q.close();
}

}  // namespace detail

Queue Queue::adopt(int fd, const AdoptOptions& adopt, sys::Syscalls& sys) {
  detail::Inspected in;
  detail::AdoptFailure f;
  Queue q;
  if (!detail::inspect_for_adoption(fd, adopt, sys, in, f) ||
      !detail::QueueAccess::take(q, in, adopt.non_blocking, sys, f)) {
    detail::raise_adopt(f);
  }
  return q;
}

Queue Queue::adopt(int fd, std::error_code& ec, const AdoptOptions& adopt,
                   sys::Syscalls& sys) noexcept {
  detail::Inspected in;
  detail::AdoptFailure f;
  Queue q;
  if (!detail::inspect_for_adoption(fd, adopt, sys, in, f) ||
      !detail::QueueAccess::take(q, in, adopt.non_blocking, sys, f)) {
    ec = f.code;
    return Queue{};
  }
  ec.clear();
  return q;
}

bool TunDevice::adopt_impl(std::span<const int> fds, const AdoptOptions& adopt, sys::Syscalls& sys,
                           detail::AdoptFailure& out) noexcept {
  using detail::refuse;
  using detail::sys_error;
  close();
  if (fds.empty()) return refuse(out, sys_error(EINVAL), -1, adopt.name, "no descriptors given");
  if (fds.size() > max_queues) {
    return refuse(out, sys_error(E2BIG), fds[max_queues], adopt.name,
                  fmt::format("at most {} queues", max_queues));
  }
  std::vector<detail::Inspected> seen;
  try {
    seen.resize(fds.size());
  } catch (...) {
    return refuse(out, sys_error(ENOMEM), fds[0], {}, {});
  }
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (std::find(fds.begin(), fds.begin() + static_cast<std::ptrdiff_t>(i), fds[i]) !=
        fds.begin() + static_cast<std::ptrdiff_t>(i)) {
      return refuse(out, sys_error(EINVAL), fds[i], {}, "given twice");
    }
    if (!detail::inspect_for_adoption(fds[i], adopt, sys, seen[i], out)) return false;
    if (i == 0) continue;
    const detail::Inspected& first = seen[0];
    const detail::Inspected& in = seen[i];
    if (in.name != first.name || in.ifindex != first.ifindex ||
        (in.flags & ~detail::kNoFilter) != (first.flags & ~detail::kNoFilter)) {
      return refuse(
          out, sys_error(EINVAL), fds[i], in.name,
          fmt::format("descriptor {} is a queue of another device, \"{}\"", fds[0], first.name));
    }
    if ((in.flags & IFF_MULTI_QUEUE) == 0) {
      return refuse(out, sys_error(EINVAL), fds[i], in.name,
                    fmt::format("the device has no IFF_MULTI_QUEUE, so descriptor {} and this "
                                "one are copies of its one queue",
                                fds[0]));
    }
  }

  if (!wake_ || wake_->sys() != &sys) {
    wake_.reset(new (std::nothrow) detail::WakeTable(sys));
    if (!wake_) return refuse(out, sys_error(ENOMEM), fds[0], {}, {});
  }
  const detail::Inspected& first = seen[0];
  try {
    options_ = Options{};
    options_.name = first.name;
    options_.mode = (first.flags & IFF_TAP) != 0 ? Mode::tap : Mode::tun;
    options_.packet_info = first.packet_info;
    options_.vnet_hdr = (first.flags & IFF_VNET_HDR) != 0;
    options_.multi_queue = (first.flags & IFF_MULTI_QUEUE) != 0;
    options_.non_blocking = adopt.non_blocking;
    options_.queues = 1;
    for (std::size_t i = 1; i < seen.size(); ++i)
      more_.emplace_back();
  } catch (...) {
    more_.clear();
    return refuse(out, sys_error(ENOMEM), fds[0], {}, {});
  }
  // Take them all, or give back those taken.
  for (std::size_t i = 0; i < seen.size(); ++i) {
    Queue& q = i == 0 ? first_ : more_[i - 1];
    if (!detail::QueueAccess::take(q, seen[i], adopt.non_blocking, sys, out)) {
      for (std::size_t j = 0; j < i; ++j)
        detail::QueueAccess::give_back(j == 0 ? first_ : more_[j - 1], seen[j]);
      more_.clear();
      wake_->clear();
      return false;
    }
  }
  for (std::size_t i = 0; i < seen.size(); ++i)
    wake_->set(i, detail::QueueAccess::wake_fd(queue(i)));
  vnet_ = first.vnet;
  offloads_ = adopt.offloads.value_or(Offloads{});
  return true;
}

TunDevice TunDevice::adopt(std::span<const int> fds, const AdoptOptions& adopt,
                           sys::Syscalls& sys) {
  TunDevice dev;
  detail::AdoptFailure f;
  if (!dev.adopt_impl(fds, adopt, sys, f)) detail::raise_adopt(f);
  return dev;
}

TunDevice TunDevice::adopt(std::span<const int> fds, std::error_code& ec, const AdoptOptions& adopt,
                           sys::Syscalls& sys) noexcept {
  TunDevice dev;
  detail::AdoptFailure f;
  if (!dev.adopt_impl(fds, adopt, sys, f)) {
    ec = f.code;
    return TunDevice{};
  }
  ec.clear();
  return dev;
}

}  // namespace tunkit
