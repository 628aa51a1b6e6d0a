#include "tunkit/ethtool.hpp"

#include <fmt/format.h>
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <array>
#include <cstring>
#include <span>
#include <utility>

#include "detail/eintr.hpp"
#include "detail/netlink/genl.hpp"
#include "detail/netlink/parse.hpp"
#include "detail/netlink/socket.hpp"
#include "tunkit/error.hpp"

namespace tunkit {
namespace {

namespace nl = detail::netlink;

// Every ETHTOOL_A_*_HEADER attribute is type 1.
constexpr std::uint16_t kHeader = 1;

nl::Request request(std::uint16_t family, std::uint8_t cmd, unsigned ifindex,
                    std::uint32_t flags = 0) noexcept {
  nl::Request r = nl::genl_request(family, cmd, ETHTOOL_GENL_VERSION);
  const std::size_t header = r.begin_nested(kHeader);
  r.put_u32(ETHTOOL_A_HEADER_DEV_INDEX, ifindex);
  if (flags != 0) r.put_u32(ETHTOOL_A_HEADER_FLAGS, flags);
  r.end_nested(header);
  return r;
}

void put_u8(nl::Request& r, std::uint16_t type, std::uint8_t v) noexcept {
  const std::array<std::uint8_t, 1> b{v};
  r.put_bytes(type, b);
}

std::optional<std::uint8_t> get_u8(const nlattr& a) noexcept {
  const auto p = nl::payload(a);
  if (p.size() != 1) return std::nullopt;
  return p[0];
}

// Sends `r` and indexes the attributes of the one reply in `table`.
template <std::size_t N>
std::error_code query(nl::Socket& socket, nl::Request& r, std::array<std::byte, 4096>& copy,
                      nl::AttributeTable<N>& table) noexcept {
  bool got = false;
  const std::error_code ec = socket.transact(r, [&](const nlmsghdr& h) -> std::error_code {
    if (h.nlmsg_len > copy.size()) return errc::netlink_protocol;
    std::memcpy(copy.data(), &h, h.nlmsg_len);
    const auto* kept = reinterpret_cast<const nlmsghdr*>(copy.data());  // NOLINT: aligned copy
    genlmsghdr g{};
    if (const std::error_code pe = nl::parse_message(*kept, g, table)) return pe;
    got = true;
    return {};
  });
  if (ec) return ec;
  return got ? std::error_code{} : make_error_code(errc::netlink_protocol);
}

// The hint "kernel: <text>" when the kernel explained its refusal (extended ack), else none.
std::string kernel_hint(const std::unique_ptr<nl::Socket>& socket) {
  if (!socket || socket->extack().empty()) return {};
  return fmt::format("kernel: {}", socket->extack());
}

std::string device(unsigned ifindex) {
  return fmt::format("interface index {}", ifindex);
}

}  // namespace

Ethtool::Ethtool(unsigned ifindex, sys::Syscalls& sys)
    : socket_(std::make_unique<nl::Socket>()), ifindex_(ifindex) {
  std::error_code ec;
  *socket_ = nl::Socket::open(sys, ec, 0, NETLINK_GENERIC);
  if (ec) throw make_error(ec, "open generic netlink socket", device(ifindex));
  ec = nl::resolve_family(*socket_, ETHTOOL_GENL_NAME, family_);
  if (ec) {
    throw make_error(ec, "resolve the ethtool netlink family", device(ifindex),
                     detail::is_errno(ec, ENOENT)
                         ? "the kernel has no ethtool netlink family (Linux 5.6+ with "
                           "CONFIG_ETHTOOL_NETLINK)"
                         : "");
  }
}

Ethtool::Ethtool(Ethtool&& other) noexcept = default;
Ethtool& Ethtool::operator=(Ethtool&& other) noexcept = default;
Ethtool::~Ethtool() = default;

LinkSettings Ethtool::link_settings(std::error_code& ec) const noexcept {
  ec.clear();
  LinkSettings out;
  if (!socket_) {
    ec = errc::not_open;
    return out;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_LINKMODES_GET, ifindex_);
  std::array<std::byte, 4096> copy{};
  nl::AttributeTable<ETHTOOL_A_LINKMODES_DUPLEX + 1> t{};
  if ((ec = query(*socket_, r, copy, t))) return out;
  if (t[ETHTOOL_A_LINKMODES_SPEED] != nullptr) {
    const auto v = nl::get_u32(*t[ETHTOOL_A_LINKMODES_SPEED]);
    if (v && *v != static_cast<std::uint32_t>(SPEED_UNKNOWN)) out.speed = *v;
  }
  if (t[ETHTOOL_A_LINKMODES_DUPLEX] != nullptr) {
    if (const auto v = get_u8(*t[ETHTOOL_A_LINKMODES_DUPLEX])) {
      out.duplex = *v == DUPLEX_HALF   ? Duplex::half
                   : *v == DUPLEX_FULL ? Duplex::full
                                       : Duplex::unknown;
    }
  }
  if (t[ETHTOOL_A_LINKMODES_AUTONEG] != nullptr) {
    if (const auto v = get_u8(*t[ETHTOOL_A_LINKMODES_AUTONEG])) out.autoneg = *v == AUTONEG_ENABLE;
  }
  return out;
}

LinkSettings Ethtool::link_settings() const {
  std::error_code ec;
  LinkSettings s = link_settings(ec);
  if (ec) throw make_error(ec, "read link settings", device(ifindex_), kernel_hint(socket_));
  return s;
}

void Ethtool::set_link_settings(const LinkSettingsChange& change, std::error_code& ec) noexcept {
  ec.clear();
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_LINKMODES_SET, ifindex_);
  if (change.autoneg) {
    put_u8(r, ETHTOOL_A_LINKMODES_AUTONEG, *change.autoneg ? AUTONEG_ENABLE : AUTONEG_DISABLE);
  }
  if (change.speed) r.put_u32(ETHTOOL_A_LINKMODES_SPEED, *change.speed);
  if (change.duplex)
    put_u8(r, ETHTOOL_A_LINKMODES_DUPLEX, static_cast<std::uint8_t>(*change.duplex));
  ec = socket_->transact(r);
}

void Ethtool::set_link_settings(const LinkSettingsChange& change) {
  std::error_code ec;
  set_link_settings(change, ec);
  if (ec) throw make_error(ec, "set link settings", device(ifindex_), kernel_hint(socket_));
}

std::uint32_t Ethtool::message_level(std::error_code& ec) const noexcept {
  ec.clear();
  if (!socket_) {
    ec = errc::not_open;
    return 0;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_DEBUG_GET, ifindex_, ETHTOOL_FLAG_COMPACT_BITSETS);
  std::array<std::byte, 4096> copy{};
  nl::AttributeTable<ETHTOOL_A_DEBUG_MSGMASK + 1> t{};
  if ((ec = query(*socket_, r, copy, t))) return 0;
  if (t[ETHTOOL_A_DEBUG_MSGMASK] == nullptr) {
    ec = errc::netlink_protocol;
    return 0;
  }
  nl::AttributeTable<ETHTOOL_A_BITSET_MASK + 1> bits{};
  if ((ec = nl::parse_nested(*t[ETHTOOL_A_DEBUG_MSGMASK], bits))) return 0;
  if (bits[ETHTOOL_A_BITSET_VALUE] == nullptr) {
    ec = errc::netlink_protocol;
    return 0;
  }
  // A compact bitset's value is an array of u32 words; msg_enable fits the first.
  const auto p = nl::payload(*bits[ETHTOOL_A_BITSET_VALUE]);
  if (p.size() < sizeof(std::uint32_t)) {
    ec = errc::netlink_protocol;
    return 0;
  }
  std::uint32_t v = 0;
  std::memcpy(&v, p.data(), sizeof v);
  return v;
}

std::uint32_t Ethtool::message_level() const {
  std::error_code ec;
  const std::uint32_t v = message_level(ec);
  if (ec) throw make_error(ec, "read message level", device(ifindex_), kernel_hint(socket_));
  return v;
}

void Ethtool::set_message_level(std::uint32_t level, std::error_code& ec) noexcept {
  ec.clear();
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_DEBUG_SET, ifindex_);
  const std::size_t mask = r.begin_nested(ETHTOOL_A_DEBUG_MSGMASK);
  r.put_bytes(ETHTOOL_A_BITSET_NOMASK, std::span<const std::uint8_t>{});  // flag: exactly these
  r.put_u32(ETHTOOL_A_BITSET_SIZE, 32);
  r.put_u32(ETHTOOL_A_BITSET_VALUE, level);
  r.end_nested(mask);
  ec = socket_->transact(r);
}

void Ethtool::set_message_level(std::uint32_t level) {
  std::error_code ec;
  set_message_level(level, ec);
  if (ec) {
    throw make_error(ec, fmt::format("set message level {:#x}", level), device(ifindex_),
                     kernel_hint(socket_));
  }
}

std::uint32_t Ethtool::rx_frames(std::error_code& ec) const noexcept {
  ec.clear();
  if (!socket_) {
    ec = errc::not_open;
    return 0;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_COALESCE_GET, ifindex_);
  std::array<std::byte, 4096> copy{};
  nl::AttributeTable<ETHTOOL_A_COALESCE_RX_MAX_FRAMES + 1> t{};
  if ((ec = query(*socket_, r, copy, t))) return 0;
  const nlattr* a = t[ETHTOOL_A_COALESCE_RX_MAX_FRAMES];
  const auto v = a != nullptr ? nl::get_u32(*a) : std::nullopt;
  if (!v) {
    ec = errc::netlink_protocol;
    return 0;
  }
  return *v;
}

std::uint32_t Ethtool::rx_frames() const {
  std::error_code ec;
  const std::uint32_t v = rx_frames(ec);
  if (ec) throw make_error(ec, "read rx-frames", device(ifindex_), kernel_hint(socket_));
  return v;
}

void Ethtool::set_rx_frames(std::uint32_t frames, std::error_code& ec) noexcept {
  ec.clear();
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_COALESCE_SET, ifindex_);
  r.put_u32(ETHTOOL_A_COALESCE_RX_MAX_FRAMES, frames);
  ec = socket_->transact(r);
}

void Ethtool::set_rx_frames(std::uint32_t frames) {
  std::error_code ec;
  set_rx_frames(frames, ec);
  if (ec) {
    throw make_error(ec, fmt::format("set rx-frames {}", frames), device(ifindex_),
                     kernel_hint(socket_));
  }
}

}  // namespace tunkit
