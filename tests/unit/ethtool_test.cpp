// Unit tests of tunkit::Ethtool and the generic-netlink layer under it (src/detail/netlink/genl).
// The fake kernel has no generic netlink yet (it refuses NETLINK_GENERIC sockets as a kernel
// without it would), so the messages are checked as built and the refusal path over the fake;
// the answers are checked against the real kernel in tests/netns/ethtool_netns_test.cpp.
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <cstring>
#include <string>
#include <system_error>

#include "catch.hpp"
#include "detail/netlink/genl.hpp"
#include "tunkit/error.hpp"
#include "tunkit/ethtool.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace nl = tunkit::detail::netlink;

namespace {
constexpr std::size_t kEthtoolNlmsg = sizeof(nlmsghdr);   // 16, already aligned
constexpr std::size_t kEthtoolGenl = sizeof(genlmsghdr);  // 4
constexpr std::size_t kEthtoolNla = sizeof(nlattr);       // 4
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

TEST_CASE("Ethtool names the socket it could not open and the errno", "[ethtool]") {
  tunkit::testing::FakeKernel k;
  try {
    tunkit::Ethtool ethtool(1, k);
    FAIL("no error");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == std::error_code(EPROTONOSUPPORT, std::system_category()));
    CHECK(std::string(e.what()).find("open generic netlink socket") != std::string::npos);
    CHECK(std::string(e.what()).find("interface index 1") != std::string::npos);
  }
}
