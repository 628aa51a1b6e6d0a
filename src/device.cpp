#include "tunkit/device.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "detail/errors.hpp"

namespace tunkit {
namespace {

using detail::sys_error;

constexpr const char* kTunPath = "/dev/net/tun";

// The Flag values are the kernel's bits; keep them honest.
static_assert(static_cast<unsigned>(Flag::tun) == IFF_TUN);
static_assert(static_cast<unsigned>(Flag::tap) == IFF_TAP);
static_assert(static_cast<unsigned>(Flag::no_pi) == IFF_NO_PI);
static_assert(static_cast<unsigned>(Flag::one_queue) == IFF_ONE_QUEUE);
static_assert(static_cast<unsigned>(Flag::vnet_hdr) == IFF_VNET_HDR);
static_assert(static_cast<unsigned>(Flag::tun_excl) == IFF_TUN_EXCL);
static_assert(static_cast<unsigned>(Flag::multi_queue) == IFF_MULTI_QUEUE);
static_assert(static_cast<unsigned>(Flag::persist) == IFF_PERSIST);
static_assert(static_cast<unsigned>(Flag::no_carrier) == 0x0040);  // IFF_NO_CARRIER (6.0+)
static_assert(static_cast<unsigned>(Flag::napi) == IFF_NAPI);
static_assert(static_cast<unsigned>(Flag::napi_frags) == IFF_NAPI_FRAGS);

// The hint for a failed TUNSETIFF: what the errno means for this driver (see KERNEL.md).
std::string_view setiff_hint(int err, const Options& o) noexcept {
  switch (err) {
    case EPERM:
    case EACCES:
      return "needs CAP_NET_ADMIN, or to be the device's owner or in its group";
    case EBUSY:
      return o.exclusive ? "the device exists and Options::exclusive (IFF_TUN_EXCL) is set"
                         : "another process has it open without IFF_MULTI_QUEUE";
    case EINVAL:
      return "the name belongs to a device of another kind, or the existing device differs in "
             "TUN/TAP mode or multi-queue setting";
    case E2BIG:
      return "the device already has the most queues the kernel allows (256)";
    default:
      return {};
  }
}

std::string_view open_hint(int err) noexcept {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return "no TUN/TAP support: load it with 'modprobe tun'";
    case EACCES:
    case EPERM:
      return "needs read and write access to /dev/net/tun";
    default:
      return {};
  }
}

// Only a permission error is about CAP_NET_ADMIN.
std::string_view cap_hint(int err) noexcept {
  return err == EPERM || err == EACCES ? "needs CAP_NET_ADMIN" : "";
}

std::string_view io_hint(std::error_code ec) noexcept {
  if (ec == std::errc::operation_would_block) return {};
  if (ec.category() == std::system_category() && ec.value() == EBADFD) {
    return "the interface was deleted";
  }
  if (ec == errc::packet_truncated) return "use a buffer of at least the MTU plus headers";
  return {};
}

// Retries a seam call while it fails with EINTR; returns the result or -errno.
template <typename F>
auto retry_eintr(F&& f) noexcept {
  for (;;) {
    auto r = f();
    if (r != -EINTR) return r;
  }
}

void* int_arg(unsigned long v) noexcept {
  // The TUNSET{PERSIST,OWNER,GROUP} ioctls take their argument by value, not by pointer.
  return reinterpret_cast<void*>(v);  // NOLINT(performance-no-int-to-ptr)
}

// EtherType for the packet-information header of a write.
std::uint16_t derive_protocol(Mode mode, std::span<const std::byte> packet) noexcept {
  if (mode == Mode::tap) {
    if (packet.size() < 14) return 0;
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(packet[12]) << 8U) |
                                      std::to_integer<unsigned>(packet[13]));
  }
  if (packet.empty()) return 0;
  switch (std::to_integer<unsigned>(packet[0]) >> 4U) {
    case 4:
      return 0x0800;
    case 6:
      return 0x86DD;
    default:
      return 0;
  }
}

int to_timeout_ms(std::chrono::milliseconds t) noexcept {
  if (t.count() < 0) return -1;
  if (t.count() > INT32_MAX) return INT32_MAX;
  return static_cast<int>(t.count());
}

}  // namespace

std::string to_string(Flags flags) {
  static constexpr std::array<std::pair<Flag, const char*>, 11> kNames{{
      {Flag::tun, "TUN"},
      {Flag::tap, "TAP"},
      {Flag::napi, "NAPI"},
      {Flag::napi_frags, "NAPI_FRAGS"},
      {Flag::no_carrier, "NO_CARRIER"},
      {Flag::multi_queue, "MULTI_QUEUE"},
      {Flag::persist, "PERSIST"},
      {Flag::no_pi, "NO_PI"},
      {Flag::one_queue, "ONE_QUEUE"},
      {Flag::vnet_hdr, "VNET_HDR"},
      {Flag::tun_excl, "TUN_EXCL"},
  }};
  std::string out;
  std::uint16_t rest = flags.bits();
  for (const auto& [flag, text] : kNames) {
    if (flags.has(flag)) {
      if (!out.empty()) out += '|';
      out += text;
      rest = static_cast<std::uint16_t>(rest & ~static_cast<std::uint16_t>(flag));
    }
  }
  if (rest != 0) {
    if (!out.empty()) out += '|';
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%04x", rest);
    out += buf;
  }
  return out.empty() ? "none" : out;
}

std::string_view to_string(Mode mode) noexcept {
  return mode == Mode::tap ? "tap" : "tun";
}

TunDevice::TunDevice(const Options& options, sys::Syscalls& sys) {
  open(options, sys);
}

TunDevice::TunDevice(TunDevice&& other) noexcept
    : sys_(other.sys_),
      fd_(std::exchange(other.fd_, -1)),
      wake_fd_(std::exchange(other.wake_fd_, -1)),
      ifindex_(std::exchange(other.ifindex_, 0U)),
      mode_(other.mode_),
      packet_info_(other.packet_info_),
      non_blocking_(other.non_blocking_),
      name_(std::move(other.name_)) {
  other.name_.clear();
}

TunDevice& TunDevice::operator=(TunDevice&& other) noexcept {
  if (this != &other) {
    close();
    sys_ = other.sys_;
    fd_ = std::exchange(other.fd_, -1);
    wake_fd_ = std::exchange(other.wake_fd_, -1);
    ifindex_ = std::exchange(other.ifindex_, 0U);
    mode_ = other.mode_;
    packet_info_ = other.packet_info_;
    non_blocking_ = other.non_blocking_;
    name_ = std::move(other.name_);
    other.name_.clear();
  }
  return *this;
}

TunDevice::~TunDevice() {
  close();
}

void TunDevice::close() noexcept {
  // close(2) is never retried: on Linux the descriptor is gone even when it reports EINTR.
  if (fd_ >= 0) (void)sys_->close(std::exchange(fd_, -1));
  if (wake_fd_ >= 0) (void)sys_->close(std::exchange(wake_fd_, -1));
  ifindex_ = 0;
  name_.clear();
}

int TunDevice::release() noexcept {
  const int fd = std::exchange(fd_, -1);
  close();
  return fd;
}

void TunDevice::open(const Options& options, sys::Syscalls& sys) {
  std::string what;
  if (const std::error_code ec = open_impl(options, sys, &what)) throw Error(ec, std::move(what));
}

void TunDevice::open(const Options& options, std::error_code& ec, sys::Syscalls& sys) {
  ec = open_impl(options, sys, nullptr);
}

std::error_code TunDevice::open_impl(const Options& options, sys::Syscalls& sys,
                                     std::string* what) noexcept {
  close();
  sys_ = &sys;
  std::error_code ec;
  const std::string_view shown =
      options.name.empty() ? std::string_view(options.mode == Mode::tap ? "tap%d" : "tun%d")
                           : std::string_view(options.name);
  int fd = -1;
  int wake = -1;
  auto fail = [&](std::error_code e, std::string_view op, std::string_view hint) {
    ec = e;
    if (what != nullptr) {
      try {
        *what = detail::message(e, op, shown, hint);
      } catch (...) {  // out of memory while formatting: the error code still tells the story
        what->clear();
      }
    }
    // Closing the descriptor deletes a device this call created, since persist is set last.
    if (wake >= 0) (void)sys.close(wake);
    if (fd >= 0) (void)sys.close(fd);
    return ec;
  };

  if (auto bad = detail::validate_interface_name(options.name)) {
    return fail(bad, "open", detail::interface_name_hint(bad));
  }

  fd = retry_eintr([&] { return sys.open(kTunPath, O_RDWR | O_CLOEXEC | O_NONBLOCK); });
  if (fd < 0) {
    const int err = -fd;
    fd = -1;
    return fail(sys_error(err), "open /dev/net/tun for", open_hint(err));
  }

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, options.name.data(), options.name.size());
  unsigned flags = options.mode == Mode::tap ? IFF_TAP : IFF_TUN;
  if (!options.packet_info) flags |= IFF_NO_PI;
  if (options.exclusive) flags |= IFF_TUN_EXCL;
  if (options.multi_queue) flags |= IFF_MULTI_QUEUE;
  if (options.vnet_hdr) flags |= IFF_VNET_HDR;
  ifr.ifr_flags = static_cast<short>(flags);
  if (int r = retry_eintr([&] { return sys.ioctl(fd, TUNSETIFF, &ifr); }); r < 0) {
    return fail(sys_error(-r), "TUNSETIFF", setiff_hint(-r, options));
  }
  std::string name(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));

  auto set_value = [&](unsigned long request, unsigned long value) {
    return retry_eintr([&] { return sys.ioctl(fd, request, int_arg(value)); });
  };
  if (options.owner) {
    if (int r = set_value(TUNSETOWNER, *options.owner); r < 0) {
      return fail(sys_error(-r), "TUNSETOWNER", cap_hint(-r));
    }
  }
  if (options.group) {
    if (int r = set_value(TUNSETGROUP, *options.group); r < 0) {
      return fail(sys_error(-r), "TUNSETGROUP", cap_hint(-r));
    }
  }

  wake = retry_eintr([&] { return sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (wake < 0) {
    const int err = -wake;
    wake = -1;
    return fail(sys_error(err), "eventfd for", {});
  }

  // The interface index, looked up now: it stays valid across renames and namespace moves,
  // where a later look-up by name would not.
  int sock = retry_eintr([&] { return sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); });
  if (sock < 0) return fail(sys_error(-sock), "socket for SIOCGIFINDEX of", {});
  ifreq idx{};
  std::memcpy(idx.ifr_name, name.data(), name.size());
  const int r = retry_eintr([&] { return sys.ioctl(sock, SIOCGIFINDEX, &idx); });
  (void)sys.close(sock);
  if (r < 0) return fail(sys_error(-r), "SIOCGIFINDEX", {});

  // Persist is the last step, so that every failure above lets the kernel delete the device.
  if (options.persist) {
    if (int p = set_value(TUNSETPERSIST, 1); p < 0) {
      return fail(sys_error(-p), "TUNSETPERSIST", cap_hint(-p));
    }
  }

  fd_ = fd;
  wake_fd_ = wake;
  ifindex_ = static_cast<unsigned>(idx.ifr_ifindex);
  mode_ = options.mode;
  packet_info_ = options.packet_info;
  non_blocking_ = options.non_blocking;
  name_ = std::move(name);
  return ec;
}

Flags TunDevice::flags() const {
  std::error_code ec;
  Flags f = flags(ec);
  if (ec) detail::throw_error(ec, "TUNGETIFF", name_);
  return f;
}

Flags TunDevice::flags(std::error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errc::not_open;
    return {};
  }
  ifreq ifr{};
  if (int r = retry_eintr([&] { return sys_->ioctl(fd_, TUNGETIFF, &ifr); }); r < 0) {
    ec = sys_error(-r);
    return {};
  }
  // TUNGETIFF reuses two bits for per-descriptor state: 0x1000 is IFF_NOFILTER (no socket filter
  // attached), the same value as IFF_NO_PI, and 0x0400 is IFF_DETACH_QUEUE. Report NO_PI from
  // what this descriptor was opened with instead.
  auto bits = static_cast<std::uint16_t>(static_cast<unsigned>(ifr.ifr_flags) & ~0x1400U);
  if (!packet_info_) bits = static_cast<std::uint16_t>(bits | IFF_NO_PI);
  return Flags::from_bits(bits);
}

void TunDevice::set_persist(bool on) {
  std::error_code ec;
  set_persist(on, ec);
  if (ec) detail::throw_error(ec, "TUNSETPERSIST", name_, cap_hint(ec.value()));
}

void TunDevice::set_persist(bool on, std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errc::not_open;
    return;
  }
  if (int r = retry_eintr([&] { return sys_->ioctl(fd_, TUNSETPERSIST, int_arg(on ? 1 : 0)); });
      r < 0) {
    ec = sys_error(-r);
  }
}

// One packet in or out: retries EINTR, and in blocking mode waits for readiness (poll on the
// device and the wake-up eventfd) instead of blocking in the kernel, so interrupt() can end it.
std::size_t TunDevice::transfer(Dir dir, iovec* iov, int iovcnt, std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errc::not_open;
    return 0;
  }
  for (;;) {
    const ssize_t r =
        dir == Dir::in ? sys_->readv(fd_, iov, iovcnt) : sys_->writev(fd_, iov, iovcnt);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (r == -EINTR) continue;
    if (r == -EAGAIN && !non_blocking_) {
      const WaitResult w = wait(dir == Dir::in ? POLLIN : POLLOUT, -1, ec);
      if (ec) return 0;
      if (w == WaitResult::interrupted) {
        ec = errc::interrupted;
        return 0;
      }
      continue;
    }
    ec = sys_error(static_cast<int>(-r));
    return 0;
  }
}

std::size_t TunDevice::read(std::span<std::byte> buf) {
  std::error_code ec;
  const std::size_t n = read(buf, ec);
  if (ec) throw_io("read", ec);
  return n;
}

std::size_t TunDevice::read(std::span<std::byte> buf, std::error_code& ec) noexcept {
  PacketInfo info;
  return read(buf, info, ec);
}

std::size_t TunDevice::read(std::span<std::byte> buf, PacketInfo& info,
                            std::error_code& ec) noexcept {
  const std::span<std::byte> one[1] = {buf};
  return read_packet(one, info, ec);
}

std::size_t TunDevice::readv(std::span<const std::span<std::byte>> bufs) {
  std::error_code ec;
  const std::size_t n = readv(bufs, ec);
  if (ec) throw_io("readv", ec);
  return n;
}

std::size_t TunDevice::readv(std::span<const std::span<std::byte>> bufs,
                             std::error_code& ec) noexcept {
  PacketInfo info;
  return read_packet(bufs, info, ec);
}

std::size_t TunDevice::read_packet(std::span<const std::span<std::byte>> bufs, PacketInfo& info,
                                   std::error_code& ec) noexcept {
  info = {};
  if (bufs.size() > max_buffers) {
    ec = errc::too_many_buffers;
    return 0;
  }
  // Layout: [packet-info header] user buffers... [one spare byte]. The spare byte detects a
  // packet longer than the user's buffers: the kernel truncates silently without packet info.
  std::array<iovec, max_buffers + 2> iov{};
  std::array<std::byte, 4> pi{};
  std::byte spare{};
  int n = 0;
  if (packet_info_) iov[static_cast<std::size_t>(n++)] = {pi.data(), pi.size()};
  std::size_t capacity = 0;
  for (const auto& b : bufs) {
    iov[static_cast<std::size_t>(n++)] = {b.data(), b.size()};
    capacity += b.size();
  }
  if (!packet_info_) iov[static_cast<std::size_t>(n++)] = {&spare, 1};

  std::size_t got = transfer(Dir::in, iov.data(), n, ec);
  if (ec) return 0;
  if (packet_info_) {
    if (got < pi.size()) {
      ec = errc::netlink_protocol;
      return 0;
    }
    got -= pi.size();
    // struct tun_pi: flags in host byte order, proto in network byte order.
    std::memcpy(&info.flags, pi.data(), sizeof info.flags);
    info.protocol = static_cast<std::uint16_t>((std::to_integer<unsigned>(pi[2]) << 8U) |
                                               std::to_integer<unsigned>(pi[3]));
    if ((info.flags & TUN_PKT_STRIP) != 0) ec = errc::packet_truncated;
  } else {
    if (got > capacity) {
      got = capacity;
      ec = errc::packet_truncated;
    }
    if (mode_ == Mode::tun && !bufs.empty() && !bufs[0].empty()) {
      info.protocol = derive_protocol(mode_, bufs[0]);
    }
  }
  return got;
}

std::size_t TunDevice::write(std::span<const std::byte> packet) {
  std::error_code ec;
  const std::size_t n = write(packet, ec);
  if (ec) throw_io("write", ec);
  return n;
}

std::size_t TunDevice::write(std::span<const std::byte> packet, std::error_code& ec) noexcept {
  const std::span<const std::byte> one[1] = {packet};
  return write_packet(one, ec);
}

std::size_t TunDevice::writev(std::span<const std::span<const std::byte>> bufs) {
  std::error_code ec;
  const std::size_t n = writev(bufs, ec);
  if (ec) throw_io("writev", ec);
  return n;
}

std::size_t TunDevice::writev(std::span<const std::span<const std::byte>> bufs,
                              std::error_code& ec) noexcept {
  return write_packet(bufs, ec);
}

std::size_t TunDevice::write_packet(std::span<const std::span<const std::byte>> bufs,
                                    std::error_code& ec) noexcept {
  ec.clear();
  if (bufs.size() > max_buffers) {
    ec = errc::too_many_buffers;
    return 0;
  }
  std::array<iovec, max_buffers + 1> iov{};
  std::array<std::byte, 4> pi{};
  int n = 0;
  if (packet_info_) {
    // The protocol comes from the first buffer (the IP version, or the frame's EtherType).
    const std::uint16_t proto = bufs.empty() ? 0 : derive_protocol(mode_, bufs[0]);
    pi[2] = static_cast<std::byte>(proto >> 8U);
    pi[3] = static_cast<std::byte>(proto & 0xFFU);
    iov[static_cast<std::size_t>(n++)] = {pi.data(), pi.size()};
  }
  std::size_t total = 0;
  for (const auto& b : bufs) {
    // iovec's base is non-const by POSIX's signature; writev never writes through it.
    iov[static_cast<std::size_t>(n++)] = {const_cast<std::byte*>(b.data()), b.size()};
    total += b.size();
  }
  if (total == 0) {
    ec = fd_ < 0 ? std::error_code(errc::not_open) : std::error_code(errc::empty_packet);
    return 0;
  }
  std::size_t done = transfer(Dir::out, iov.data(), n, ec);
  if (ec) return 0;
  if (packet_info_) done = done >= pi.size() ? done - pi.size() : 0;
  if (done != total) {
    // The tun driver writes whole packets; anything else is an error, never looped.
    ec = sys_error(EIO);
    return 0;
  }
  return done;
}

WaitResult TunDevice::wait(short events, int timeout_ms, std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errc::not_open;
    return WaitResult::ready;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    std::array<pollfd, 2> fds{{{fd_, events, 0}, {wake_fd_, POLLIN, 0}}};
    const int r = sys_->poll(fds.data(), fds.size(), timeout_ms);
    if (r == -EINTR) {
      if (timeout_ms > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        timeout_ms = left.count() > 0 ? static_cast<int>(left.count()) : 0;
      }
      continue;
    }
    if (r < 0) {
      ec = sys_error(-r);
      return WaitResult::ready;
    }
    if (fds[1].revents != 0) return WaitResult::interrupted;
    if (fds[0].revents != 0) return WaitResult::ready;
    return WaitResult::timeout;
  }
}

WaitResult TunDevice::wait_readable(std::chrono::milliseconds timeout) {
  std::error_code ec;
  const WaitResult w = wait_readable(timeout, ec);
  if (ec) throw_io("poll", ec);
  return w;
}

WaitResult TunDevice::wait_readable(std::chrono::milliseconds timeout,
                                    std::error_code& ec) noexcept {
  return wait(POLLIN, to_timeout_ms(timeout), ec);
}

WaitResult TunDevice::wait_writable(std::chrono::milliseconds timeout) {
  std::error_code ec;
  const WaitResult w = wait_writable(timeout, ec);
  if (ec) throw_io("poll", ec);
  return w;
}

WaitResult TunDevice::wait_writable(std::chrono::milliseconds timeout,
                                    std::error_code& ec) noexcept {
  return wait(POLLOUT, to_timeout_ms(timeout), ec);
}

void TunDevice::interrupt() noexcept {
  if (wake_fd_ < 0) return;
  const std::uint64_t one = 1;
  // Only write(2): async-signal-safe. EAGAIN means the counter is saturated, i.e. already set.
  (void)retry_eintr([&] { return sys_->write(wake_fd_, &one, sizeof one); });
}

void TunDevice::clear_interrupt() noexcept {
  if (wake_fd_ < 0) return;
  std::uint64_t value = 0;
  (void)retry_eintr([&] { return sys_->read(wake_fd_, &value, sizeof value); });
}

Flags TunDevice::features(sys::Syscalls& sys) {
  std::error_code ec;
  const Flags f = features(ec, sys);
  if (ec) {
    detail::throw_error(ec, "TUNGETFEATURES on /dev/net/tun", {},
                        ec.value() == ENOENT ? "no TUN/TAP support: load it with 'modprobe tun'"
                                             : std::string_view{});
  }
  return f;
}

Flags TunDevice::features(std::error_code& ec, sys::Syscalls& sys) noexcept {
  ec.clear();
  const int fd = retry_eintr([&] { return sys.open(kTunPath, O_RDWR | O_CLOEXEC); });
  if (fd < 0) {
    ec = sys_error(-fd);
    return {};
  }
  unsigned int bits = 0;
  const int r = retry_eintr([&] { return sys.ioctl(fd, TUNGETFEATURES, &bits); });
  (void)sys.close(fd);
  if (r < 0) {
    ec = sys_error(-r);
    return {};
  }
  return Flags::from_bits(static_cast<std::uint16_t>(bits));
}

void TunDevice::throw_io(const char* op, std::error_code ec) const {
  const bool is_write = op[0] == 'w';
  if (is_write && ec.category() == std::system_category() && ec.value() == EINVAL) {
    detail::throw_error(ec, op, name_,
                        mode_ == Mode::tun ? "the kernel accepts only IPv4 or IPv6 packets here"
                                           : "the kernel rejected the frame (too short?)");
  }
  detail::throw_error(ec, op, name_, io_hint(ec));
}

}  // namespace tunkit
