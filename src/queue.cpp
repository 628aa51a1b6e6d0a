#include "tunkit/queue.hpp"

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
#include "detail/tun.hpp"
#include "tunkit/error.hpp"
#include "tunkit/offload.hpp"

namespace tunkit {
namespace {

using detail::retry_eintr;
using detail::sys_error;

// The largest packet a TUN/TAP descriptor hands over, without its virtio-net header: 64 KiB IP
// super-packets, plus an Ethernet header and VLAN tags for TAP.
constexpr std::size_t kLargestPacket = 65536 + 64;

std::string_view io_hint(std::error_code ec) noexcept {
  if (ec == std::errc::operation_would_block) return {};
  if (ec.category() == std::system_category() && ec.value() == EBADFD) {
    return "the interface was deleted";
  }
  if (ec.category() == std::system_category() && ec.value() == EIO) {
    return "the interface is down: bring it up first";
  }
  if (ec == errc::packet_truncated) return "use a buffer of at least the MTU plus headers";
  return {};
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

constexpr const char* kFilterBlocksAttach =
    "the kernel does not attach a queue with packet information while a classic BPF filter is "
    "attached: detach_filter() first";
constexpr const char* kFilterBlocksEnable =
    "the kernel does not re-enable a queue while a classic BPF filter is attached: "
    "detach_filter() first";

// The optional TUNSETIFF flags that TUNGETFEATURES must offer before tunkit asks for them.
struct OptionalFlag {
  bool Options::*field;
  unsigned bit;
  const char* name;
};
constexpr OptionalFlag kOptionalFlags[] = {
    {&Options::multi_queue, IFF_MULTI_QUEUE, "IFF_MULTI_QUEUE"},
    {&Options::vnet_hdr, IFF_VNET_HDR, "IFF_VNET_HDR"},
    {&Options::no_carrier, 0x0040, "IFF_NO_CARRIER"},
    {&Options::napi, IFF_NAPI, "IFF_NAPI"},
    {&Options::napi_frags, IFF_NAPI_FRAGS, "IFF_NAPI_FRAGS"},
};

// The checks the kernel would answer with a bare EINVAL, done before the write so the caller
// learns which field is wrong (tun_get_user / virtio_net_hdr_to_skb). Field checks only: no
// packet parsing on the hot path. Returns the reason, or nullopt when the header is acceptable.
std::optional<OffloadError> vnet_problem(std::span<const std::span<const std::byte>> bufs,
                                         std::size_t total, std::size_t header_size,
                                         bool little_endian) noexcept {
  if (bufs.empty() || bufs[0].size() < header_size) {
    return OffloadError{OffloadReason::header_truncated,
                        static_cast<std::uint32_t>(bufs.empty() ? 0 : bufs[0].size()),
                        static_cast<std::uint32_t>(header_size),
                        {}};
  }
  const auto h = VirtioNetHeader::parse(bufs[0].first(header_size), header_size, little_endian);
  if (!h) return h.error();
  const auto len = static_cast<std::uint32_t>(total - header_size);
  if (h->gso_type != GsoType::none && h->gso_size == 0) {
    return OffloadError{OffloadReason::gso_size_zero, 0, 0, {}};
  }
  if (h->hdr_len > len)
    return OffloadError{OffloadReason::hdr_len_beyond_packet, h->hdr_len, len, {}};
  if (h->needs_csum) {
    if (h->csum_start > len) {
      return OffloadError{OffloadReason::csum_start_beyond_packet, h->csum_start, len, {}};
    }
    const std::uint32_t end = std::uint32_t{h->csum_start} + h->csum_offset + 2U;
    if (end > len) return OffloadError{OffloadReason::csum_offset_beyond_packet, end, len, {}};
  }
  return std::nullopt;
}

}  // namespace

Queue::Queue(const Options& options, sys::Syscalls& sys) {
  std::string what;
  if (const std::error_code ec = open_impl(options, sys, &what)) throw Error(ec, std::move(what));
}

Queue::Queue(Queue&& other) noexcept
    : sys_(other.sys_),
      fd_(std::exchange(other.fd_, -1)),
      wake_fd_(std::exchange(other.wake_fd_, -1)),
      ifindex_(std::exchange(other.ifindex_, 0U)),
      mode_(other.mode_),
      packet_info_(other.packet_info_),
      non_blocking_(other.non_blocking_),
      enabled_(other.enabled_),
      vnet_be_(other.vnet_be_),
      vnet_size_(other.vnet_size_),
      name_(std::move(other.name_)) {
  other.name_.clear();
}

Queue& Queue::operator=(Queue&& other) noexcept {
  if (this != &other) {
    close();
    sys_ = other.sys_;
    fd_ = std::exchange(other.fd_, -1);
    wake_fd_ = std::exchange(other.wake_fd_, -1);
    ifindex_ = std::exchange(other.ifindex_, 0U);
    mode_ = other.mode_;
    packet_info_ = other.packet_info_;
    non_blocking_ = other.non_blocking_;
    enabled_ = other.enabled_;
    vnet_be_ = other.vnet_be_;
    vnet_size_ = other.vnet_size_;
    name_ = std::move(other.name_);
    other.name_.clear();
  }
  return *this;
}

Queue::~Queue() {
  close();
}

void Queue::close() noexcept {
  // close(2) is never retried: on Linux the descriptor is gone even when it reports EINTR.
  if (fd_ >= 0) (void)sys_->close(std::exchange(fd_, -1));
  if (wake_fd_ >= 0) (void)sys_->close(std::exchange(wake_fd_, -1));
  ifindex_ = 0;
  enabled_ = true;
  name_.clear();
}

int Queue::release() noexcept {
  const int fd = std::exchange(fd_, -1);
  close();
  return fd;
}

void Queue::open(const Options& options, std::error_code& ec, sys::Syscalls& sys) {
  ec = open_impl(options, sys, nullptr);
}

std::error_code Queue::open_impl(const Options& options, sys::Syscalls& sys,
                                 std::string* what) noexcept {
  close();
  sys_ = &sys;
  const std::string_view shown = detail::shown_name(options);
  int fd = -1;
  int wake = -1;
  auto fail = [&](std::error_code e, std::string_view op, std::string_view hint) {
    if (what != nullptr) {
      try {
        *what = detail::message(e, op, shown, hint);
      } catch (...) {  // out of memory while formatting: the error code still tells the story
        what->clear();
      }
    }
    if (wake >= 0) (void)sys.close(wake);
    if (fd >= 0) (void)sys.close(fd);
    return e;
  };

  if (auto bad = detail::validate_interface_name(options.name)) {
    return fail(bad, "open", detail::interface_name_hint(bad));
  }
  // The kernel refuses these with a bare EINVAL that TUNSETIFF's hint would misexplain.
  if (options.napi_frags && (!options.napi || options.mode != Mode::tap)) {
    return fail(sys_error(EINVAL), "open", "Options::napi_frags needs Options::napi and Mode::tap");
  }
  const bool multi_queue = options.multi_queue || options.queues > 1;

  fd = retry_eintr([&] { return sys.open(detail::kTunPath, O_RDWR | O_CLOEXEC | O_NONBLOCK); });
  if (fd < 0) {
    const int err = -fd;
    fd = -1;
    return fail(sys_error(err), "open /dev/net/tun for", detail::open_hint(err));
  }

  unsigned flags = options.mode == Mode::tap ? IFF_TAP : IFF_TUN;
  if (!options.packet_info) flags |= IFF_NO_PI;
  if (options.exclusive) flags |= IFF_TUN_EXCL;
  if (multi_queue) flags |= IFF_MULTI_QUEUE;
  if (options.vnet_hdr) flags |= IFF_VNET_HDR;
  if (options.no_carrier) flags |= 0x0040U;  // IFF_NO_CARRIER: absent from older headers
  if (options.napi) flags |= IFF_NAPI;
  if (options.napi_frags) flags |= IFF_NAPI_FRAGS;

  // Optional flags are offered by TUNGETFEATURES; an old kernel would ignore or reject them
  // without saying which, so ask first and name the missing one.
  bool wants_optional = false;
  for (const auto& f : kOptionalFlags)
    wants_optional = wants_optional || options.*f.field;
  if (wants_optional || multi_queue) {
    unsigned int features = 0;
    if (int r = retry_eintr([&] { return sys.ioctl(fd, TUNGETFEATURES, &features); }); r < 0) {
      return fail(sys_error(-r), "TUNGETFEATURES for", {});
    }
    for (const auto& f : kOptionalFlags) {
      const bool wanted = f.field == &Options::multi_queue ? multi_queue : options.*f.field;
      if (wanted && (features & f.bit) == 0) {
        return fail(make_error_code(errc::feature_unsupported), "open", f.name);
      }
    }
  }

  if (options.ifindex && *options.ifindex != 0) {
    unsigned int index = *options.ifindex;
    if (int r = retry_eintr([&] { return sys.ioctl(fd, TUNSETIFINDEX, &index); }); r < 0) {
      return fail(sys_error(-r), "TUNSETIFINDEX", {});
    }
  }

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, options.name.data(), options.name.size());
  ifr.ifr_flags = static_cast<short>(flags);
  if (int r = retry_eintr([&] { return sys.ioctl(fd, TUNSETIFF, &ifr); }); r < 0) {
    return fail(sys_error(-r), "TUNSETIFF", detail::setiff_hint(-r, options));
  }
  if (options.mode == Mode::tap && options.packet_info) {
    // While a classic BPF filter is attached to a TAP device, Linux (6.18, measured) answers 0 to
    // a TUNSETIFF without IFF_NO_PI (a bit it also reads as IFF_NOFILTER) yet leaves the
    // descriptor unattached: tun_attach() returns early after attaching the filter. Ask.
    ifreq check{};
    if (int r = retry_eintr([&] { return sys.ioctl(fd, TUNGETIFF, &check); }); r < 0) {
      if (r == -EBADFD) return fail(sys_error(EBADFD), "TUNSETIFF", kFilterBlocksAttach);
      return fail(sys_error(-r), "TUNGETIFF", {});
    }
  }
  std::string name(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));

  wake = retry_eintr([&] { return sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (wake < 0) {
    const int err = -wake;
    wake = -1;
    return fail(sys_error(err), "eventfd for", {});
  }

  // The interface index, looked up now: it stays valid across renames and namespace moves,
  // where a later look-up by name would not.
  const int sock = retry_eintr([&] { return sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); });
  if (sock < 0) return fail(sys_error(-sock), "socket for SIOCGIFINDEX of", {});
  ifreq idx{};
  std::memcpy(idx.ifr_name, name.data(), name.size());
  const int r = retry_eintr([&] { return sys.ioctl(sock, SIOCGIFINDEX, &idx); });
  (void)sys.close(sock);
  if (r < 0) return fail(sys_error(-r), "SIOCGIFINDEX", {});

  fd_ = fd;
  wake_fd_ = wake;
  ifindex_ = static_cast<unsigned>(idx.ifr_ifindex);
  mode_ = options.mode;
  packet_info_ = options.packet_info;
  non_blocking_ = options.non_blocking;
  vnet_size_ = options.vnet_hdr ? static_cast<std::uint16_t>(VirtioNetHeader::legacy_size) : 0;
  vnet_be_ = false;
  enabled_ = true;
  name_ = std::move(name);
  return {};
}

Flags Queue::flags() const {
  std::error_code ec;
  Flags f = flags(ec);
  if (ec) detail::throw_error(ec, "TUNGETIFF", name_);
  return f;
}

Flags Queue::flags(std::error_code& ec) const noexcept {
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

std::error_code Queue::set_queue(bool attach) noexcept {
  if (fd_ < 0) return errc::not_open;
  ifreq ifr{};
  ifr.ifr_flags = static_cast<short>(attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE);
  if (int r = retry_eintr([&] { return sys_->ioctl(fd_, TUNSETQUEUE, &ifr); }); r < 0) {
    return sys_error(-r);
  }
  if (attach && mode_ == Mode::tap) {
    // While a classic BPF filter is attached, Linux (6.18, measured) answers 0 to
    // IFF_ATTACH_QUEUE but leaves the queue disabled (tun_attach() returns early after attaching
    // the filter). TUNGETIFF shows IFF_DETACH_QUEUE on a disabled queue.
    ifreq check{};
    if (int r = retry_eintr([&] { return sys_->ioctl(fd_, TUNGETIFF, &check); }); r < 0) {
      return sys_error(-r);
    }
    if ((static_cast<unsigned>(check.ifr_flags) & IFF_DETACH_QUEUE) != 0) return sys_error(EBUSY);
  }
  enabled_ = attach;
  return {};
}

void Queue::disable() {
  if (auto ec = set_queue(false)) {
    detail::throw_error(ec, "TUNSETQUEUE detach", name_,
                        ec.value() == EINVAL ? "not a multi-queue device, or already disabled"
                                             : std::string_view{});
  }
}

void Queue::disable(std::error_code& ec) noexcept {
  ec = set_queue(false);
}

void Queue::enable() {
  if (auto ec = set_queue(true)) {
    std::string_view hint;
    if (ec == std::error_code(EINVAL, std::system_category())) {
      hint = "not a multi-queue device, or already enabled";
    } else if (ec == std::error_code(EBUSY, std::system_category())) {
      hint = kFilterBlocksEnable;
    }
    detail::throw_error(ec, "TUNSETQUEUE attach", name_, hint);
  }
}

void Queue::enable(std::error_code& ec) noexcept {
  ec = set_queue(true);
}

// One packet in or out: retries EINTR, and in blocking mode waits for readiness (poll on the
// device and the wake-up eventfd) instead of blocking in the kernel, so interrupt() can end it.
std::size_t Queue::transfer(Dir dir, iovec* iov, int iovcnt, std::error_code& ec,
                            bool may_wait) noexcept {
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
    if (r == -EAGAIN && !non_blocking_ && may_wait) {
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

std::size_t Queue::read(std::span<std::byte> buf) {
  std::error_code ec;
  const std::size_t n = read(buf, ec);
  if (ec) throw_io("read", ec);
  return n;
}

std::size_t Queue::read(std::span<std::byte> buf, std::error_code& ec) noexcept {
  // The common case first, in one syscall and few instructions (bench/io_bench measures it
  // against a raw read): no packet information, the packet fits. A failed attempt consumed
  // nothing, so the general path below retries it (EINTR, a blocking wait) or reports it.
  if (!packet_info_ && fd_ >= 0) {
    // A buffer that holds the largest packet the driver can hand over needs no spare byte to
    // detect truncation, and read(2) is cheaper in the kernel than a two-entry readv(2).
    std::byte spare{};  // detects a longer packet, as in read_packet
    const std::array<iovec, 2> iov{{{buf.data(), buf.size()}, {&spare, 1}}};
    const bool whole = buf.size() >= kLargestPacket + vnet_size_;
    ssize_t r = 0;
    do {
      r = whole ? sys_->read(fd_, buf.data(), buf.size()) : sys_->readv(fd_, iov.data(), 2);
    } while (r == -EINTR);
    if (r >= 0) {
      if (static_cast<std::size_t>(r) > buf.size()) {
        ec = errc::packet_truncated;
        return buf.size();
      }
      ec.clear();
      return static_cast<std::size_t>(r);
    }
    if (r != -EAGAIN || non_blocking_) {
      ec = sys_error(static_cast<int>(-r));
      return 0;
    }
  }
  PacketInfo info;
  return read(buf, info, ec);
}

std::size_t Queue::read(std::span<std::byte> buf, PacketInfo& info, std::error_code& ec) noexcept {
  const std::span<std::byte> one[1] = {buf};
  return read_packet(one, info, ec);
}

std::size_t Queue::readv(std::span<const std::span<std::byte>> bufs) {
  std::error_code ec;
  const std::size_t n = readv(bufs, ec);
  if (ec) throw_io("readv", ec);
  return n;
}

std::size_t Queue::readv(std::span<const std::span<std::byte>> bufs, std::error_code& ec) noexcept {
  PacketInfo info;
  return read_packet(bufs, info, ec);
}

std::size_t Queue::read_packet(std::span<const std::span<std::byte>> bufs, PacketInfo& info,
                               std::error_code& ec, bool may_wait) noexcept {
  info = {};
  if (bufs.size() > max_buffers) {
    ec = errc::too_many_buffers;
    return 0;
  }
  // Layout: [packet-info header] user buffers... [one spare byte]. The spare byte detects a
  // packet longer than the user's buffers: the kernel truncates silently without packet info.
  // Not value-initialised: only the first n entries are passed, and zeroing 1 KiB per packet
  // was a measurable share of the per-packet cost (bench/io_bench).
  std::array<iovec, max_buffers + 2> iov;  // NOLINT(cppcoreguidelines-pro-type-member-init)
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

  std::size_t got = transfer(Dir::in, iov.data(), n, ec, may_wait);
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

std::size_t Queue::write(std::span<const std::byte> packet) {
  std::error_code ec;
  const std::size_t n = write(packet, ec);
  if (ec) {
    const std::span<const std::byte> one[1] = {packet};
    throw_write("write", ec, one);
  }
  return n;
}

std::size_t Queue::write(std::span<const std::byte> packet, std::error_code& ec) noexcept {
  // The common case first (see read): no packet information and no virtio-net header to check.
  if (!packet_info_ && vnet_size_ == 0 && fd_ >= 0 && !packet.empty()) {
    ssize_t r = 0;
    do {
      r = sys_->write(fd_, packet.data(), packet.size());
    } while (r == -EINTR);
    if (r >= 0) {
      // The tun driver writes whole packets; anything else is an error, never looped.
      if (static_cast<std::size_t>(r) != packet.size()) {
        ec = sys_error(EIO);
        return 0;
      }
      ec.clear();
      return packet.size();
    }
    if (r != -EAGAIN || non_blocking_) {
      ec = sys_error(static_cast<int>(-r));
      return 0;
    }
  }
  const std::span<const std::byte> one[1] = {packet};
  return write_packet(one, ec);
}

std::size_t Queue::writev(std::span<const std::span<const std::byte>> bufs) {
  std::error_code ec;
  const std::size_t n = writev(bufs, ec);
  if (ec) throw_write("writev", ec, bufs);
  return n;
}

void Queue::throw_write(const char* op, std::error_code ec,
                        std::span<const std::span<const std::byte>> bufs) const {
  if (ec == errc::invalid_vnet_header) {
    std::size_t total = 0;
    for (const auto& b : bufs)
      total += b.size();
    if (auto why = vnet_problem(bufs, total, vnet_size_, !vnet_be_)) {
      detail::throw_error(ec, op, name_, to_string(*why));
    }
  }
  throw_io(op, ec);
}

std::size_t Queue::writev(std::span<const std::span<const std::byte>> bufs,
                          std::error_code& ec) noexcept {
  return write_packet(bufs, ec);
}

std::size_t Queue::write_packet(std::span<const std::span<const std::byte>> bufs,
                                std::error_code& ec, bool may_wait) noexcept {
  ec.clear();
  if (bufs.size() > max_buffers) {
    ec = errc::too_many_buffers;
    return 0;
  }
  std::array<iovec, max_buffers + 1> iov;  // NOLINT: see read_packet
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
  if (vnet_size_ != 0 && fd_ >= 0 && vnet_problem(bufs, total, vnet_size_, !vnet_be_)) {
    ec = errc::invalid_vnet_header;
    return 0;
  }
  std::size_t done = transfer(Dir::out, iov.data(), n, ec, may_wait);
  if (ec) return 0;
  if (packet_info_) done = done >= pi.size() ? done - pi.size() : 0;
  if (done != total) {
    // The tun driver writes whole packets; anything else is an error, never looped.
    ec = sys_error(EIO);
    return 0;
  }
  return done;
}

bool Queue::vnet_invalid(std::span<const std::byte> packet) const noexcept {
  if (vnet_size_ == 0) return false;
  const std::span<const std::byte> one[1] = {packet};
  return vnet_problem(one, packet.size(), vnet_size_, !vnet_be_).has_value();
}

WaitResult Queue::wait(short events, int timeout_ms, std::error_code& ec) noexcept {
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

WaitResult Queue::wait_readable(std::chrono::milliseconds timeout) {
  std::error_code ec;
  const WaitResult w = wait_readable(timeout, ec);
  if (ec) throw_io("poll", ec);
  return w;
}

WaitResult Queue::wait_readable(std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  return wait(POLLIN, to_timeout_ms(timeout), ec);
}

WaitResult Queue::wait_writable(std::chrono::milliseconds timeout) {
  std::error_code ec;
  const WaitResult w = wait_writable(timeout, ec);
  if (ec) throw_io("poll", ec);
  return w;
}

WaitResult Queue::wait_writable(std::chrono::milliseconds timeout, std::error_code& ec) noexcept {
  return wait(POLLOUT, to_timeout_ms(timeout), ec);
}

void Queue::interrupt() noexcept {
  if (wake_fd_ < 0) return;
  const std::uint64_t one = 1;
  // Only write(2): async-signal-safe. EAGAIN means the counter is saturated, i.e. already set.
  (void)retry_eintr([&] { return sys_->write(wake_fd_, &one, sizeof one); });
}

void Queue::clear_interrupt() noexcept {
  if (wake_fd_ < 0) return;
  std::uint64_t value = 0;
  (void)retry_eintr([&] { return sys_->read(wake_fd_, &value, sizeof value); });
}

void Queue::throw_io(const char* op, std::error_code ec) const {
  const bool is_write = op[0] == 'w';
  if (is_write && ec.category() == std::system_category() && ec.value() == EINVAL) {
    detail::throw_error(ec, op, name_,
                        mode_ == Mode::tun ? "the kernel accepts only IPv4 or IPv6 packets here"
                                           : "the kernel rejected the frame (too short?)");
  }
  detail::throw_error(ec, op, name_, io_hint(ec));
}

}  // namespace tunkit
