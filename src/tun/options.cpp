#include "tunkit/options.hpp"

#include <linux/if_tun.h>
#include <net/if.h>

#include <array>
#include <cstdio>
#include <utility>

#include "tun/hints.hpp"
#include "tunkit/detail/tun_wire.hpp"
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
#ifdef IFF_NO_CARRIER  // 6.0+ headers
static_assert(static_cast<unsigned>(Flag::no_carrier) == IFF_NO_CARRIER);
#endif
static_assert(static_cast<unsigned>(Flag::napi) == IFF_NAPI);
static_assert(static_cast<unsigned>(Flag::napi_frags) == IFF_NAPI_FRAGS);
// The wire rules of tun_wire.hpp, written there without the kernel's header.
static_assert(detail::kAttachQueue == IFF_ATTACH_QUEUE);
static_assert(detail::kDetachQueue == IFF_DETACH_QUEUE);
static_assert(detail::kNoFilter == IFF_NOFILTER);
static_assert(detail::kPiSize == sizeof(tun_pi));
static_assert(detail::kPiStrip == TUN_PKT_STRIP);

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
  // The mode is named first; the flags are the rest of what TUNSETIFF is asked for.
  const Flags flags = Flags::from_bits(
      static_cast<std::uint16_t>(detail::setiff_flags(o).bits() & ~unsigned{IFF_TUN | IFF_TAP}));
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

}  // namespace tunkit
