#include "tunkit/options.hpp"

#include <linux/if_tun.h>
#include <net/if.h>

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <cstdint>
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
static_assert(static_cast<unsigned>(Flag::detach_queue) == IFF_DETACH_QUEUE);
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

namespace {

// The names of the set bits of `bits` in the order of `names`, joined with '|', then any bits
// without a name in hex ("CSUM|0x8000"); "none" for no bits. Shared by Flags and Offloads.
template <class Enum, std::size_t N>
std::string join_names(std::uint16_t bits,
                       const std::array<std::pair<Enum, const char*>, N>& names) {
  std::string out;
  std::uint16_t rest = bits;
  for (const auto& [flag, text] : names) {
    const auto bit = static_cast<std::uint16_t>(flag);
    if ((bits & bit) != bit) continue;
    if (!out.empty()) out += '|';
    out += text;
    rest = static_cast<std::uint16_t>(rest & ~bit);
  }
  if (rest != 0) {
    if (!out.empty()) out += '|';
    out += fmt::format("{:#06x}", rest);
  }
  return out.empty() ? "none" : out;
}

// The kernel's names (IFF_ and TUN_F_ prefixes left out), in the order they are shown.
constexpr std::array<std::pair<Flag, const char*>, 12> kFlagNames{{
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
    {Flag::detach_queue, "DETACH_QUEUE"},
}};
constexpr std::array<std::pair<Offload, const char*>, 9> kOffloadNames{{
    {Offload::csum, "CSUM"},
    {Offload::tso4, "TSO4"},
    {Offload::tso6, "TSO6"},
    {Offload::tso_ecn, "TSO_ECN"},
    {Offload::ufo, "UFO"},
    {Offload::uso4, "USO4"},
    {Offload::uso6, "USO6"},
    {Offload::udp_tunnel_gso, "UDP_TUNNEL_GSO"},
    {Offload::udp_tunnel_gso_csum, "UDP_TUNNEL_GSO_CSUM"},
}};

}  // namespace

std::string to_string(Flags flags) {
  return join_names(flags.bits(), kFlagNames);
}

std::string_view to_string(Offload offload) noexcept {
  for (const auto& [flag, text] : kOffloadNames) {
    if (flag == offload) return text;
  }
  return "?";
}

std::string to_string(Offloads offloads) {
  return join_names(offloads.bits(), kOffloadNames);
}

std::string to_string(const Options& o) {
  // The mode is named first; the flags are the rest of what TUNSETIFF is asked for.
  const Flags flags = Flags::from_bits(
      static_cast<std::uint16_t>(detail::setiff_flags(o).bits() & ~unsigned{IFF_TUN | IFF_TAP}));
  std::string out =
      std::string(to_string(o.mode)) + " \"" + std::string(detail::shown_name(o)) + "\"";
  out += " queues " + std::to_string(o.queues) + " " + to_string(flags);
  if (o.offloads) out += " offloads " + to_string(*o.offloads);
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
