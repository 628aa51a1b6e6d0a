// Generic netlink in the fake: the controller (CTRL_CMD_GETFAMILY for "ethtool") and the ethtool
// family's messages tunkit::Ethtool sends (LINKMODES, DEBUG, COALESCE, FEATURES), answered from
// LinkRecord::ethtool as net/ethtool/ and drivers/net/tun.c answer them. Written from the kernel's
// documented behaviour (Documentation/networking/ethtool-netlink.rst) and measurements, not from
// tunkit's own netlink code.
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/if_tun.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string_view>
#include <utility>

#include "testing/fake_rtnetlink/internal.hpp"

namespace tunkit::testing {
namespace fake_rtnl {
namespace {

constexpr std::size_t kGenlHeaderLen = 4;    // struct genlmsghdr
constexpr std::uint16_t kEthtoolHeader = 1;  // every ETHTOOL_A_*_HEADER
// tun caps rx-frames at NAPI_POLL_WEIGHT (tun_set_coalesce).
constexpr std::uint32_t kMaxRxFrames = 64;
// The kernel's NETIF_MSG_* classes, by bit (net/ethtool/common.c, netif_msg_class_names).
constexpr std::array<std::string_view, 15> kMsgClasses{
    "drv",       "probe", "link",    "timer",     "ifdown",  "ifup", "rx_err", "tx_err",
    "tx_queued", "intr",  "tx_done", "rx_status", "pktdata", "hw",   "wol"};

// One attribute of a received message: type (flags masked off) and payload.
struct Attr {
  std::uint16_t type = 0;
  std::span<const std::uint8_t> payload;
};

// The attributes in `bytes`, in order; false when one overruns (EINVAL in the kernel's parser).
bool attributes(std::span<const std::uint8_t> bytes, std::vector<Attr>& out) {
  out.clear();
  std::size_t at = 0;
  while (at + kAttrHeaderLen <= bytes.size()) {
    nlattr a{};
    std::memcpy(&a, bytes.data() + at, sizeof a);
    if (a.nla_len < kAttrHeaderLen || a.nla_len > bytes.size() - at) return false;
    out.push_back({static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK),
                   bytes.subspan(at + kAttrHeaderLen, a.nla_len - kAttrHeaderLen)});
    at += align(a.nla_len);
  }
  return true;
}

const Attr* find(const std::vector<Attr>& attrs, std::uint16_t type) {
  for (const Attr& a : attrs) {
    if (a.type == type) return &a;
  }
  return nullptr;
}

std::optional<std::uint32_t> u32_of(const Attr* a) {
  if (a == nullptr || a->payload.size() != 4) return std::nullopt;
  std::uint32_t v = 0;
  std::memcpy(&v, a->payload.data(), sizeof v);
  return v;
}

std::optional<std::uint8_t> u8_of(const Attr* a) {
  if (a == nullptr || a->payload.size() != 1) return std::nullopt;
  return a->payload[0];
}

std::string string_of(const Attr& a) {
  const auto nul = std::find(a.payload.begin(), a.payload.end(), std::uint8_t{0});
  return {a.payload.begin(), nul};
}

// The bits a bitset attribute asks to change (ethnl_update_bitset): `value[i]` for every bit i
// in `mask`. Names are looked up in `names`. Errors as the kernel's: EINVAL with its message.
int bitset_change(const Attr& set, const std::vector<std::string_view>& names,
                  std::vector<bool>& mask, std::vector<bool>& value, std::string& extack) {
  mask.assign(names.size(), false);
  value.assign(names.size(), false);
  std::vector<Attr> t;
  if (!attributes(set.payload, t)) return EINVAL;
  const bool nomask = find(t, ETHTOOL_A_BITSET_NOMASK) != nullptr;
  if (const Attr* bits = find(t, ETHTOOL_A_BITSET_BITS)) {  // verbose: bits by index or name
    if (nomask) mask.assign(names.size(), true);            // a list: the bits not named go to 0
    std::vector<Attr> list;
    if (!attributes(bits->payload, list)) return EINVAL;
    for (const Attr& bit : list) {
      std::vector<Attr> b;
      if (bit.type != ETHTOOL_A_BITSET_BITS_BIT || !attributes(bit.payload, b)) return EINVAL;
      std::size_t i = names.size();
      if (const auto index = u32_of(find(b, ETHTOOL_A_BITSET_BIT_INDEX))) {
        i = *index;
        if (i >= names.size()) {
          extack = "bit index too high";
          return EINVAL;
        }
      } else if (const Attr* name = find(b, ETHTOOL_A_BITSET_BIT_NAME)) {
        const std::string n = string_of(*name);
        const auto it = std::find(names.begin(), names.end(), n);
        if (it == names.end()) {
          extack = "bit name not found";
          return EINVAL;
        }
        i = static_cast<std::size_t>(it - names.begin());
      } else {
        extack = "neither bit index nor name specified";
        return EINVAL;
      }
      mask[i] = true;
      value[i] = nomask || find(b, ETHTOOL_A_BITSET_BIT_VALUE) != nullptr;
    }
    return 0;
  }
  // compact: ETHTOOL_A_BITSET_SIZE bits of VALUE (and MASK unless NOMASK), u32 words
  const auto size = u32_of(find(t, ETHTOOL_A_BITSET_SIZE));
  const Attr* words = find(t, ETHTOOL_A_BITSET_VALUE);
  const Attr* mask_words = find(t, ETHTOOL_A_BITSET_MASK);
  if (!size || words == nullptr || (!nomask && mask_words == nullptr)) {
    extack = "missing size or value";
    return EINVAL;
  }
  const std::size_t nwords = (*size + 31) / 32;
  if (words->payload.size() != nwords * 4 || (!nomask && mask_words->payload.size() != nwords * 4))
    return EINVAL;
  auto bit_at = [](const Attr& a, std::size_t i) {
    std::uint32_t w = 0;
    std::memcpy(&w, a.payload.data() + (i / 32) * 4, sizeof w);
    return ((w >> (i % 32)) & 1U) != 0;
  };
  for (std::size_t i = 0; i < *size; ++i) {
    const bool v = bit_at(*words, i);
    const bool m = nomask || bit_at(*mask_words, i);
    if (i >= names.size()) {
      if (m && v) {
        extack = "cannot modify bits past kernel bitset size";
        return EINVAL;
      }
      continue;
    }
    mask[i] = m;
    value[i] = v;
  }
  if (nomask) {
    for (std::size_t i = *size; i < names.size(); ++i)
      mask[i] = true;  // a list: bits past its size are 0
  }
  return 0;
}

// A bitset attribute in the form the kernel sends (ethnl_put_bitset32): compact (SIZE, VALUE,
// and MASK when `mask` is given) or verbose (SIZE and a BIT per listed bit with index and name;
// with a mask every masked bit is listed, the set ones with VALUE; without one, NOMASK and only
// the set bits).
void put_bitset(Builder& b, std::uint16_t type, const std::vector<bool>& value,
                const std::vector<bool>* mask, const std::vector<std::string_view>& names,
                bool compact) {
  nlattr* set = b.nest(type);
  if (mask == nullptr) b.flag(ETHTOOL_A_BITSET_NOMASK);
  b.u32(ETHTOOL_A_BITSET_SIZE, static_cast<std::uint32_t>(value.size()));
  if (compact) {
    auto words = [&](const std::vector<bool>& bits) {
      std::vector<std::uint8_t> out(((bits.size() + 31) / 32) * 4, 0);
      for (std::size_t i = 0; i < bits.size(); ++i) {
        if (bits[i]) out[(i / 32) * 4 + (i % 32) / 8] |= static_cast<std::uint8_t>(1U << (i % 8));
      }
      return out;
    };
    b.bytes(ETHTOOL_A_BITSET_VALUE, words(value));
    if (mask != nullptr) b.bytes(ETHTOOL_A_BITSET_MASK, words(*mask));
  } else {
    nlattr* bits = b.nest(ETHTOOL_A_BITSET_BITS);
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (mask != nullptr ? !(*mask)[i] : !value[i]) continue;
      nlattr* bit = b.nest(ETHTOOL_A_BITSET_BITS_BIT);
      b.u32(ETHTOOL_A_BITSET_BIT_INDEX, static_cast<std::uint32_t>(i));
      b.str(ETHTOOL_A_BITSET_BIT_NAME, std::string(names[i]));
      if (mask != nullptr && value[i]) b.flag(ETHTOOL_A_BITSET_BIT_VALUE);
      b.end(bit);
    }
    b.end(bits);
  }
  b.end(set);
}

}  // namespace
}  // namespace fake_rtnl

using namespace fake_rtnl;  // NOLINT(google-build-using-namespace): this fake's own helpers

std::vector<FakeRtnetlink::FeatureRecord> FakeRtnetlink::EthtoolRecord::default_features() {
  // tun_set_iff: hw_features = SG | FRAGLIST | TUN_USER_FEATURES | VLAN tx; the offloads wait
  // for TUNSETOFFLOAD (tun_net_fix_features); GSO and GRO are the stack's.
  // TUN_F_USO4/6 (0x20, 0x40) are newer than some distributions' headers.
  constexpr std::uint32_t kCsum = TUN_F_CSUM;
  constexpr std::uint32_t kUso = 0x20 | 0x40;
  return {
      {"tx-scatter-gather", true, true, 0},
      {"tx-checksum-ip-generic", true, true, kCsum},
      {"tx-generic-segmentation", true, true, 0},
      {"rx-gro", true, true, 0},
      {"tx-tcp-segmentation", true, true, kCsum | TUN_F_TSO4},
      {"tx-tcp-ecn-segmentation", true, true, kCsum | TUN_F_TSO_ECN},
      {"tx-tcp6-segmentation", true, true, kCsum | TUN_F_TSO6},
      {"tx-udp-segmentation", true, true, kCsum | kUso},
      {"rx-checksum", false, false, 0},
      {"loopback", false, false, 0},
  };
}

void FakeRtnetlink::set_tun_offloads(unsigned ifindex, std::uint32_t bits) {
  LinkRecord* link = find_link(ifindex);
  if (link == nullptr) return;
  link->ethtool.offloads = bits;
  // tun_set_offload: wanted_features &= ~TUN_USER_FEATURES; |= what was offered.
  for (FeatureRecord& f : link->ethtool.features) {
    if (f.needs_offloads != 0) f.wanted = (bits & f.needs_offloads) == f.needs_offloads;
  }
}

std::vector<fake_rtnl::Datagram> FakeRtnetlink::genl(Socket& socket, const nlmsghdr* nlh,
                                                     const Request& received) {
  std::vector<Datagram> out;
  Request request = received;
  const bool ack = (nlh->nlmsg_flags & NLM_F_ACK) != 0;
  auto answer_error = [&](int err, const std::string& extack) {
    const bool tlvs = err != 0 && socket.ext_ack && !extack.empty();
    const bool full = err != 0 && !socket.cap_ack;
    const auto flags =
        static_cast<std::uint16_t>((full ? 0 : NLM_F_CAPPED) | (tlvs ? NLM_F_ACK_TLVS : 0));
    Builder b(NLMSG_ERROR, flags, nlh->nlmsg_seq, socket.port_id);
    const int error = -err;
    b.raw(&error, sizeof error);
    b.raw(nlh, full ? nlh->nlmsg_len : sizeof(nlmsghdr));
    if (tlvs) b.str(NLMSGERR_ATTR_MSG, extack);
    return b.take();
  };
  if ((nlh->nlmsg_flags & NLM_F_REQUEST) == 0 || nlh->nlmsg_type < NLMSG_MIN_TYPE) {
    requests_.push_back(request);
    if (ack) out.push_back(answer_error(0, {}));
    return out;
  }
  const auto* payload = static_cast<const std::uint8_t*>(mnl_nlmsg_get_payload(nlh));
  const std::size_t payload_len = mnl_nlmsg_get_payload_len(nlh);
  std::vector<Attr> top;
  bool decoded = payload_len >= kGenlHeaderLen;
  if (decoded) {
    request.genl_cmd = payload[0];
    decoded = attributes({payload + kGenlHeaderLen, payload_len - kGenlHeaderLen}, top);
    for (const Attr& a : top)
      request.attributes.push_back({a.type, {a.payload.begin(), a.payload.end()}});
  }
  requests_.push_back(request);

  int err = 0;
  std::string extack;
  if (const auto scripted = genl_failures_.find(request.genl_cmd);
      decoded && scripted != genl_failures_.end()) {
    err = scripted->second.first;
    extack = std::move(scripted->second.second);
    genl_failures_.erase(scripted);
  } else if (!decoded) {
    err = EINVAL;
  } else if (nlh->nlmsg_type == GENL_ID_CTRL) {
    // The controller: the family's id by name.
    const Attr* name = find(top, CTRL_ATTR_FAMILY_NAME);
    if (request.genl_cmd != CTRL_CMD_GETFAMILY || name == nullptr) {
      err = EINVAL;
    } else if (string_of(*name) != ETHTOOL_GENL_NAME) {
      err = ENOENT;
    } else {
      Builder b(GENL_ID_CTRL, 0, nlh->nlmsg_seq, socket.port_id);
      const std::array<std::uint8_t, 4> g{CTRL_CMD_NEWFAMILY, 2, 0, 0};
      b.raw(g.data(), g.size());
      b.str(CTRL_ATTR_FAMILY_NAME, ETHTOOL_GENL_NAME);
      b.u16(CTRL_ATTR_FAMILY_ID, kEthtoolFamilyId);
      b.u32(CTRL_ATTR_VERSION, ETHTOOL_GENL_VERSION);
      b.u32(CTRL_ATTR_HDRSIZE, 0);
      b.u32(CTRL_ATTR_MAXATTR, 0);
      out.push_back(b.take());
    }
  } else if (nlh->nlmsg_type != kEthtoolFamilyId) {
    err = ENOENT;  // genl_rcv_msg: no such family
  } else if ((nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) {
    err = EOPNOTSUPP;  // dumps of every device are not simulated
  } else {
    // ethtool: the device from the request header.
    const std::uint8_t cmd = request.genl_cmd;
    const Attr* header = find(top, kEthtoolHeader);  // every *_HEADER is 1
    std::vector<Attr> h;
    const auto ifindex = header != nullptr && attributes(header->payload, h)
                             ? u32_of(find(h, ETHTOOL_A_HEADER_DEV_INDEX))
                             : std::nullopt;
    const std::uint32_t hflags = u32_of(find(h, ETHTOOL_A_HEADER_FLAGS)).value_or(0);
    LinkRecord* link = ifindex ? find_link(*ifindex) : nullptr;
    if (link != nullptr && link->netns != socket.netns) link = nullptr;
    const bool set = cmd == ETHTOOL_MSG_LINKMODES_SET || cmd == ETHTOOL_MSG_DEBUG_SET ||
                     cmd == ETHTOOL_MSG_COALESCE_SET || cmd == ETHTOOL_MSG_FEATURES_SET;
    auto reply = [&](std::uint8_t reply_cmd) {
      Builder b(kEthtoolFamilyId, 0, nlh->nlmsg_seq, socket.port_id);
      const std::array<std::uint8_t, 4> g{reply_cmd, ETHTOOL_GENL_VERSION, 0, 0};
      b.raw(g.data(), g.size());
      nlattr* hd = b.nest(kEthtoolHeader);
      b.u32(ETHTOOL_A_HEADER_DEV_INDEX, link->ifindex);
      b.str(ETHTOOL_A_HEADER_DEV_NAME, link->name);
      b.end(hd);
      return b;
    };
    EthtoolRecord* e = link != nullptr ? &link->ethtool : nullptr;
    std::vector<std::string_view> feature_names;
    if (e != nullptr) {
      for (const FeatureRecord& f : e->features)
        feature_names.emplace_back(f.name);
    }
    const std::vector<std::string_view> msg_names(kMsgClasses.begin(), kMsgClasses.end());
    if (set && !net_admin_) {
      err = EPERM;  // GENL_UNS_ADMIN_PERM: checked before the handler runs
    } else if (!ifindex) {
      err = EINVAL;
      extack = "device not specified";
    } else if (link == nullptr) {
      err = ENODEV;
    } else {
      switch (cmd) {
        case ETHTOOL_MSG_LINKMODES_GET: {
          Builder b = reply(ETHTOOL_MSG_LINKMODES_GET_REPLY);
          b.u8(ETHTOOL_A_LINKMODES_AUTONEG, e->autoneg ? AUTONEG_ENABLE : AUTONEG_DISABLE);
          b.u32(ETHTOOL_A_LINKMODES_SPEED, e->speed);
          b.u8(ETHTOOL_A_LINKMODES_DUPLEX, e->duplex);
          out.push_back(b.take());
          break;
        }
        case ETHTOOL_MSG_LINKMODES_SET: {
          const Attr* speed = find(top, ETHTOOL_A_LINKMODES_SPEED);
          const Attr* duplex = find(top, ETHTOOL_A_LINKMODES_DUPLEX);
          const Attr* autoneg = find(top, ETHTOOL_A_LINKMODES_AUTONEG);
          if ((speed != nullptr && !u32_of(speed)) || (duplex != nullptr && !u8_of(duplex)) ||
              (autoneg != nullptr && !u8_of(autoneg))) {
            err = EINVAL;
            break;
          }
          if (speed != nullptr) e->speed = *u32_of(speed);
          if (duplex != nullptr) e->duplex = *u8_of(duplex);
          if (autoneg != nullptr) e->autoneg = *u8_of(autoneg) == AUTONEG_ENABLE;
          break;
        }
        case ETHTOOL_MSG_DEBUG_GET: {
          Builder b = reply(ETHTOOL_MSG_DEBUG_GET_REPLY);
          std::vector<bool> bits(kMsgClasses.size());
          for (std::size_t i = 0; i < bits.size(); ++i)
            bits[i] = ((e->msg_enable >> i) & 1U) != 0;
          put_bitset(b, ETHTOOL_A_DEBUG_MSGMASK, bits, nullptr, msg_names,
                     (hflags & ETHTOOL_FLAG_COMPACT_BITSETS) != 0);
          out.push_back(b.take());
          break;
        }
        case ETHTOOL_MSG_DEBUG_SET: {
          const Attr* mask = find(top, ETHTOOL_A_DEBUG_MSGMASK);
          if (mask == nullptr) break;
          std::vector<bool> m;
          std::vector<bool> v;
          if ((err = bitset_change(*mask, msg_names, m, v, extack)) != 0) break;
          for (std::size_t i = 0; i < m.size(); ++i) {
            if (!m[i]) continue;
            e->msg_enable = v[i] ? e->msg_enable | (1U << i) : e->msg_enable & ~(1U << i);
          }
          break;
        }
        case ETHTOOL_MSG_COALESCE_GET: {
          Builder b = reply(ETHTOOL_MSG_COALESCE_GET_REPLY);
          b.u32(ETHTOOL_A_COALESCE_RX_MAX_FRAMES, e->rx_frames);
          out.push_back(b.take());
          break;
        }
        case ETHTOOL_MSG_COALESCE_SET: {
          for (const Attr& a : top) {
            if (a.type != ETHTOOL_A_COALESCE_HEADER && a.type != ETHTOOL_A_COALESCE_RX_MAX_FRAMES) {
              err = EOPNOTSUPP;
              extack = "unsupported parameter";
            }
          }
          const Attr* frames = find(top, ETHTOOL_A_COALESCE_RX_MAX_FRAMES);
          if (err != 0 || frames == nullptr) break;
          if (!u32_of(frames)) {
            err = EINVAL;
            break;
          }
          e->rx_frames = std::min(*u32_of(frames), kMaxRxFrames);
          break;
        }
        case ETHTOOL_MSG_FEATURES_GET: {
          Builder b = reply(ETHTOOL_MSG_FEATURES_GET_REPLY);
          const bool compact = (hflags & ETHTOOL_FLAG_COMPACT_BITSETS) != 0;
          std::vector<bool> hw;
          std::vector<bool> wanted;
          std::vector<bool> active;
          std::vector<bool> nochange(e->features.size(), false);
          const std::vector<bool> all(e->features.size(), true);
          for (const FeatureRecord& f : e->features) {
            hw.push_back(f.changeable);
            wanted.push_back(f.wanted);
            active.push_back(e->active(f));
          }
          put_bitset(b, ETHTOOL_A_FEATURES_HW, hw, &all, feature_names, compact);
          put_bitset(b, ETHTOOL_A_FEATURES_WANTED, wanted, nullptr, feature_names, compact);
          put_bitset(b, ETHTOOL_A_FEATURES_ACTIVE, active, nullptr, feature_names, compact);
          put_bitset(b, ETHTOOL_A_FEATURES_NOCHANGE, nochange, nullptr, feature_names, compact);
          out.push_back(b.take());
          break;
        }
        case ETHTOOL_MSG_FEATURES_SET: {
          const Attr* wanted = find(top, ETHTOOL_A_FEATURES_WANTED);
          if (wanted == nullptr) {
            err = EINVAL;
            break;
          }
          std::vector<bool> m;
          std::vector<bool> v;
          if ((err = bitset_change(*wanted, feature_names, m, v, extack)) != 0) break;
          // ethnl_set_features: only hw_features change; the rest is silently kept.
          for (std::size_t i = 0; i < m.size(); ++i) {
            if (m[i] && e->features[i].changeable) e->features[i].wanted = v[i];
          }
          break;
        }
        default:
          err = EOPNOTSUPP;
      }
    }
  }
  if (err != 0) {
    out.clear();
    out.push_back(answer_error(err, extack));
  } else if (ack) {
    out.push_back(answer_error(0, {}));
  }
  return out;
}

}  // namespace tunkit::testing
