#include "tunkit/queue.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "detail/ifname.hpp"
#include "detail/real_sys.hpp"
#include "offload/vnet_internal.hpp"
#include "tun/hints.hpp"
#include "tun/observed.hpp"
#include "tunkit/detail/tun_wire.hpp"
#include "tunkit/error.hpp"
#include "tunkit/vnet.hpp"

namespace tunkit {
namespace {

using detail::retry_eintr;
using detail::sys_error;

int to_timeout_ms(std::chrono::milliseconds t) noexcept {
  if (t.count() < 0) return -1;
  if (t.count() > INT32_MAX) return INT32_MAX;
  return static_cast<int>(t.count());
}

// The checks the kernel would answer with a bare EINVAL, done before the write so the caller
// learns which field is wrong (tun_get_user / virtio_net_hdr_to_skb). Field checks only: no
// packet parsing on the hot path. The header may span several buffers (writev). Returns the
// reason, or nullopt when the header is acceptable.
std::optional<OffloadError> vnet_problem(std::span<const std::span<const std::byte>> bufs,
                                         std::size_t total, detail::VnetConfig vnet,
                                         Mode mode) noexcept {
  if (total < vnet.size) {
    return OffloadError{
        OffloadReason::header_truncated, static_cast<std::uint32_t>(total), vnet.size, {}};
  }
  // The fields are in the first 12 bytes; a larger header's other bytes are not looked at.
  std::array<std::byte, VirtioNetHeader::mrg_rxbuf_size> fields{};
  const std::size_t want = std::min<std::size_t>(vnet.size, fields.size());
  std::size_t got = 0;
  for (const auto& b : bufs) {
    if (got == want) break;
    const std::size_t n = std::min(b.size(), want - got);
    std::memcpy(fields.data() + got, b.data(), n);
    got += n;
  }
  const auto h = VirtioNetHeader::parse(std::span(fields).first(want), want, !vnet.big_endian());
  if (!h) return h.error();
  if (auto e = h->check_fields(total - vnet.size)) return e;
  if (h->gso_type == GsoType::none || h->needs_csum) return std::nullopt;
  // The rest of the kernel's rules read the packet's first bytes (a GSO header without
  // NEEDS_CSUM, rare): gathered from wherever the buffers put them.
  std::array<std::byte, detail::kKernelCheckHead> head{};
  std::size_t skip = vnet.size;
  std::size_t have = 0;
  for (const auto& b : bufs) {
    if (skip >= b.size()) {
      skip -= b.size();
      continue;
    }
    const std::size_t n = std::min(b.size() - skip, head.size() - have);
    std::memcpy(head.data() + have, b.data() + skip, n);
    have += n;
    skip = 0;
    if (have == head.size()) break;
  }
  return detail::kernel_vnet_problem(*h, std::span(head).first(have), total - vnet.size, mode);
}

// Whether an interface named `name` exists in the caller's network namespace (SIOCGIFINDEX); a
// name template ("tun%d") or an empty name never names an existing device.
bool interface_exists(sys::Syscalls& sys, std::string_view name) noexcept {
  if (name.empty() || name.find('%') != std::string_view::npos || name.size() >= IFNAMSIZ) {
    return false;
  }
  const int s = retry_eintr([&] { return sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); });
  if (s < 0) return true;  // cannot tell: keep the hint that names both ways
  const detail::OwnedFd sock(s, sys);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  return retry_eintr([&] { return sys.ioctl(sock.get(), SIOCGIFINDEX, &ifr); }) >= 0;
}

// What VirtioNetHeader::check finds wrong with the header against the packet behind it (which it
// parses: for messages only, never on the hot path).
std::optional<OffloadError> packet_problem(std::span<const std::span<const std::byte>> bufs,
                                           detail::VnetConfig vnet) {
  std::vector<std::byte> bytes;
  for (const auto& b : bufs)
    bytes.insert(bytes.end(), b.begin(), b.end());
  const auto h = VirtioNetHeader::parse(bytes, vnet.size, !vnet.big_endian());
  if (!h) return h.error();
  return h->check(std::span(bytes).subspan(vnet.size));
}

}  // namespace

namespace detail {

// The device's virtio-net header as the kernel uses it for `fd`'s device: TUNGETVNETHDRSZ and the
// byte-order settings (kernels built without CONFIG_TUN_VNET_CROSS_LE answer EINVAL to
// TUNGETVNETBE: no big-endian header there).
Failure read_vnet(int fd, sys::Syscalls& sys, VnetConfig& out) noexcept {
  int size = 0;
  if (int r = retry_eintr([&] { return sys.ioctl(fd, TUNGETVNETHDRSZ, &size); }); r < 0) {
    return {sys_error(-r), "TUNGETVNETHDRSZ", {}};
  }
  int le = 0;
  if (int r = retry_eintr([&] { return sys.ioctl(fd, TUNGETVNETLE, &le); }); r < 0) {
    return {sys_error(-r), "TUNGETVNETLE", {}};
  }
  int be = 0;
  if (int r = retry_eintr([&] { return sys.ioctl(fd, TUNGETVNETBE, &be); }); r < 0) {
    if (r != -EINVAL) return {sys_error(-r), "TUNGETVNETBE", {}};
    be = 0;
  }
  out.size = static_cast<std::uint32_t>(size);
  out.le = le != 0;
  out.be = be != 0;
  return {};
}

}  // namespace detail

Queue::Queue(const Options& options, sys::Syscalls& sys) {
  if (const detail::Failure f = open_impl(options, sys)) detail::raise(f);
}

void Queue::close() noexcept {
  // close(2) is never retried: on Linux the descriptor is gone even when it reports EINTR.
  fd_.reset();
  wake_.reset();
  ifindex_ = 0;
  open_id_ = 0;
  enabled_.store(true);
  vnet_.store({});
  name_.clear();
}

int Queue::release() noexcept {
  const int fd = fd_.release();
  close();
  return fd;
}

void Queue::open(const Options& options, std::error_code& ec, sys::Syscalls& sys) {
  ec = open_impl(options, sys).code;
  if (ec) close();  // a failure after TUNSETIFF leaves the resolved name behind
}

detail::Failure Queue::open_impl(const Options& options, sys::Syscalls& sys) noexcept {
  close();
  const std::string_view shown = detail::shown_name(options);
  auto fail = [&](std::error_code e, std::string_view op, std::string_view hint) {
    return detail::Failure{e, op, shown, hint};
  };

  if (auto bad = detail::validate_interface_name(options.name)) {
    return fail(bad, "open", detail::interface_name_hint(bad));
  }
  // The kernel refuses these with a bare EINVAL that TUNSETIFF's hint would misexplain.
  if (options.napi_frags && (!options.napi || options.mode != Mode::tap)) {
    return fail(sys_error(EINVAL), "open", "Options::napi_frags needs Options::napi and Mode::tap");
  }

  const int tun =
      retry_eintr([&] { return sys.open(detail::kTunPath, O_RDWR | O_CLOEXEC | O_NONBLOCK); });
  if (tun < 0) return fail(sys_error(-tun), "open /dev/net/tun for", detail::open_hint(-tun));
  detail::OwnedFd fd(tun, sys);

  // Optional flags are offered by TUNGETFEATURES; an old kernel would ignore or reject them
  // without saying which, so ask first and name the missing one.
  const bool wants_optional =
      std::any_of(detail::kOptionalFlags.begin(), detail::kOptionalFlags.end(),
                  [&](const detail::OptionalFlag& f) { return detail::wants(options, f); });
  if (wants_optional) {
    unsigned int features = 0;
    if (int r = retry_eintr([&] { return sys.ioctl(fd.get(), TUNGETFEATURES, &features); });
        r < 0) {
      return fail(sys_error(-r), "TUNGETFEATURES for", {});
    }
    for (const auto& f : detail::kOptionalFlags) {
      if (detail::wants(options, f) && (features & static_cast<unsigned>(f.flag)) == 0) {
        return fail(make_error_code(errc::feature_unsupported), "open", f.name);
      }
    }
  }

  if (options.ifindex && *options.ifindex != 0) {
    unsigned int index = *options.ifindex;
    if (int r = retry_eintr([&] { return sys.ioctl(fd.get(), TUNSETIFINDEX, &index); }); r < 0) {
      return fail(sys_error(-r), "TUNSETIFINDEX", {});
    }
  }

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, options.name.data(), options.name.size());
  ifr.ifr_flags = static_cast<short>(detail::setiff_flags(options).bits());
  if (int r = retry_eintr([&] { return sys.ioctl(fd.get(), TUNSETIFF, &ifr); }); r < 0) {
    // Permission: the owner or group of an existing device may attach; creating one needs
    // CAP_NET_ADMIN whoever asks. Which of the two applies is looked up, not guessed.
    const bool denied = r == -EPERM || r == -EACCES;
    // IFF_NAPI_FRAGS is checked before anything else, against the initial user namespace.
    if (r == -EPERM && options.napi_frags) {
      return fail(sys_error(-r), "TUNSETIFF", detail::kNapiFragsNeedsCap);
    }
    if (denied && !interface_exists(sys, options.name)) {
      return fail(sys_error(-r), "TUNSETIFF", detail::kCreateNeedsCap);
    }
    return fail(sys_error(-r), "TUNSETIFF", detail::setiff_hint(-r, options));
  }
  // The device exists now, under its resolved name ("tun%d" became "tun3"): later failures name
  // it. At most 15 bytes, within the string's own storage: no allocation.
  name_.assign(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  auto fail_named = [&](std::error_code e, std::string_view op, std::string_view hint) {
    return detail::Failure{e, op, name_, hint};
  };
  // Ask the kernel how it frames this queue's packets. A queue joining a multi-queue device that
  // other queues hold gets the device's flags, not the ones asked for (tun_set_iff() returns
  // before it sets them; measured): a different virtio-net header would misframe every packet,
  // so refuse it. And while a classic BPF filter is attached to a TAP device, a TUNSETIFF
  // without IFF_NO_PI (a bit it also reads as IFF_NOFILTER) answers 0 yet leaves the descriptor
  // unattached (Linux 6.18, measured): TUNGETIFF then fails with EBADFD.
  ifreq check{};
  if (int r = retry_eintr([&] { return sys.ioctl(fd.get(), TUNGETIFF, &check); }); r < 0) {
    if (r == -EBADFD && options.mode == Mode::tap && options.packet_info) {
      return fail_named(sys_error(EBADFD), "TUNSETIFF", detail::kFilterBlocksAttach);
    }
    return fail_named(sys_error(-r), "TUNGETIFF", {});
  }
  const bool device_vnet =
      (static_cast<unsigned>(check.ifr_flags) & static_cast<unsigned>(Flag::vnet_hdr)) != 0;
  if (device_vnet != options.vnet_hdr) {
    return fail_named(sys_error(EINVAL), "TUNSETIFF",
                      device_vnet ? detail::kDeviceHasVnet : detail::kDeviceHasNoVnet);
  }

  // The virtio-net header is the device's: an existing device may have been given another size
  // or byte order by its other users, so read it back instead of assuming the default.
  detail::VnetConfig vnet;
  if (options.vnet_hdr) {
    if (auto f = detail::read_vnet(fd.get(), sys, vnet)) return fail_named(f.code, f.op, {});
  }

  const int event = retry_eintr([&] { return sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (event < 0) return fail_named(sys_error(-event), "eventfd for", {});
  detail::OwnedFd wake(event, sys);

  // The interface index, looked up now: it stays valid across renames and namespace moves,
  // where a later look-up by name would not.
  const int s = retry_eintr([&] { return sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); });
  if (s < 0) return fail_named(sys_error(-s), "socket for SIOCGIFINDEX of", {});
  const detail::OwnedFd sock(s, sys);
  ifreq idx{};
  std::memcpy(idx.ifr_name, ifr.ifr_name, IFNAMSIZ);
  if (int r = retry_eintr([&] { return sys.ioctl(sock.get(), SIOCGIFINDEX, &idx); }); r < 0) {
    return fail_named(sys_error(-r), "SIOCGIFINDEX", {});
  }

  static std::atomic<std::uint64_t> opens{0};
  open_id_ = opens.fetch_add(1, std::memory_order_relaxed) + 1;
  fd_ = std::move(fd);
  wake_ = std::move(wake);
  ifindex_ = static_cast<unsigned>(idx.ifr_ifindex);
  mode_ = options.mode;
  packet_info_ = options.packet_info;
  direct_ = sys::detail::is_real(fd_) && !packet_info_;
  non_blocking_ = options.non_blocking;
  vnet_.store(vnet);
  enabled_.store(true);
  return {};
}

Flags Queue::flags() const {
  std::error_code ec;
  Flags f = flags(ec);
  if (ec) detail::raise({ec, "TUNGETIFF", name_, detail::gone_or(ec, {})});
  return f;
}

Flags Queue::flags(std::error_code& ec) const noexcept {
  ec.clear();
  if (!fd_) {
    ec = errc::not_open;
    return {};
  }
  ifreq ifr{};
  if (int r = retry_eintr([&] { return fd_.sys().ioctl(fd_.get(), TUNGETIFF, &ifr); }); r < 0) {
    ec = sys_error(-r);
    return {};
  }
  return detail::flags_from_getiff(static_cast<std::uint16_t>(ifr.ifr_flags), packet_info_);
}

std::error_code Queue::set_queue(bool attach) noexcept {
  if (!fd_) return errc::not_open;
  ifreq ifr{};
  ifr.ifr_flags = static_cast<short>(attach ? detail::kAttachQueue : detail::kDetachQueue);
  if (int r = retry_eintr([&] { return fd_.sys().ioctl(fd_.get(), TUNSETQUEUE, &ifr); }); r < 0) {
    // The kernel answers EINVAL to a queue whose interface is gone, as to a device without
    // multi-queue or a queue already in that state: tell them apart.
    return detail::observed_cause(fd_.sys(), fd_.get(), sys_error(-r));
  }
  if (attach && mode_ == Mode::tap) {
    // While a classic BPF filter is attached, Linux (6.18, measured) answers 0 to
    // IFF_ATTACH_QUEUE but leaves the queue disabled (tun_attach() returns early after attaching
    // the filter). TUNGETIFF shows IFF_DETACH_QUEUE on a disabled queue.
    ifreq check{};
    if (int r = retry_eintr([&] { return fd_.sys().ioctl(fd_.get(), TUNGETIFF, &check); }); r < 0) {
      return sys_error(-r);
    }
    if ((static_cast<unsigned>(check.ifr_flags) & detail::kDetachQueue) != 0) {
      return sys_error(EBUSY);
    }
  }
  enabled_.store(attach);
  return {};
}

void Queue::disable() {
  if (auto ec = set_queue(false)) {
    detail::raise(
        {ec, "TUNSETQUEUE detach", name_,
         detail::gone_or(
             ec, detail::hint_for(ec, EINVAL, "not a multi-queue device, or already disabled"))});
  }
}

void Queue::disable(std::error_code& ec) noexcept {
  ec = set_queue(false);
}

void Queue::enable() {
  if (auto ec = set_queue(true)) {
    std::string_view hint =
        detail::hint_for(ec, EINVAL, "not a multi-queue device, or already enabled");
    if (hint.empty()) hint = detail::hint_for(ec, EBUSY, detail::kFilterBlocksEnable);
    detail::raise({ec, "TUNSETQUEUE attach", name_, detail::gone_or(ec, hint)});
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
  if (!fd_) {
    ec = errc::not_open;
    return 0;
  }
  for (;;) {
    const ssize_t r =
        dir == Dir::in ? sys::io::readv(fd_, iov, iovcnt) : sys::io::writev(fd_, iov, iovcnt);
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

std::size_t Queue::read_rest(std::span<std::byte> buf, ssize_t first,
                             std::error_code& ec) noexcept {
  if ((first == not_tried || first == -EINTR) && !packet_info_ && fd_) {
    // As the inline part, through any seam, or with a buffer smaller than the largest packet:
    // then a spare byte detects a longer packet, as in read_packet.
    std::byte spare{};
    const std::array<iovec, 2> iov{{{buf.data(), buf.size()}, {&spare, 1}}};
    const bool whole = buf.size() >= detail::kLargestPacket + vnet_.load().size;
    do {
      first =
          whole ? sys::io::read(fd_, buf.data(), buf.size()) : sys::io::readv(fd_, iov.data(), 2);
    } while (first == -EINTR);
    if (first >= 0) {
      const auto got = detail::read_outcome(static_cast<std::size_t>(first), buf.size());
      if (got.truncated) {
        ec = errc::packet_truncated;
      } else {
        ec.clear();
      }
      return got.length;
    }
  }
  // A failed attempt consumed nothing: the general path retries it (EINTR, a blocking wait).
  if (first != not_tried && first < 0 && first != -EINTR && (first != -EAGAIN || non_blocking_)) {
    ec = sys_error(static_cast<int>(-first));
    return 0;
  }
  PacketInfo info;
  return read(buf, info, ec);
}

std::size_t Queue::read(std::span<std::byte> buf, PacketInfo& info) {
  std::error_code ec;
  const std::size_t n = read(buf, info, ec);
  if (ec) throw_io("read", ec);
  return n;
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
  detail::PiBytes pi{};
  std::byte spare{};
  int n = 0;
  if (packet_info_) iov[static_cast<std::size_t>(n++)] = {pi.data(), pi.size()};
  std::size_t capacity = 0;
  for (const auto& b : bufs) {
    iov[static_cast<std::size_t>(n++)] = {b.data(), b.size()};
    capacity += b.size();
  }
  if (!packet_info_) iov[static_cast<std::size_t>(n++)] = {&spare, 1};

  const std::size_t got = transfer(Dir::in, iov.data(), n, ec, may_wait);
  if (ec) return 0;
  detail::ReadOutcome out;
  if (packet_info_) {
    out = detail::read_outcome_pi(got, pi);
    if (out.short_read) {
      // Not seen from the kernel; a protocol error as the Asio adapter reports it, not a
      // netlink one.
      ec = std::make_error_code(std::errc::protocol_error);
      return 0;
    }
    info.flags = detail::pi_flags(pi);
    info.protocol = detail::pi_protocol(pi);
  } else {
    out = detail::read_outcome(got, capacity);
    // After the virtio-net header, when the queue reads one (it may end in any buffer).
    if (mode_ == Mode::tun) info.protocol = detail::protocol_at(mode_, bufs, vnet_.load().size);
  }
  if (out.truncated) ec = errc::packet_truncated;
  return out.length;
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

std::size_t Queue::write_rest(std::span<const std::byte> packet, ssize_t first,
                              std::error_code& ec) noexcept {
  if ((first == not_tried || first == -EINTR) && !packet_info_ && vnet_.load().size == 0 && fd_ &&
      !packet.empty()) {
    // As the inline part, through any seam.
    do {
      first = sys::io::write(fd_, packet.data(), packet.size());
    } while (first == -EINTR);
    if (static_cast<std::size_t>(first) == packet.size()) {
      ec.clear();
      return packet.size();
    }
  }
  if (first >= 0) {
    // The tun driver writes whole packets; anything else is an error, never looped.
    ec = sys_error(EIO);
    return 0;
  }
  if (first != not_tried && first < 0 && first != -EINTR && (first != -EAGAIN || non_blocking_)) {
    ec = sys_error(static_cast<int>(-first));
    return 0;
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
  const detail::VnetConfig vnet = vnet_.load();
  // With a virtio-net header, an EINVAL may be the header's fault as well as the packet's: name
  // what is wrong when the full check (the packet parsed) finds it.
  if (vnet.size != 0 && (ec == errc::invalid_vnet_header || detail::is_errno(ec, EINVAL))) {
    std::size_t total = 0;
    for (const auto& b : bufs)
      total += b.size();
    if (auto why = vnet_problem(bufs, total, vnet, mode_))
      throw make_error(ec, op, name_, to_string(*why));
    if (auto why = packet_problem(bufs, vnet)) throw make_error(ec, op, name_, to_string(*why));
    if (detail::is_errno(ec, EINVAL)) detail::raise({ec, op, name_, detail::kVnetWriteRefused});
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
  detail::PiBytes pi{};
  int n = 0;
  if (packet_info_) {
    // The protocol comes from the packet (the IP version, or the frame's EtherType), which starts
    // after the virtio-net header when the queue writes one, in whichever buffer that is.
    pi = detail::encode_pi(detail::protocol_at(mode_, bufs, vnet_.load().size));
    iov[static_cast<std::size_t>(n++)] = {pi.data(), pi.size()};
  }
  std::size_t total = 0;
  for (const auto& b : bufs) {
    // iovec's base is non-const by POSIX's signature; writev never writes through it.
    iov[static_cast<std::size_t>(n++)] = {const_cast<std::byte*>(b.data()), b.size()};
    total += b.size();
  }
  if (total == 0) {
    ec = !fd_ ? std::error_code(errc::not_open) : std::error_code(errc::empty_packet);
    return 0;
  }
  if (const detail::VnetConfig vnet = vnet_.load();
      vnet.size != 0 && fd_ && vnet_problem(bufs, total, vnet, mode_)) {
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

bool Queue::vnet_invalid(std::span<const std::span<const std::byte>> bufs,
                         std::size_t total) const noexcept {
  const detail::VnetConfig vnet = vnet_.load();
  if (vnet.size == 0) return false;
  return vnet_problem(bufs, total, vnet, mode_).has_value();
}

WaitResult Queue::wait(short events, int timeout_ms, std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = errc::not_open;
    return WaitResult::ready;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    std::array<pollfd, 2> fds{{{fd_.get(), events, 0}, {wake_.get(), POLLIN, 0}}};
    const int r = fd_.sys().poll(fds.data(), fds.size(), timeout_ms);
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
  if (!wake_) return;
  const std::uint64_t one = 1;
  // Only write(2): async-signal-safe. EAGAIN means the counter is saturated, i.e. already set.
  (void)retry_eintr([&] { return wake_.sys().write(wake_.get(), &one, sizeof one); });
}

void Queue::clear_interrupt() noexcept {
  if (!wake_) return;
  std::uint64_t value = 0;
  (void)retry_eintr([&] { return wake_.sys().read(wake_.get(), &value, sizeof value); });
}

void Queue::throw_io(const char* op, std::error_code ec) const {
  const bool is_write = op[0] == 'w';
  if (is_write && detail::is_errno(ec, EINVAL)) {
    detail::raise({ec, op, name_, detail::write_einval_hint(mode_)});
  }
  if (!is_write && ec == std::errc::operation_would_block) {
    detail::raise({ec, op, name_, "no packet ready"});
  }
  detail::raise({ec, op, name_, detail::io_hint(ec)});
}

}  // namespace tunkit
