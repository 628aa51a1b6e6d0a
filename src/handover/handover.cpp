// Handing a device's queues to another process: send_device / receive_device over a Unix socket
// (SCM_RIGHTS and a small versioned header), and the LISTEN_FDS convention (listen_fds,
// TunDevice::from_environment).
#include "tunkit/handover.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <utility>

#include <fmt/format.h>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "tunkit/detail/owned_fd.hpp"
#include "tunkit/error.hpp"

namespace tunkit {
namespace {

using detail::retry_eintr;
using detail::sys_error;

// The message, version 1 (little-endian):
//   "TKHO"  u16 version  u16 header size  u16 queue count  u16 flags  u32 offloads  u32 ifindex
//   char name[16]  u16 purpose length  purpose bytes
// A reader takes fields up to the header size it knows and skips the rest, so a later version
// may add fields before the purpose without breaking version-1 readers (the version still says
// which rules apply).
constexpr std::array<char, 4> kMagic{'T', 'K', 'H', 'O'};
constexpr std::uint16_t kVersion = 1;
constexpr std::size_t kFixedSize = 4 + 2 + 2 + 2 + 2 + 4 + 4 + 16;  // up to the purpose length
constexpr std::size_t kMaxPurpose = 255;
constexpr std::size_t kMaxMessage = kFixedSize + 2 + kMaxPurpose;
constexpr std::uint16_t kPacketInfo = 0x1;
constexpr std::uint16_t kOffloadsKnown = 0x2;
// SCM_MAX_FD: the most descriptors one SCM_RIGHTS message carries.
constexpr std::size_t kMaxFds = 253;
constexpr std::size_t kControlSize = CMSG_SPACE(sizeof(int) * kMaxFds);

// A failed step, with text of its own.
struct Failed {
  std::error_code code;
  std::string op;
  std::string device;
  std::string hint;
};

[[noreturn]] void raise(const Failed& f) {
  throw make_error(f.code, f.op, f.device, f.hint);
}

// Fills `out` (text is best effort) and returns false.
bool fail(Failed& out, std::error_code code, std::string_view op, std::string_view device,
          std::string_view hint) noexcept {
  out.code = code;
  try {
    out.op = op;
    out.device = device;
    out.hint = hint;
  } catch (...) {
    out.op.clear();
    out.device.clear();
    out.hint.clear();
  }
  return false;
}

void put16(std::byte* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::byte>(v & 0xff);
  p[1] = static_cast<std::byte>(v >> 8);
}
void put32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
std::uint16_t get16(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                    (std::to_integer<unsigned>(p[1]) << 8));
}
std::uint32_t get32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}

// Refuses a stream socket (a message could arrive split); a seam without getsockopt passes.
bool check_socket_type(int sock, sys::Syscalls& sys, std::string_view op, std::string_view device,
                       Failed& out) noexcept {
  int type = 0;
  socklen_t len = sizeof type;
  const int r = sys.getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len);
  if (r == -ENOSYS) return true;
  if (r < 0) {
    return fail(out, sys_error(-r), op, device,
                r == -ENOTSOCK ? "the descriptor given as the socket is not a socket" : "SO_TYPE");
  }
  if (type == SOCK_STREAM) {
    return fail(out, sys_error(EINVAL), op, device,
                "a stream socket: use SOCK_SEQPACKET or SOCK_DGRAM, which keep the message whole");
  }
  return true;
}

// The peer's credentials (SO_PEERCRED) into `peer` where the socket tells; when `uid` or `gid`
// is given, the peer must have it.
bool check_peer(int sock, std::optional<uid_t> uid, std::optional<gid_t> gid, sys::Syscalls& sys,
                std::string_view op, std::string_view device, std::optional<PeerCredentials>& peer,
                Failed& out) noexcept {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (const int r = sys.getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len); r == 0) {
    peer = PeerCredentials{cred.pid, cred.uid, cred.gid};
  } else if (uid || gid) {
    return fail(out, sys_error(-r), op, device, "SO_PEERCRED: the peer cannot be checked");
  }
  if (peer && ((uid && *uid != peer->uid) || (gid && *gid != peer->gid))) {
    std::string hint;
    try {
      hint =
          fmt::format("the peer is uid {} gid {} (pid {}), not {}", peer->uid, peer->gid, peer->pid,
                      uid && *uid != peer->uid ? fmt::format("uid {}", *uid)
                                               : fmt::format("gid {}", gid.value_or(0)));
    } catch (...) {
    }
    return fail(out, sys_error(EPERM), op, device, hint);
  }
  return true;
}

bool send_impl(int sock, const TunDevice& device, const SendOptions& options, sys::Syscalls& sys,
               Failed& out) noexcept {
  constexpr std::string_view op = "send_device";
  if (!device.is_open()) return fail(out, errc::not_open, op, {}, {});
  const std::string& name = device.name();
  if (options.purpose.size() > kMaxPurpose) {
    return fail(out, sys_error(EINVAL), op, name, "the purpose is longer than 255 bytes");
  }
  const std::size_t n = device.queue_count();
  if (n > kMaxFds) {
    return fail(out, sys_error(E2BIG), op, name,
                "more than 253 queues do not fit in one message (SCM_MAX_FD)");
  }
  std::array<int, kMaxFds> fds{};
  for (std::size_t i = 0; i < n; ++i) {
    const Queue& q = device.queue(i);
    if (!q.enabled()) {
      return fail(out, sys_error(EINVAL), op, name,
                  "a queue is disabled: enable it first (a receiver refuses disabled queues)");
    }
    fds[i] = q.native_handle();
  }
  if (!check_socket_type(sock, sys, op, name, out)) return false;
  std::optional<PeerCredentials> peer;
  if (!check_peer(sock, options.peer_uid, options.peer_gid, sys, op, name, peer, out)) {
    return false;
  }

  std::array<std::byte, kMaxMessage> msg{};
  std::memcpy(msg.data(), kMagic.data(), kMagic.size());
  put16(&msg[4], kVersion);
  put16(&msg[6], static_cast<std::uint16_t>(kFixedSize));
  put16(&msg[8], static_cast<std::uint16_t>(n));
  // Offloads are known when this object set them, or when the device has no virtio-net header
  // (tunkit turns them off at open then: no reader could take them).
  std::error_code flags_ec;
  const bool vnet = device.flags(flags_ec).has(Flag::vnet_hdr);
  if (flags_ec) return fail(out, flags_ec, op, name, "TUNGETIFF");
  const bool known = !device.offloads().empty() || !vnet;
  std::uint16_t flags = 0;
  if (device.queue(0).has_packet_info()) flags |= kPacketInfo;
  if (known) flags |= kOffloadsKnown;
  put16(&msg[10], flags);
  put32(&msg[12], known ? device.offloads().bits() : 0);
  put32(&msg[16], device.ifindex());
  std::memcpy(&msg[20], name.data(), std::min<std::size_t>(name.size(), 15));
  put16(&msg[kFixedSize], static_cast<std::uint16_t>(options.purpose.size()));
  std::memcpy(&msg[kFixedSize + 2], options.purpose.data(), options.purpose.size());

  iovec iov{msg.data(), kFixedSize + 2 + options.purpose.size()};
  alignas(cmsghdr) std::array<char, kControlSize> control{};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.data();
  mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n);
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * n);
  const ssize_t r = retry_eintr([&] { return sys.sendmsg(sock, &mh, MSG_NOSIGNAL); });
  if (r < 0) {
    std::string_view hint;
    switch (-r) {
      case EPIPE:
      case ECONNRESET:
      case ECONNREFUSED:
        hint = "the receiver closed its end";
        break;
      case EAGAIN:
        hint = "the socket is full";
        break;
      case ENOTSOCK:
        hint = "the descriptor given as the socket is not a socket";
        break;
      default:
        break;
    }
    return fail(out, sys_error(static_cast<int>(-r)), op, name, hint);
  }
  return true;
}

// One received message: the header and the descriptors, owned until adopted.
struct Message {
  HandOverInfo info;
  std::size_t count = 0;
  std::vector<detail::OwnedFd> fds;
  std::optional<PeerCredentials> peer;
};

bool receive_message(int sock, const ReceiveOptions& options, sys::Syscalls& sys, Message& m,
                     Failed& out) noexcept {
  constexpr std::string_view op = "receive_device";
  if (options.max_queues == 0 || options.max_queues > kMaxFds) {
    return fail(out, sys_error(EINVAL), op, {}, "ReceiveOptions::max_queues must be 1..253");
  }
  try {
    m.fds.reserve(kMaxFds);
  } catch (...) {
    return fail(out, sys_error(ENOMEM), op, {}, {});
  }
  if (!check_socket_type(sock, sys, op, {}, out)) return false;

  // The sender, checked before anything of its is taken.
  if (!check_peer(sock, options.peer_uid, options.peer_gid, sys, op, {}, m.peer, out)) {
    return false;
  }

  std::array<std::byte, kMaxMessage> msg{};
  iovec iov{msg.data(), msg.size()};
  alignas(cmsghdr) std::array<char, kControlSize> control{};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.data();
  mh.msg_controllen = CMSG_SPACE(sizeof(int) * options.max_queues);
  const ssize_t r = retry_eintr([&] { return sys.recvmsg(sock, &mh, MSG_CMSG_CLOEXEC); });
  if (r < 0) {
    return fail(out, sys_error(static_cast<int>(-r)), op, {},
                r == -EAGAIN ? "no device sent yet" : "");
  }
  // Every descriptor that arrived is owned from here on: closed on any failure below.
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n && m.fds.size() < kMaxFds; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      m.fds.emplace_back(fd, sys);
    }
  }
  if ((mh.msg_flags & MSG_CTRUNC) != 0) {
    return fail(out, sys_error(EMSGSIZE), op, {},
                fmt::format("more descriptors than ReceiveOptions::max_queues ({}): the kernel "
                            "closed the rest, tunkit those that arrived",
                            options.max_queues));
  }
  if (r == 0 && m.fds.empty()) {
    return fail(out, errc::handover_protocol, op, {},
                "the peer closed the socket without sending a device");
  }
  if ((mh.msg_flags & MSG_TRUNC) != 0) {
    return fail(out, errc::handover_protocol, op, {}, "longer than a tunkit hand-over message");
  }
  const auto size = static_cast<std::size_t>(r);
  if (size < kMagic.size() || std::memcmp(msg.data(), kMagic.data(), kMagic.size()) != 0) {
    return fail(out, errc::handover_protocol, op, {}, "no tunkit hand-over header");
  }
  if (size < 8) return fail(out, errc::handover_protocol, op, {}, "a truncated header");
  const std::uint16_t version = get16(&msg[4]);
  const std::uint16_t header = get16(&msg[6]);
  if (version != kVersion) {
    return fail(out, errc::handover_protocol, op, {},
                fmt::format("version {}; this tunkit reads version {}", version, kVersion));
  }
  if (header < kFixedSize || size < std::size_t{header} + 2) {
    return fail(out, errc::handover_protocol, op, {}, "a truncated header");
  }
  m.count = get16(&msg[8]);
  const std::uint16_t flags = get16(&msg[10]);
  try {
    m.info.packet_info = (flags & kPacketInfo) != 0;
    if ((flags & kOffloadsKnown) != 0) {
      m.info.offloads = Offloads::from_bits(static_cast<std::uint16_t>(get32(&msg[12])));
    }
    m.info.ifindex = get32(&msg[16]);
    const auto* name = reinterpret_cast<const char*>(&msg[20]);
    m.info.name.assign(name, strnlen(name, 16));
    const std::uint16_t purpose = get16(&msg[header]);
    if (size < std::size_t{header} + 2 + purpose) {
      return fail(out, errc::handover_protocol, op, m.info.name, "a truncated purpose");
    }
    m.info.purpose.assign(reinterpret_cast<const char*>(&msg[std::size_t{header} + 2]), purpose);
  } catch (...) {
    return fail(out, sys_error(ENOMEM), op, {}, {});
  }
  if (m.count != m.fds.size()) {
    return fail(
        out, errc::handover_protocol, op, m.info.name,
        fmt::format("the header announces {} descriptors, {} arrived", m.count, m.fds.size()));
  }
  if (!options.name.empty() && options.name != m.info.name) {
    return fail(out, sys_error(EINVAL), op, m.info.name,
                fmt::format("not \"{}\", the device asked for", options.name));
  }
  return true;
}

AdoptOptions adopt_options(const Message& m, const ReceiveOptions& options) {
  AdoptOptions a;
  a.name = m.info.name;
  a.packet_info = m.info.packet_info;
  a.offloads = m.info.offloads;
  a.non_blocking = options.non_blocking;
  return a;
}

std::vector<int> numbers(const std::vector<detail::OwnedFd>& fds) {
  std::vector<int> out;
  out.reserve(fds.size());
  for (const auto& fd : fds)
    out.push_back(fd.get());
  return out;
}

// A decimal number, all of `s`.
std::optional<unsigned long> parse_number(std::string_view s) {
  unsigned long v = 0;
  const auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (err != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

void send_device(int unix_socket, const TunDevice& device, const SendOptions& options,
                 sys::Syscalls& sys) {
  Failed f;
  if (!send_impl(unix_socket, device, options, sys, f)) raise(f);
}

void send_device(int unix_socket, const TunDevice& device, std::error_code& ec,
                 const SendOptions& options, sys::Syscalls& sys) noexcept {
  Failed f;
  ec = send_impl(unix_socket, device, options, sys, f) ? std::error_code{} : f.code;
}

ReceivedDevice receive_device(int unix_socket, const ReceiveOptions& options, sys::Syscalls& sys) {
  Message m;
  Failed f;
  if (!receive_message(unix_socket, options, sys, m, f)) raise(f);
  ReceivedDevice out;
  out.device = TunDevice::adopt(numbers(m.fds), adopt_options(m, options), sys);
  for (auto& fd : m.fds)
    (void)fd.release();  // the device owns them now
  out.info = std::move(m.info);
  out.peer = m.peer;
  return out;
}

ReceivedDevice receive_device(int unix_socket, std::error_code& ec, const ReceiveOptions& options,
                              sys::Syscalls& sys) noexcept {
  Message m;
  Failed f;
  if (!receive_message(unix_socket, options, sys, m, f)) {
    ec = f.code;
    return {};
  }
  ReceivedDevice out;
  try {
    out.device = TunDevice::adopt(numbers(m.fds), ec, adopt_options(m, options), sys);
    if (ec) return {};
    for (auto& fd : m.fds)
      (void)fd.release();
    out.info = std::move(m.info);
  } catch (...) {
    ec = sys_error(ENOMEM);
    return {};
  }
  out.peer = m.peer;
  return out;
}

std::vector<ListenFd> listen_fds(std::optional<std::string_view> listen_pid,
                                 std::optional<std::string_view> listen_fds,
                                 std::optional<std::string_view> listen_fdnames, pid_t pid) {
  constexpr std::string_view op = "LISTEN_FDS";
  if (!listen_pid) return {};
  const auto owner = parse_number(*listen_pid);
  if (!owner) {
    throw make_error(sys_error(EINVAL), op, {},
                     fmt::format("LISTEN_PID=\"{}\" is not a process id", *listen_pid));
  }
  if (*owner != static_cast<unsigned long>(pid)) return {};  // meant for another process
  if (!listen_fds) {
    throw make_error(sys_error(EINVAL), op, {}, "LISTEN_PID is set without LISTEN_FDS");
  }
  const auto count = parse_number(*listen_fds);
  if (!count || *count > kMaxFds) {
    throw make_error(sys_error(EINVAL), op, {},
                     fmt::format("LISTEN_FDS=\"{}\" is not a count of 0..253", *listen_fds));
  }
  std::vector<ListenFd> out(*count);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].fd = static_cast<int>(3 + i);  // SD_LISTEN_FDS_START
    out[i].name = "unknown";              // systemd's name for a descriptor without one
  }
  if (listen_fdnames) {
    std::vector<std::string_view> names;
    std::string_view rest = *listen_fdnames;
    for (;;) {
      const auto colon = rest.find(':');
      names.push_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    if (names.size() != out.size()) {
      throw make_error(
          sys_error(EINVAL), op, {},
          fmt::format("LISTEN_FDNAMES has {} names for {} descriptors", names.size(), out.size()));
    }
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i].name = std::string(names[i]);
  }
  return out;
}

TunDevice TunDevice::from_environment(const AdoptOptions& adopt, sys::Syscalls& sys) {
  auto env = [](const char* name) -> std::optional<std::string_view> {
    const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): documented
    return v != nullptr ? std::optional<std::string_view>(v) : std::nullopt;
  };
  const std::vector<ListenFd> passed =
      listen_fds(env("LISTEN_PID"), env("LISTEN_FDS"), env("LISTEN_FDNAMES"), ::getpid());
  if (passed.empty()) return {};
  std::vector<int> fds;
  for (const ListenFd& l : passed) {
    if (adopt.name.empty() || l.name == adopt.name) fds.push_back(l.fd);
  }
  if (fds.empty()) {
    throw make_error(sys_error(ENOENT), "LISTEN_FDS", adopt.name,
                     "no descriptor of that name in LISTEN_FDNAMES");
  }
  TunDevice dev = TunDevice::adopt(fds, adopt, sys);
  if (fds.size() == passed.size()) {
    ::unsetenv("LISTEN_PID");  // NOLINT(concurrency-mt-unsafe): documented
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
  }
  return dev;
}

}  // namespace tunkit
