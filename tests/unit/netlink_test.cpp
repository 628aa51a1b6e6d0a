// Unit tests of the internal rtnetlink layer (src/detail/netlink/): message building and
// parsing, the codecs. Built against a static tunkit only (a shared one does not export these).
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <vector>

#include "catch.hpp"
#include "detail/netlink/link.hpp"
#include "detail/netlink/parse.hpp"
#include "detail/netlink/request.hpp"
#include "detail/netlink/socket.hpp"
#include "tunkit/error.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

namespace nl = tunkit::detail::netlink;

namespace {

// An RTM_NEWLINK answer for a tun device, built with the library's own message layer.
nl::Request tun_link_message(bool bad_pi_size) {
  nl::Request r(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_index = 9;
  r.put_header(ifi);
  r.put_string(IFLA_IFNAME, "tun9");
  r.put_bytes(IFLA_ADDRESS, std::vector<std::uint8_t>{2, 0, 0, 0, 0, 9});
  const std::size_t info = r.begin_nested(IFLA_LINKINFO);
  r.put_string(IFLA_INFO_KIND, "tun");
  const std::size_t data = r.begin_nested(IFLA_INFO_DATA);
  r.put_bytes(IFLA_TUN_TYPE, std::vector<std::uint8_t>{IFF_TAP});
  if (bad_pi_size) {
    r.put_u32(IFLA_TUN_PI, 1);  // the kernel sends a u8
  } else {
    r.put_bytes(IFLA_TUN_PI, std::vector<std::uint8_t>{1});
  }
  r.put_u32(IFLA_TUN_OWNER, 0);  // uid 0 is an owner too
  r.end_nested(data);
  r.end_nested(info);
  return r;
}

}  // namespace

TEST_CASE("decode_link reads IFLA_LINKINFO and checks the tun attributes' sizes", "[netlink]") {
  nl::LinkMessage m;
  const nl::Request good = tun_link_message(false);
  REQUIRE(nl::decode_link(good.header(), m) == std::error_code());
  CHECK(m.kind == "tun");
  REQUIRE(m.tun);
  CHECK(m.tun->type == IFF_TAP);
  CHECK(m.tun->packet_info);
  CHECK(m.tun->owner == 0U);
  CHECK_FALSE(m.tun->group);
  REQUIRE(m.mac);
  CHECK(tunkit::MacAddress{*m.mac}.to_string() == "02:00:00:00:00:09");

  const nl::Request bad = tun_link_message(true);
  CHECK(nl::decode_link(bad.header(), m) == tunkit::errc::netlink_protocol);
}

TEST_CASE("parse_nested stops at a nest whose last attribute's padding is left out", "[netlink]") {
  // A nest of 17 bytes: its header, an 8-byte attribute and a 5-byte one whose 3 bytes of
  // padding the nest's length does not count. The walk must end there, not run on past the
  // nest (the zeroes after it would then read as a malformed attribute).
  alignas(4) std::array<std::uint8_t, 32> buf{};
  auto put_attr = [&](std::size_t at, std::uint16_t len, std::uint16_t type) {
    const nlattr a{len, type};
    std::memcpy(buf.data() + at, &a, sizeof a);
  };
  put_attr(0, 17, IFLA_LINKINFO | NLA_F_NESTED);
  put_attr(4, 8, IFLA_INFO_KIND);
  std::memcpy(buf.data() + 8, "tun", 4);
  put_attr(12, 5, IFLA_INFO_DATA);
  buf[16] = 7;
  std::array<const nlattr*, IFLA_INFO_DATA + 1> table{};
  const auto* nest = reinterpret_cast<const nlattr*>(buf.data());  // NOLINT: aligned
  REQUIRE(nl::parse_nested(*nest, table) == std::error_code());
  REQUIRE(table[IFLA_INFO_KIND] != nullptr);
  CHECK(nl::payload(*table[IFLA_INFO_KIND]).size() == 4);
  REQUIRE(table[IFLA_INFO_DATA] != nullptr);
  CHECK(nl::payload(*table[IFLA_INFO_DATA]).size() == 1);
}

TEST_CASE("Socket keeps the kernel's extended-ack message of the last failed request",
          "[netlink]") {
  tunkit::testing::FakeKernel k;
  std::error_code ec;
  nl::Socket socket = nl::Socket::open(k, ec);
  REQUIRE_FALSE(ec);
  CHECK(socket.protocol() == NETLINK_ROUTE);
  CHECK(socket.extack().empty());

  const auto get_link = [](int ifindex) {
    nl::Request r(RTM_GETLINK, 0);
    ifinfomsg ifi{};
    ifi.ifi_index = ifindex;
    r.put_header(ifi);
    return r;
  };

  // A refusal with a message: NLM_F_ACK_TLVS and NLMSGERR_ATTR_MSG after the capped request.
  k.rtnetlink().fail_next(RTM_GETLINK, EINVAL, "Invalid header for link request");
  nl::Request first = get_link(1);
  CHECK(socket.transact(first) == std::error_code(EINVAL, std::system_category()));
  CHECK(socket.extack() == "Invalid header for link request");

  // A refusal without one (no such ifindex) leaves no stale text behind.
  nl::Request second = get_link(999);
  CHECK(socket.transact(second) == std::error_code(ENODEV, std::system_category()));
  CHECK(socket.extack().empty());

  // A message longer than the kept capacity is truncated, not overrun.
  k.rtnetlink().fail_next(RTM_GETLINK, EPERM, std::string(400, 'x'));
  nl::Request third = get_link(1);
  CHECK(socket.transact(third) == std::error_code(EPERM, std::system_category()));
  CHECK(socket.extack() == std::string(nl::Socket::kExtackCapacity, 'x'));
}
