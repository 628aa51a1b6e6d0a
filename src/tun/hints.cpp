#include "tun/hints.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>

#include "detail/eintr.hpp"
#include "tunkit/error.hpp"

namespace tunkit::detail {
namespace {

// The driver matches the first FLT_EXACT_COUNT (8) addresses of a TX filter exactly and hashes
// the rest, which must be multicast: one unicast address among them turns filtering off.
constexpr std::size_t kTxFilterExact = 8;

constexpr std::string_view kEbpfHint = "needs a loaded BPF_PROG_TYPE_SOCKET_FILTER program";

}  // namespace

std::string_view setiff_hint(int err, const Options& o) noexcept {
  switch (err) {
    case EPERM:
    case EACCES:
      return "needs CAP_NET_ADMIN, or to be the device's owner or in its group";
    case EBUSY:
      // A taken TUNSETIFINDEX index is EBUSY too (register_netdevice()).
      if (o.ifindex && *o.ifindex != 0) {
        return o.exclusive ? "the device exists and Options::exclusive (IFF_TUN_EXCL) is set, "
                             "or the index in Options::ifindex is taken"
                           : "another process has it open without IFF_MULTI_QUEUE, or the index "
                             "in Options::ifindex is taken";
      }
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
      return "needs read and write access to /dev/net/tun: run as root, or ask an administrator "
             "to grant it and to create the device with an owner or group that includes you (see "
             "docs/permissions-and-namespaces.md)";
    default:
      return {};
  }
}

std::string_view shown_name(const Options& o) noexcept {
  if (!o.name.empty()) return o.name;
  return o.mode == Mode::tap ? "tap%d" : "tun%d";
}

std::string_view cap_hint(std::error_code ec) noexcept {
  return is_errno(ec, EPERM) || is_errno(ec, EACCES) ? "needs CAP_NET_ADMIN" : "";
}

std::string_view owner_hint(std::error_code ec) noexcept {
  if (is_errno(ec, EINVAL)) {
    return "the id is -1, or not mapped in this user namespace (an unprivileged user namespace "
           "maps only its creator's own ids)";
  }
  return cap_hint(ec);
}

std::string_view hint_for(std::error_code ec, int err, std::string_view hint) noexcept {
  return is_errno(ec, err) ? hint : std::string_view{};
}

std::string_view ebpf_hint(std::error_code ec) noexcept {
  return is_errno(ec, EBADF) || is_errno(ec, EINVAL) ? kEbpfHint : std::string_view{};
}

std::string_view offload_problem(Offloads o, bool vnet_hdr) noexcept {
  using enum Offload;
  if (!o.empty() && !vnet_hdr) return "offloads need Options::vnet_hdr (IFF_VNET_HDR)";
  if ((o.bits() & ~Offloads::all().bits()) != 0) return "unknown offload flags";
  if (!o.empty() && !o.has(csum)) return "every offload needs Offload::csum";
  if (o.has(tso_ecn) && (o & (tso4 | tso6)).empty()) return "tso_ecn needs tso4 or tso6";
  if (o.has(uso4) != o.has(uso6)) return "uso4 and uso6 go together";
  if (o.has(udp_tunnel_gso_csum) && !o.has(udp_tunnel_gso)) {
    return "udp_tunnel_gso_csum needs udp_tunnel_gso";
  }
  if (o.has(udp_tunnel_gso) && (o & (tso4 | tso6 | uso4)).empty()) {
    return "udp_tunnel_gso needs TSO or USO";
  }
  return {};
}

std::string_view tx_filter_problem(std::span<const MacAddress> macs) noexcept {
  if (macs.size() > 0xFFFF) return "at most 65535 addresses";
  const auto unicast = std::count_if(macs.begin(), macs.end(),
                                     [](const MacAddress& m) { return !m.is_multicast(); });
  if (static_cast<std::size_t>(unicast) > kTxFilterExact) {
    return "at most 8 unicast addresses: the kernel matches only 8 exactly";
  }
  return {};
}

std::string_view io_hint(std::error_code ec) noexcept {
  if (ec == std::errc::operation_would_block) return {};
  if (is_errno(ec, EBADFD)) return kInterfaceDeleted;
  if (is_errno(ec, EIO)) return "the interface is down: bring it up first";
  if (ec == errc::packet_truncated) return "use a buffer of at least the MTU plus headers";
  return {};
}

std::string_view gone_or(std::error_code ec, std::string_view hint) noexcept {
  return is_errno(ec, EBADFD) ? kInterfaceDeleted : hint;
}

std::string_view write_einval_hint(Mode mode) noexcept {
  return mode == Mode::tun ? "the kernel accepts only IPv4 or IPv6 packets here"
                           : "the kernel rejected the frame (too short?)";
}

}  // namespace tunkit::detail
