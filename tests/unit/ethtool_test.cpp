// Unit tests of tunkit::Ethtool over the fake kernel's generic netlink (the controller and the
// ethtool family, src/testing/fake_rtnetlink/ethtool.cpp) and its SIOCETHTOOL: the messages
// built (family resolution, the request header, only the fields asked for, bitsets by name), the
// replies parsed (compact and verbose bitsets, the features' three states), and every refusal
// with its message. The answers are checked against the real kernel in
// tests/netns/ethtool_netns_test.cpp.
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/sockios.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "catch.hpp"
#include "detail/netlink/genl.hpp"
#include "fake_world.hpp"
#include "tunkit/error.hpp"
#include "tunkit/ethtool.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace nl = tunkit::detail::netlink;
using tunkit::Ethtool;
using tunkit::FeatureChange;
using FakeNl = tunkit::testing::FakeRtnetlink;

namespace {
constexpr std::size_t kEthtoolNlmsg = sizeof(nlmsghdr);   // 16, already aligned
constexpr std::size_t kEthtoolGenl = sizeof(genlmsghdr);  // 4
constexpr std::size_t kEthtoolNla = sizeof(nlattr);       // 4

// The attributes nested in `payload`, by type (the last of each).
std::map<int, std::vector<std::uint8_t>> ethtool_nested(const std::vector<std::uint8_t>& payload) {
  std::map<int, std::vector<std::uint8_t>> out;
  for (std::size_t at = 0; payload.size() - at >= kEthtoolNla;) {
    nlattr a{};
    std::memcpy(&a, payload.data() + at, sizeof a);
    if (a.nla_len < kEthtoolNla || a.nla_len > payload.size() - at) break;
    out[a.nla_type & NLA_TYPE_MASK].assign(payload.begin() + static_cast<long>(at + kEthtoolNla),
                                           payload.begin() + static_cast<long>(at + a.nla_len));
    at += (a.nla_len + 3U) & ~3U;
  }
  return out;
}

std::uint32_t ethtool_u32(const std::vector<std::uint8_t>& p) {
  REQUIRE(p.size() == 4);
  std::uint32_t v = 0;
  std::memcpy(&v, p.data(), sizeof v);
  return v;
}

// The ethtool requests of command `cmd`, in order.
std::vector<FakeNl::Request> ethtool_sent(const FakeNl& rtnl, std::uint8_t cmd) {
  std::vector<FakeNl::Request> out;
  for (const auto& r : rtnl.requests()) {
    if (r.type == FakeNl::kEthtoolFamilyId && r.genl_cmd == cmd) out.push_back(r);
  }
  return out;
}

std::optional<tunkit::Feature> ethtool_unit_feature(const std::vector<tunkit::Feature>& all,
                                                    std::string_view name) {
  const auto it = std::find_if(all.begin(), all.end(),
                               [&](const tunkit::Feature& f) { return f.name == name; });
  if (it == all.end()) return std::nullopt;
  return *it;
}

std::string ethtool_device(const test::World& w) {
  return "\"interface index " + std::to_string(w.ifindex()) + "\"";
}

}  // namespace

TEST_CASE("genl_request writes the family id, command and version", "[ethtool][netlink]") {
  nl::Request r = nl::genl_request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
  r.put_string(CTRL_ATTR_FAMILY_NAME, ETHTOOL_GENL_NAME);
  const auto bytes = r.bytes();
  REQUIRE(bytes.size() >= kEthtoolNlmsg + kEthtoolGenl + kEthtoolNla + sizeof(ETHTOOL_GENL_NAME));
  nlmsghdr h{};
  std::memcpy(&h, bytes.data(), sizeof h);
  CHECK(h.nlmsg_type == GENL_ID_CTRL);
  CHECK(h.nlmsg_len == bytes.size());
  genlmsghdr g{};
  std::memcpy(&g, bytes.data() + kEthtoolNlmsg, sizeof g);
  CHECK(g.cmd == CTRL_CMD_GETFAMILY);
  CHECK(g.version == 1);
  nlattr a{};
  std::memcpy(&a, bytes.data() + kEthtoolNlmsg + kEthtoolGenl, sizeof a);
  CHECK(a.nla_type == CTRL_ATTR_FAMILY_NAME);
  CHECK(a.nla_len == kEthtoolNla + sizeof(ETHTOOL_GENL_NAME));  // with its NUL
  CHECK(std::string(reinterpret_cast<const char*>(bytes.data()) + kEthtoolNlmsg + kEthtoolGenl +
                    kEthtoolNla) == ETHTOOL_GENL_NAME);
}

TEST_CASE("Ethtool resolves the family by name, then sends the interface index in the header",
          "[ethtool]") {
  test::World w;
  Ethtool ethtool(w.ifindex(), w.kernel);
  REQUIRE_FALSE(w.rtnl.requests().empty());
  const auto& resolve = w.rtnl.requests().front();
  CHECK(resolve.type == GENL_ID_CTRL);
  CHECK(resolve.genl_cmd == CTRL_CMD_GETFAMILY);
  REQUIRE(resolve.find(CTRL_ATTR_FAMILY_NAME) != nullptr);
  CHECK(resolve.find(CTRL_ATTR_FAMILY_NAME)->str() == "ethtool");

  (void)ethtool.link_settings();
  const auto get = ethtool_sent(w.rtnl, ETHTOOL_MSG_LINKMODES_GET);
  REQUIRE(get.size() == 1);
  REQUIRE(get[0].find(ETHTOOL_A_LINKMODES_HEADER) != nullptr);
  const auto header = ethtool_nested(get[0].find(ETHTOOL_A_LINKMODES_HEADER)->payload);
  CHECK(ethtool_u32(header.at(ETHTOOL_A_HEADER_DEV_INDEX)) == w.ifindex());
  CHECK(get[0].has_flags(NLM_F_REQUEST | NLM_F_ACK));
}

TEST_CASE("Ethtool link settings: tun's defaults, only the fields given are sent, 0 is unknown",
          "[ethtool]") {
  test::World w;
  Ethtool ethtool(w.ifindex(), w.kernel);
  auto s = ethtool.link_settings();
  CHECK(s.speed == std::optional<std::uint32_t>(10000));
  CHECK(s.duplex == tunkit::Duplex::full);
  CHECK_FALSE(s.autoneg);

  ethtool.set_link_settings({.speed = 2500});
  const auto set = ethtool_sent(w.rtnl, ETHTOOL_MSG_LINKMODES_SET);
  REQUIRE(set.size() == 1);
  REQUIRE(set[0].find(ETHTOOL_A_LINKMODES_SPEED) != nullptr);
  CHECK(set[0].find(ETHTOOL_A_LINKMODES_SPEED)->u32() == std::optional<std::uint32_t>(2500));
  CHECK(set[0].find(ETHTOOL_A_LINKMODES_DUPLEX) == nullptr);
  CHECK(set[0].find(ETHTOOL_A_LINKMODES_AUTONEG) == nullptr);
  CHECK(w.record().ethtool.speed == 2500);
  CHECK(w.record().ethtool.duplex == DUPLEX_FULL);

  ethtool.set_link_settings({.duplex = tunkit::Duplex::half, .autoneg = true});
  s = ethtool.link_settings();
  CHECK(s.speed == std::optional<std::uint32_t>(2500));
  CHECK(s.duplex == tunkit::Duplex::half);
  CHECK(s.autoneg);

  for (const std::uint32_t unknown : {0U, static_cast<std::uint32_t>(SPEED_UNKNOWN)}) {
    ethtool.set_link_settings({.speed = unknown});
    CHECK_FALSE(ethtool.link_settings().speed.has_value());
  }
}

TEST_CASE("Ethtool message level: a compact bitset each way, bits past the kernel's refused",
          "[ethtool]") {
  test::World w;
  Ethtool ethtool(w.ifindex(), w.kernel);
  CHECK(ethtool.message_level() == 0);
  ethtool.set_message_level(0x5);
  CHECK(w.record().ethtool.msg_enable == 0x5);
  CHECK(ethtool.message_level() == 0x5);
  const auto get = ethtool_sent(w.rtnl, ETHTOOL_MSG_DEBUG_GET);
  REQUIRE_FALSE(get.empty());
  const auto header = ethtool_nested(get.back().find(ETHTOOL_A_DEBUG_HEADER)->payload);
  CHECK(ethtool_u32(header.at(ETHTOOL_A_HEADER_FLAGS)) == ETHTOOL_FLAG_COMPACT_BITSETS);
  const auto set = ethtool_sent(w.rtnl, ETHTOOL_MSG_DEBUG_SET);
  REQUIRE(set.size() == 1);
  const auto mask = ethtool_nested(set[0].find(ETHTOOL_A_DEBUG_MSGMASK)->payload);
  CHECK(mask.count(ETHTOOL_A_BITSET_NOMASK) == 1);  // exactly these bits: the others go to 0
  CHECK(ethtool_u32(mask.at(ETHTOOL_A_BITSET_VALUE)) == 0x5);

  // The kernel's words, measured on Linux 6.18, come with the error.
  const auto e = test::thrown_by([&] { ethtool.set_message_level(0x80000000U); });
  CHECK(e.code() == test::sys(EINVAL));
  CHECK(std::string(e.what()) == "tunkit: set message level 0x80000000 " + ethtool_device(w) +
                                     ": invalid argument (kernel: cannot modify bits past kernel "
                                     "bitset size)");
  CHECK(ethtool.message_level() == 0x5);
}

TEST_CASE("Ethtool rx-frames: set, capped at 64 as tun does, read back", "[ethtool]") {
  test::World w;
  Ethtool ethtool(w.ifindex(), w.kernel);
  CHECK(ethtool.rx_frames() == 0);
  ethtool.set_rx_frames(8);
  CHECK(ethtool.rx_frames() == 8);
  ethtool.set_rx_frames(1000);
  CHECK(ethtool.rx_frames() == 64);
  const auto set = ethtool_sent(w.rtnl, ETHTOOL_MSG_COALESCE_SET);
  REQUIRE(set.size() == 2);
  CHECK(set[1].find(ETHTOOL_A_COALESCE_RX_MAX_FRAMES)->u32() == std::optional<std::uint32_t>(1000));
  CHECK(set[1].attributes.size() == 2);  // the header and rx-frames, nothing else
}

TEST_CASE("Ethtool driver info: tun, and the bus says tun or tap", "[ethtool]") {
  test::World tun;
  const auto t = Ethtool(tun.ifindex(), tun.kernel).driver_info();
  CHECK(t.driver == "tun");
  CHECK(t.version == "1.6");
  CHECK(t.bus_info == "tun");
  CHECK(t.firmware_version.empty());
  CHECK(test::ioctls(tun.kernel, SIOCETHTOOL).size() == 1);
  test::World tap(tunkit::Mode::tap, "tap0");
  CHECK(Ethtool::from_name("tap0", tap.kernel).driver_info().bus_info == "tap");
  CHECK_THROWS_AS(Ethtool::from_name("nosuch0", tap.kernel), tunkit::Error);
}

TEST_CASE("Ethtool features: three states, offloads follow TUNSETOFFLOAD, changes by name",
          "[ethtool]") {
  tunkit::testing::FakeKernel k;
  tunkit::TunDevice dev({.name = "tun0", .vnet_hdr = true}, k);
  Ethtool ethtool(dev.ifindex(), k);
  const FakeNl& rtnl = k.rtnetlink();
  auto all = ethtool.features();
  REQUIRE(all.size() == FakeNl::EthtoolRecord::default_features().size());
  auto uso = ethtool_unit_feature(all, "tx-udp-segmentation");
  REQUIRE(uso);
  CHECK_FALSE(uso->active);
  CHECK_FALSE(uso->fixed);
  CHECK(ethtool_unit_feature(all, "rx-gro")->active);
  CHECK(ethtool_unit_feature(all, "rx-checksum")->fixed);

  // Asked for by ethtool: requested, not active (nobody offered it).
  auto changed = ethtool.set_features(std::vector<FeatureChange>{{"tx-udp-segmentation", true}});
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].requested);
  CHECK_FALSE(changed[0].active);
  const auto set = ethtool_sent(rtnl, ETHTOOL_MSG_FEATURES_SET);
  REQUIRE(set.size() == 1);
  const auto header = ethtool_nested(set[0].find(ETHTOOL_A_FEATURES_HEADER)->payload);
  CHECK(ethtool_u32(header.at(ETHTOOL_A_HEADER_FLAGS)) == ETHTOOL_FLAG_OMIT_REPLY);
  const auto wanted = ethtool_nested(set[0].find(ETHTOOL_A_FEATURES_WANTED)->payload);
  CHECK(wanted.count(ETHTOOL_A_BITSET_NOMASK) == 0);  // only the bits named change
  const auto bit = ethtool_nested(
      ethtool_nested(wanted.at(ETHTOOL_A_BITSET_BITS)).at(ETHTOOL_A_BITSET_BITS_BIT));
  CHECK(std::string(bit.at(ETHTOOL_A_BITSET_BIT_NAME).begin(),
                    bit.at(ETHTOOL_A_BITSET_BIT_NAME).end() - 1) == "tx-udp-segmentation");
  CHECK(bit.count(ETHTOOL_A_BITSET_BIT_VALUE) == 1);

  // Offered by the reader: active.
  (void)dev.set_offloads(tunkit::Offload::csum | tunkit::Offload::uso4 | tunkit::Offload::uso6);
  uso = ethtool_unit_feature(ethtool.features(), "tx-udp-segmentation");
  CHECK(uso->active);
  CHECK(uso->requested);

  // A group name: its changeable members.
  changed = ethtool.set_features(std::vector<FeatureChange>{{"tso", false}});
  std::vector<std::string> names;
  for (const auto& f : changed)
    names.push_back(f.name);
  CHECK(names == std::vector<std::string>{"tx-tcp-segmentation", "tx-tcp-ecn-segmentation",
                                          "tx-tcp6-segmentation"});
  ethtool.set_features(std::vector<FeatureChange>{{"gro", false}, {"tx-udp-segmentation", false}});
  all = ethtool.features();
  CHECK_FALSE(ethtool_unit_feature(all, "rx-gro")->active);
  CHECK_FALSE(ethtool_unit_feature(all, "tx-udp-segmentation")->active);
  // Asking a fixed feature for the state it has changes nothing and is no error.
  CHECK(ethtool.set_features(std::vector<FeatureChange>{{"rx-checksum", false}}).empty());
}

TEST_CASE("Ethtool features: refusals name the feature and send nothing", "[ethtool]") {
  test::World w;
  Ethtool ethtool(w.ifindex(), w.kernel);
  const auto device = ethtool_device(w);
  auto e = test::thrown_by([&] {
    (void)ethtool.set_features(
        std::vector<FeatureChange>{{"rx-gro", false}, {"rx-checksum", true}});
  });
  CHECK(e.code() == tunkit::errc::feature_fixed);
  CHECK(std::string(e.what()) == "tunkit: set feature rx-checksum " + device +
                                     ": feature fixed by the driver (the driver does not let it "
                                     "change)");
  e = test::thrown_by([&] {
    (void)ethtool.set_features(std::vector<FeatureChange>{{"tx-warp-drive", true}});
  });
  CHECK(e.code() == tunkit::errc::unknown_feature);
  CHECK(e.code() == std::errc::invalid_argument);
  CHECK(std::string(e.what()) == "tunkit: set feature tx-warp-drive " + device +
                                     ": no such device feature (the device reports no feature of "
                                     "that name)");
  CHECK(ethtool_sent(w.rtnl, ETHTOOL_MSG_FEATURES_SET).empty());
  CHECK(ethtool_unit_feature(ethtool.features(), "rx-gro")->active);
  std::error_code ec;
  CHECK(ethtool.set_features(std::vector<FeatureChange>{{"tx-warp-drive", true}}, ec).empty());
  CHECK(ec == tunkit::errc::unknown_feature);
}

TEST_CASE("Ethtool over the fake: every refusal with its message", "[ethtool]") {
  test::World w;
  Ethtool ethtool(w.ifindex(), w.kernel);
  const auto device = ethtool_device(w);

  SECTION("a set without CAP_NET_ADMIN") {
    w.rtnl.set_net_admin(false);
    const auto e = test::thrown_by([&] { ethtool.set_rx_frames(4); });
    CHECK(e.code() == test::sys(EPERM));
    CHECK(std::string(e.what()) == "tunkit: set rx-frames 4 " + device +
                                       ": operation not permitted (needs CAP_NET_ADMIN in the "
                                       "interface's network namespace)");
    CHECK(ethtool.rx_frames() == 0);  // reading needs no privilege
  }
  SECTION("the interface is gone") {
    w.kernel.delete_device("tun0");
    std::error_code ec;
    (void)ethtool.link_settings(ec);
    CHECK(ec == test::sys(ENODEV));
    const auto e = test::thrown_by([&] { (void)ethtool.features(); });
    CHECK(std::string(e.what()) ==
          "tunkit: read features " + device + ": no such device (the interface no longer exists)");
    const auto d = test::thrown_by([&] { (void)ethtool.driver_info(); });
    CHECK(d.code() == test::sys(ENODEV));
  }
  SECTION("the kernel's own words come with its refusal") {
    w.rtnl.fail_next_genl(ETHTOOL_MSG_LINKMODES_SET, EOPNOTSUPP, "link mode not supported");
    const auto e = test::thrown_by([&] { ethtool.set_link_settings({.speed = 100}); });
    CHECK(e.code() == test::sys(EOPNOTSUPP));
    CHECK(std::string(e.what()).ends_with("(kernel: link mode not supported)"));
    CHECK(w.record().ethtool.speed == 10000);
  }
  SECTION("a reply without what was asked for is a protocol error") {
    // The reply keeps its headers and loses its attributes.
    w.rtnl.edit_next_reply(FakeNl::kEthtoolFamilyId, [](auto& datagrams) {
      REQUIRE_FALSE(datagrams.empty());
      const auto len = static_cast<std::uint32_t>(kEthtoolNlmsg + kEthtoolGenl);
      datagrams[0].resize(len);
      std::memcpy(datagrams[0].data(), &len, sizeof len);  // nlmsg_len comes first
    });
    std::error_code ec;
    (void)ethtool.rx_frames(ec);
    CHECK(ec == tunkit::errc::netlink_protocol);
  }
  SECTION("a moved-from Ethtool is not open") {
    Ethtool other = std::move(ethtool);
    std::error_code ec;
    (void)ethtool.features(ec);  // NOLINT(bugprone-use-after-move): what it says is the test
    CHECK(ec == tunkit::errc::not_open);
    (void)ethtool.driver_info(ec);
    CHECK(ec == tunkit::errc::not_open);
    CHECK(other.rx_frames() == 0);
  }
}

TEST_CASE("Ethtool names the socket it could not open and the errno", "[ethtool]") {
  tunkit::testing::FakeKernel k;
  k.rtnetlink().set_generic_netlink(false);  // a kernel without generic netlink
  try {
    tunkit::Ethtool ethtool(1, k);
    FAIL("no error");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == std::error_code(EPROTONOSUPPORT, std::system_category()));
    CHECK(std::string(e.what()).find("open generic netlink socket") != std::string::npos);
    CHECK(std::string(e.what()).find("interface index 1") != std::string::npos);
  }
  CHECK(k.open_fd_count() == 0);
}

TEST_CASE("Ethtool says when the kernel has no ethtool family", "[ethtool]") {
  tunkit::testing::FakeKernel k;
  k.rtnetlink().fail_next_genl(CTRL_CMD_GETFAMILY, ENOENT);
  const auto e = test::thrown_by([&] { tunkit::Ethtool ethtool(1, k); });
  CHECK(e.code() == test::sys(ENOENT));
  CHECK(std::string(e.what()) ==
        "tunkit: resolve the ethtool netlink family \"interface index 1\": no such file or "
        "directory (the kernel has no ethtool netlink family (Linux 5.6+ with "
        "CONFIG_ETHTOOL_NETLINK))");
  CHECK(k.open_fd_count() == 0);
}
