#include "tunkit/ethtool.hpp"

#include <fmt/format.h>
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <utility>

#include "detail/eintr.hpp"
#include "detail/netlink/genl.hpp"
#include "detail/netlink/parse.hpp"
#include "detail/netlink/socket.hpp"
#include "detail/owned_fd.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"

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

// Sends `r` and hands the attributes of the one reply, indexed in a table of N entries, to
// `use` (inside the receive buffer: nothing is copied).
template <std::size_t N>
std::error_code query(nl::Socket& socket, nl::Request& r,
                      nl::FunctionRef<std::error_code(const nl::AttributeTable<N>&)> use) noexcept {
  bool got = false;
  const std::error_code ec = socket.transact(r, [&](const nlmsghdr& h) -> std::error_code {
    genlmsghdr g{};
    nl::AttributeTable<N> table{};
    if (const std::error_code pe = nl::parse_message(h, g, table)) return pe;
    got = true;
    return use(table);
  });
  if (ec) return ec;
  return got ? std::error_code{} : make_error_code(errc::netlink_protocol);
}

// The names of the bits that are set in a bitset nest in verbose form (ETHTOOL_A_BITSET_BITS,
// each bit with its index and name): with ETHTOOL_A_BITSET_NOMASK only the set bits are listed;
// without it (as FEATURES_GET answers) every bit is, the set ones with ETHTOOL_A_BITSET_BIT_VALUE.
// `listed` (when given) gets the name of every bit listed, set or not.
std::error_code bit_names(const nlattr* bitset, std::vector<std::string>& names,
                          std::vector<std::string>* listed = nullptr) {
  names.clear();
  if (bitset == nullptr) return {};
  nl::AttributeTable<ETHTOOL_A_BITSET_MASK + 1> t{};
  if (const std::error_code ec = nl::parse_nested(*bitset, t)) return ec;
  if (t[ETHTOOL_A_BITSET_BITS] == nullptr) return {};
  const bool list = t[ETHTOOL_A_BITSET_NOMASK] != nullptr;
  return nl::for_each_nested(*t[ETHTOOL_A_BITSET_BITS], [&](const nlattr& bit) -> std::error_code {
    nl::AttributeTable<ETHTOOL_A_BITSET_BIT_VALUE + 1> b{};
    if (const std::error_code ec = nl::parse_nested(bit, b)) return ec;
    if (b[ETHTOOL_A_BITSET_BIT_NAME] == nullptr) return errc::netlink_protocol;
    const std::string_view name = nl::get_string(*b[ETHTOOL_A_BITSET_BIT_NAME]);
    // Unnamed bits (the kernel has a few reserved ones) cannot be asked for by name.
    if (name.empty()) return {};
    if (list || b[ETHTOOL_A_BITSET_BIT_VALUE] != nullptr) names.emplace_back(name);
    if (listed != nullptr) listed->emplace_back(name);
    return {};
  });
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// ethtool's group names (ethtool.c, off_flag_def): each changes the features whose names start
// with one of the prefixes.
struct FeatureGroup {
  std::string_view name;
  std::string_view alias;
  std::array<std::string_view, 2> prefixes;
};
constexpr std::array<FeatureGroup, 5> kFeatureGroups{{
    {"tx-checksumming", "tx", {"tx-checksum-", ""}},
    {"scatter-gather", "sg", {"tx-scatter-gather", ""}},
    {"tcp-segmentation-offload", "tso", {"tx-tcp-segmentation", "tx-tcp"}},
    {"generic-segmentation-offload", "gso", {"tx-generic-segmentation", ""}},
    {"generic-receive-offload", "gro", {"rx-gro", ""}},
}};

const FeatureGroup* find_group(std::string_view name) {
  for (const FeatureGroup& g : kFeatureGroups) {
    if (name == g.name || name == g.alias) return &g;
  }
  return nullptr;
}

bool in_group(const FeatureGroup& g, std::string_view feature) {
  if (g.name == "tcp-segmentation-offload") {
    // tx-tcp-segmentation, tx-tcp-ecn-segmentation, tx-tcp-mangleid-segmentation,
    // tx-tcp6-segmentation
    return feature.starts_with("tx-tcp") && feature.ends_with("-segmentation");
  }
  if (g.name == "generic-receive-offload") return feature == "rx-gro";
  return feature.starts_with(g.prefixes[0]);
}

// The hint for a failed request: "kernel: <text>" when the kernel explained its refusal
// (extended ack); else what the errno of an ethtool request means for sure: EPERM, a set without
// CAP_NET_ADMIN (GENL_UNS_ADMIN_PERM); ENODEV, no interface with the index in this namespace.
std::string kernel_hint(const std::unique_ptr<nl::Socket>& socket, std::error_code ec = {}) {
  if (socket && !socket->extack().empty()) return fmt::format("kernel: {}", socket->extack());
  if (detail::is_errno(ec, EPERM)) {
    return "needs CAP_NET_ADMIN in the interface's network namespace";
  }
  if (detail::is_errno(ec, ENODEV)) return "the interface no longer exists";
  return {};
}

std::string device(unsigned ifindex) {
  return fmt::format("interface index {}", ifindex);
}

}  // namespace

Ethtool::Ethtool(unsigned ifindex, sys::Syscalls& sys)
    : socket_(std::make_unique<nl::Socket>()), sys_(&sys), ifindex_(ifindex) {
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

Ethtool Ethtool::from_name(std::string_view name, sys::Syscalls& sys) {
  return Ethtool(Link::from_name(name, sys).ifindex(), sys);
}

// --- driver info (SIOCETHTOOL) ----------------------------------------------------------------

namespace {

// The driver's answer to ETHTOOL_GDRVINFO for the interface with index `ifindex`; `op` names the
// step that failed.
std::error_code get_drvinfo(sys::Syscalls& sys, unsigned ifindex, ethtool_drvinfo& info,
                            std::string_view& op) noexcept {
  using detail::retry_eintr;
  op = "open socket for ethtool -i of";
  const int s = retry_eintr([&] { return sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); });
  if (s < 0) return {-s, std::system_category()};
  const detail::OwnedFd sock(s, sys);
  // SIOCETHTOOL takes a name: the index is turned into the name it has now.
  ifreq ifr{};
  ifr.ifr_ifindex = static_cast<int>(ifindex);
  op = "look up the name of";
  if (const int r = retry_eintr([&] { return sys.ioctl(sock.get(), SIOCGIFNAME, &ifr); }); r < 0) {
    return {-r, std::system_category()};  // ENODEV when there is no such index, as netlink says
  }
  info = ethtool_drvinfo{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifr.ifr_data = reinterpret_cast<char*>(&info);  // NOLINT: the ioctl's argument type
  op = "ETHTOOL_GDRVINFO";
  if (const int r = retry_eintr([&] { return sys.ioctl(sock.get(), SIOCETHTOOL, &ifr); }); r < 0) {
    return {-r, std::system_category()};
  }
  return {};
}

template <std::size_t N>
std::string text(const char (&field)[N]) {  // NOLINT: the kernel's struct
  return {field, strnlen(field, N)};
}

}  // namespace

DriverInfo Ethtool::driver_info(std::error_code& ec) const {
  ec.clear();
  if (!socket_) {
    ec = errc::not_open;
    return {};
  }
  ethtool_drvinfo info{};
  std::string_view op;
  if ((ec = get_drvinfo(*sys_, ifindex_, info, op))) return {};
  return {text(info.driver), text(info.version), text(info.fw_version), text(info.bus_info)};
}

DriverInfo Ethtool::driver_info() const {
  if (!socket_) throw make_error(errc::not_open, "ETHTOOL_GDRVINFO", device(ifindex_));
  ethtool_drvinfo info{};
  std::string_view op;
  if (const std::error_code ec = get_drvinfo(*sys_, ifindex_, info, op)) {
    throw make_error(ec, op, device(ifindex_),
                     detail::is_errno(ec, ENODEV) ? "the interface no longer exists" : "");
  }
  return {text(info.driver), text(info.version), text(info.fw_version), text(info.bus_info)};
}

// --- features ---------------------------------------------------------------------------------

std::vector<Feature> Ethtool::features(std::error_code& ec) const {
  ec.clear();
  std::vector<Feature> out;
  if (!socket_) {
    ec = errc::not_open;
    return out;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_FEATURES_GET, ifindex_);
  constexpr std::size_t N = ETHTOOL_A_FEATURES_NOCHANGE + 1;
  ec = query<N>(*socket_, r, [&](const nl::AttributeTable<N>& t) -> std::error_code {
    std::vector<std::string> hw;
    std::vector<std::string> wanted;
    std::vector<std::string> active;
    std::vector<std::string> nochange;
    // The hw_features set comes with the mask of every feature the kernel knows (FEATURES_GET
    // sends it so): its listing names them all, in the kernel's order.
    std::vector<std::string> every;
    if (const std::error_code pe = bit_names(t[ETHTOOL_A_FEATURES_HW], hw, &every)) return pe;
    for (auto [type, names] : {std::pair{ETHTOOL_A_FEATURES_WANTED, &wanted},
                               std::pair{ETHTOOL_A_FEATURES_ACTIVE, &active},
                               std::pair{ETHTOOL_A_FEATURES_NOCHANGE, &nochange}}) {
      if (const std::error_code pe = bit_names(t[type], *names)) return pe;
    }
    if (t[ETHTOOL_A_FEATURES_ACTIVE] == nullptr) return errc::netlink_protocol;
    // Also any named only by the other sets, should a kernel send hw_features as a list.
    for (const auto* list : {&wanted, &active}) {
      for (const std::string& name : *list) {
        if (!contains(every, name)) every.push_back(name);
      }
    }
    out.reserve(every.size());
    for (const std::string& name : every) {
      Feature f;
      f.name = name;
      f.active = contains(active, name);
      f.fixed = !contains(hw, name) || contains(nochange, name);
      f.requested = f.fixed ? f.active : contains(wanted, name);
      out.push_back(std::move(f));
    }
    return {};
  });
  if (ec) out.clear();
  return out;
}

std::vector<Feature> Ethtool::features() const {
  std::error_code ec;
  std::vector<Feature> out = features(ec);
  if (ec) throw make_error(ec, "read features", device(ifindex_), kernel_hint(socket_, ec));
  return out;
}

namespace {

// What `changes` asks of `now`, one entry per kernel feature (a group expanded to its
// changeable members). On a refusal, `bad` names the feature or group.
std::error_code expand(std::span<const FeatureChange> changes, const std::vector<Feature>& now,
                       std::vector<FeatureChange>& out, std::string& bad) {
  out.clear();
  for (const FeatureChange& c : changes) {
    bad = c.name;
    if (const FeatureGroup* g = find_group(c.name)) {
      bool any = false;
      for (const Feature& f : now) {
        if (!in_group(*g, f.name) || f.fixed) continue;
        out.push_back({f.name, c.on});
        any = true;
      }
      if (!any) return errc::feature_fixed;
      continue;
    }
    const auto it =
        std::find_if(now.begin(), now.end(), [&](const Feature& f) { return f.name == c.name; });
    if (it == now.end()) return errc::unknown_feature;
    // A fixed feature asked to stay as it is changes nothing: no reason to refuse.
    if (it->fixed && it->active != c.on) return errc::feature_fixed;
    if (!it->fixed) out.push_back(c);
  }
  bad.clear();
  return {};
}

}  // namespace

// set_features, with the name of the feature refused in `bad`.
std::vector<Feature> Ethtool::change_features(std::span<const FeatureChange> changes,
                                              std::error_code& ec, std::string& bad) {
  std::vector<Feature> now = features(ec);
  if (ec) return {};
  std::vector<FeatureChange> wanted;
  if ((ec = expand(changes, now, wanted, bad))) return {};
  if (!wanted.empty()) {
    nl::Request r = request(family_, ETHTOOL_MSG_FEATURES_SET, ifindex_, ETHTOOL_FLAG_OMIT_REPLY);
    // A bitset with names and no ETHTOOL_A_BITSET_NOMASK: only the bits listed change, each to
    // on when ETHTOOL_A_BITSET_BIT_VALUE is present.
    const std::size_t set = r.begin_nested(ETHTOOL_A_FEATURES_WANTED);
    const std::size_t bits = r.begin_nested(ETHTOOL_A_BITSET_BITS);
    for (const FeatureChange& c : wanted) {
      const std::size_t bit = r.begin_nested(ETHTOOL_A_BITSET_BITS_BIT);
      r.put_string(ETHTOOL_A_BITSET_BIT_NAME, c.name);
      if (c.on) r.put_bytes(ETHTOOL_A_BITSET_BIT_VALUE, std::span<const std::uint8_t>{});
      r.end_nested(bit);
    }
    r.end_nested(bits);
    r.end_nested(set);
    if ((ec = socket_->transact(r))) return {};
    now = features(ec);
    if (ec) return {};
  }
  std::vector<Feature> out;
  for (const FeatureChange& c : wanted) {
    const auto it =
        std::find_if(now.begin(), now.end(), [&](const Feature& f) { return f.name == c.name; });
    if (it != now.end()) out.push_back(*it);
  }
  return out;
}

std::vector<Feature> Ethtool::set_features(std::span<const FeatureChange> changes,
                                           std::error_code& ec) {
  std::string bad;
  return change_features(changes, ec, bad);
}

std::vector<Feature> Ethtool::set_features(std::span<const FeatureChange> changes) {
  std::error_code ec;
  std::string bad;
  std::vector<Feature> out = change_features(changes, ec, bad);
  if (ec == errc::unknown_feature) {
    throw make_error(ec, fmt::format("set feature {}", bad), device(ifindex_),
                     "the device reports no feature of that name");
  }
  if (ec == errc::feature_fixed) {
    throw make_error(ec, fmt::format("set feature {}", bad), device(ifindex_),
                     find_group(bad) != nullptr ? "no feature of the group can change"
                                                : "the driver does not let it change");
  }
  if (ec) throw make_error(ec, "set features", device(ifindex_), kernel_hint(socket_, ec));
  return out;
}

// --- link settings, message level, rx-frames --------------------------------------------------

LinkSettings Ethtool::link_settings(std::error_code& ec) const noexcept {
  ec.clear();
  LinkSettings out;
  if (!socket_) {
    ec = errc::not_open;
    return out;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_LINKMODES_GET, ifindex_);
  constexpr std::size_t N = ETHTOOL_A_LINKMODES_DUPLEX + 1;
  ec = query<N>(*socket_, r, [&](const nl::AttributeTable<N>& t) -> std::error_code {
    if (t[ETHTOOL_A_LINKMODES_SPEED] != nullptr) {
      const auto v = nl::get_u32(*t[ETHTOOL_A_LINKMODES_SPEED]);
      // SPEED_UNKNOWN, and 0, which some drivers report for "no speed".
      if (v && *v != static_cast<std::uint32_t>(SPEED_UNKNOWN) && *v != 0) out.speed = *v;
    }
    if (t[ETHTOOL_A_LINKMODES_DUPLEX] != nullptr) {
      if (const auto v = get_u8(*t[ETHTOOL_A_LINKMODES_DUPLEX])) {
        out.duplex = *v == DUPLEX_HALF   ? Duplex::half
                     : *v == DUPLEX_FULL ? Duplex::full
                                         : Duplex::unknown;
      }
    }
    if (t[ETHTOOL_A_LINKMODES_AUTONEG] != nullptr) {
      if (const auto v = get_u8(*t[ETHTOOL_A_LINKMODES_AUTONEG])) {
        out.autoneg = *v == AUTONEG_ENABLE;
      }
    }
    return {};
  });
  if (ec) out = LinkSettings{};
  return out;
}

LinkSettings Ethtool::link_settings() const {
  std::error_code ec;
  LinkSettings s = link_settings(ec);
  if (ec) throw make_error(ec, "read link settings", device(ifindex_), kernel_hint(socket_, ec));
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
  if (ec) throw make_error(ec, "set link settings", device(ifindex_), kernel_hint(socket_, ec));
}

std::uint32_t Ethtool::message_level(std::error_code& ec) const noexcept {
  ec.clear();
  if (!socket_) {
    ec = errc::not_open;
    return 0;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_DEBUG_GET, ifindex_, ETHTOOL_FLAG_COMPACT_BITSETS);
  constexpr std::size_t N = ETHTOOL_A_DEBUG_MSGMASK + 1;
  std::uint32_t v = 0;
  ec = query<N>(*socket_, r, [&](const nl::AttributeTable<N>& t) -> std::error_code {
    if (t[ETHTOOL_A_DEBUG_MSGMASK] == nullptr) return errc::netlink_protocol;
    nl::AttributeTable<ETHTOOL_A_BITSET_MASK + 1> bits{};
    if (const std::error_code pe = nl::parse_nested(*t[ETHTOOL_A_DEBUG_MSGMASK], bits)) return pe;
    if (bits[ETHTOOL_A_BITSET_VALUE] == nullptr) return errc::netlink_protocol;
    // A compact bitset's value is an array of u32 words; msg_enable fits the first.
    const auto p = nl::payload(*bits[ETHTOOL_A_BITSET_VALUE]);
    if (p.size() < sizeof(std::uint32_t)) return errc::netlink_protocol;
    std::memcpy(&v, p.data(), sizeof v);
    return {};
  });
  return ec ? 0 : v;
}

std::uint32_t Ethtool::message_level() const {
  std::error_code ec;
  const std::uint32_t v = message_level(ec);
  if (ec) throw make_error(ec, "read message level", device(ifindex_), kernel_hint(socket_, ec));
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
                     kernel_hint(socket_, ec));
  }
}

std::uint32_t Ethtool::rx_frames(std::error_code& ec) const noexcept {
  ec.clear();
  if (!socket_) {
    ec = errc::not_open;
    return 0;
  }
  nl::Request r = request(family_, ETHTOOL_MSG_COALESCE_GET, ifindex_);
  constexpr std::size_t N = ETHTOOL_A_COALESCE_RX_MAX_FRAMES + 1;
  std::uint32_t frames = 0;
  ec = query<N>(*socket_, r, [&](const nl::AttributeTable<N>& t) -> std::error_code {
    const nlattr* a = t[ETHTOOL_A_COALESCE_RX_MAX_FRAMES];
    const auto v = a != nullptr ? nl::get_u32(*a) : std::nullopt;
    if (!v) return errc::netlink_protocol;
    frames = *v;
    return {};
  });
  return ec ? 0 : frames;
}

std::uint32_t Ethtool::rx_frames() const {
  std::error_code ec;
  const std::uint32_t v = rx_frames(ec);
  if (ec) throw make_error(ec, "read rx-frames", device(ifindex_), kernel_hint(socket_, ec));
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
                     kernel_hint(socket_, ec));
  }
}

}  // namespace tunkit
