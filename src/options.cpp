#include "tunkit/options.hpp"

#include <linux/if_tun.h>
#include <net/if.h>

#include <array>
#include <cstdio>
#include <utility>

#include "detail/tun.hpp"
#include "tunkit/error.hpp"

namespace tunkit {

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
    std::array<char, 8> buf{};
    std::snprintf(buf.data(), buf.size(), "0x%04x", rest);
    out += buf.data();
  }
  return out.empty() ? "none" : out;
}

std::string to_string(const Options& o) {
  Flags flags;
  if (!o.packet_info) flags |= Flag::no_pi;
  if (o.exclusive) flags |= Flag::tun_excl;
  if (o.multi_queue || o.queues > 1) flags |= Flag::multi_queue;
  if (o.vnet_hdr) flags |= Flag::vnet_hdr;
  if (o.no_carrier) flags |= Flag::no_carrier;
  if (o.napi) flags |= Flag::napi;
  if (o.napi_frags) flags |= Flag::napi_frags;
  std::string out =
      std::string(to_string(o.mode)) + " \"" + std::string(detail::shown_name(o)) + "\"";
  out += " queues " + std::to_string(o.queues) + " " + to_string(flags);
  if (!o.offloads.empty()) out += " offloads " + to_string(o.offloads);
  if (o.persist) out += " persist";
  if (o.owner) out += " owner " + std::to_string(*o.owner);
  if (o.group) out += " group " + std::to_string(*o.group);
  if (o.ifindex && *o.ifindex != 0) out += " ifindex " + std::to_string(*o.ifindex);
  if (o.non_blocking) out += " non-blocking";
  return out;
}

std::string_view to_string(Mode mode) noexcept {
  return mode == Mode::tap ? "tap" : "tun";
}

namespace detail {

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
      return "needs read and write access to /dev/net/tun";
    default:
      return {};
  }
}

std::string_view shown_name(const Options& o) noexcept {
  if (!o.name.empty()) return o.name;
  return o.mode == Mode::tap ? "tap%d" : "tun%d";
}

}  // namespace detail
}  // namespace tunkit
