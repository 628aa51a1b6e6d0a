#include "tunkit/link.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

using tunkit::IpAddress;
using tunkit::IpPrefix;
using tunkit::Link;
using tunkit::testing::FakeKernel;
using tunkit::testing::FakeRtnetlink;
using Call = FakeKernel::Call;
using Datagrams = std::vector<std::vector<std::byte>>;

namespace {

using test::kNeedsNetAdmin;
using test::sys;
using test::thrown_by;
using test::World;  // a fake kernel holding TUN "tun0" with a reader (carrier on)

std::vector<std::uint8_t> bytes_of(const IpAddress& a) {
  return {a.bytes().begin(), a.bytes().end()};
}

std::size_t count_calls(const FakeKernel& kernel, Call call) {
  return kernel.count(call);
}

// The header of the first message of a datagram, for editing answers.
nlmsghdr header_of(const std::vector<std::byte>& datagram) {
  nlmsghdr h{};
  std::memcpy(&h, datagram.data(), sizeof h);
  return h;
}
void set_header(std::vector<std::byte>& datagram, const nlmsghdr& h) {
  std::memcpy(datagram.data(), &h, sizeof h);
}

}  // namespace

// --- Opening ------------------------------------------------------------------------------------

TEST_CASE("Link opens one NETLINK_ROUTE socket through the seam and looks up the name", "[link]") {
  World w;
  const std::size_t fds = w.kernel.open_fd_count();
  w.kernel.clear_calls();
  {
    Link link(w.ifindex(), w.kernel);
    CHECK(link.name() == "tun0");
    CHECK(link.ifindex() == w.ifindex());
    CHECK(w.kernel.open_fd_count() == fds + 1);
    CHECK(w.rtnl.open_sockets() == 1);

    const auto calls = w.kernel.calls();
    REQUIRE_FALSE(calls.empty());
    CHECK(calls.front().call == Call::socket);
    CHECK(calls.front().request == AF_NETLINK);
    CHECK(calls.front().arg == (SOCK_RAW | SOCK_CLOEXEC));
    CHECK(count_calls(w.kernel, Call::bind) == 1);
    CHECK(count_calls(w.kernel, Call::getsockname) == 1);

    REQUIRE(w.rtnl.requests().size() == 1);
    const auto& r = w.rtnl.requests().front();
    CHECK(r.type == RTM_GETLINK);
    CHECK(r.flags == (NLM_F_REQUEST | NLM_F_ACK));
    CHECK(r.family == AF_UNSPEC);
    CHECK(r.ifindex == w.ifindex());
    CHECK(r.attributes.empty());
    CHECK(r.seq != 0);
  }
  CHECK(w.kernel.open_fd_count() == fds);
  CHECK(w.rtnl.open_sockets() == 0);
}

TEST_CASE("Link::from_name looks the interface up by IFLA_IFNAME", "[link]") {
  World w;
  const Link link = Link::from_name("tun0", w.kernel);
  CHECK(link.ifindex() == w.ifindex());
  CHECK(link.name() == "tun0");
  const auto& r = w.last();
  CHECK(r.type == RTM_GETLINK);
  CHECK(r.flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(r.ifindex == 0);
  REQUIRE(r.find(IFLA_IFNAME) != nullptr);
  CHECK(r.find(IFLA_IFNAME)->str() == "tun0");
  CHECK(r.find(IFLA_IFNAME)->payload.size() == 5);  // NUL-terminated
}

TEST_CASE("A missing interface is errc::link_not_found and leaks nothing", "[link][errors]") {
  World w;
  const std::size_t fds = w.kernel.open_fd_count();

  auto e = thrown_by([&] { Link link(99, w.kernel); });
  CHECK(e.code() == tunkit::errc::link_not_found);
  CHECK(std::string(e.what()) == "tunkit: look up interface index 99: no such network interface");
  CHECK(w.kernel.open_fd_count() == fds);

  e = thrown_by([&] { (void)Link::from_name("nope0", w.kernel); });
  CHECK(e.code() == tunkit::errc::link_not_found);
  CHECK(std::string(e.what()) == "tunkit: look up interface \"nope0\": no such network interface");
  CHECK(w.kernel.open_fd_count() == fds);

  // Index 0 and names the kernel could never hold are refused before any system call.
  w.kernel.clear_calls();
  e = thrown_by([&] { Link link(0, w.kernel); });
  CHECK(e.code() == tunkit::errc::link_not_found);
  e = thrown_by([&] { (void)Link::from_name("much-too-long-name", w.kernel); });
  CHECK(e.code() == tunkit::errc::name_too_long);
  e = thrown_by([&] { (void)Link::from_name("", w.kernel); });
  CHECK(e.code() == tunkit::errc::invalid_name);
  CHECK(w.kernel.calls().empty());
}

TEST_CASE("Socket setup failures close the socket and keep the errno", "[link][errors]") {
  World w;
  const std::size_t fds = w.kernel.open_fd_count();
  const std::string index = std::to_string(w.ifindex());

  SECTION("socket() fails with EMFILE") {
    w.kernel.fail_next(Call::socket, EMFILE);
    const auto e = thrown_by([&] { Link link(w.ifindex(), w.kernel); });
    CHECK(e.code() == sys(EMFILE));
    CHECK(std::string(e.what()) == "tunkit: open rtnetlink socket for interface index " + index +
                                       ": too many open files in this process");
  }
  SECTION("bind() fails") {
    w.kernel.fail_next(Call::bind, ENOBUFS);
    const auto e = thrown_by([&] { Link link(w.ifindex(), w.kernel); });
    CHECK(e.code() == sys(ENOBUFS));
    CHECK(std::string(e.what()) == "tunkit: open rtnetlink socket for interface index " + index +
                                       ": no buffer space available");
  }
  SECTION("getsockname() fails") {
    w.kernel.fail_next(Call::getsockname, ENOBUFS);
    const auto e = thrown_by([&] { (void)Link::from_name("tun0", w.kernel); });
    CHECK(e.code() == sys(ENOBUFS));
    CHECK(std::string(e.what()) ==
          "tunkit: open rtnetlink socket for \"tun0\": no buffer space available");
  }
  SECTION("sendto() fails") {
    w.kernel.fail_next(Call::sendto, ENOBUFS);
    const auto e = thrown_by([&] { Link link(w.ifindex(), w.kernel); });
    CHECK(e.code() == sys(ENOBUFS));
  }
  SECTION("recvfrom() fails") {
    w.kernel.fail_next(Call::recvfrom, ENOBUFS);
    const auto e = thrown_by([&] { Link link(w.ifindex(), w.kernel); });
    CHECK(e.code() == sys(ENOBUFS));
    CHECK(std::string(e.what()) ==
          "tunkit: look up interface index " + index + ": no buffer space available");
  }
  SECTION("the kernel refuses the look-up") {
    w.rtnl.fail_next(RTM_GETLINK, EACCES);
    const auto e = thrown_by([&] { Link link(w.ifindex(), w.kernel); });
    CHECK(e.code() == sys(EACCES));
  }
  CHECK(w.kernel.open_fd_count() == fds);
  CHECK(w.rtnl.open_sockets() == 0);
}

// --- Marshalling and effect of each operation ---------------------------------------------------

TEST_CASE("set_up and set_down send RTM_NEWLINK changing IFF_UP only", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);

  link.set_up();
  const auto up = w.last();
  CHECK(up.type == RTM_NEWLINK);
  CHECK(up.flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(up.family == AF_UNSPEC);
  CHECK(up.ifindex == w.ifindex());
  CHECK(up.ifi_flags == IFF_UP);
  CHECK(up.ifi_change == IFF_UP);
  CHECK(up.attributes.empty());
  CHECK((w.record().flags & IFF_UP) != 0);

  const tunkit::LinkState s = link.state();
  CHECK(s.up);
  CHECK(s.running);
  CHECK(s.lower_up);
  CHECK((s.flags & IFF_POINTOPOINT) != 0);

  link.set_up();  // again: not an error
  link.set_down();
  const auto down = w.last();
  CHECK(down.type == RTM_NEWLINK);
  CHECK(down.ifi_flags == 0);
  CHECK(down.ifi_change == IFF_UP);
  CHECK((w.record().flags & (IFF_UP | IFF_RUNNING)) == 0);
  CHECK_FALSE(link.state().up);
}

TEST_CASE("set_mtu sends IFLA_MTU", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.set_mtu(1400);
  const auto& r = w.last();
  CHECK(r.type == RTM_NEWLINK);
  CHECK(r.flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(r.ifindex == w.ifindex());
  CHECK(r.ifi_change == 0);
  REQUIRE(r.attributes.size() == 1);
  CHECK(r.attributes[0].type == IFLA_MTU);
  CHECK(r.attributes[0].u32() == 1400U);
  CHECK(w.record().mtu == 1400);
  CHECK(link.state().mtu == 1400);
}

TEST_CASE("add_address and remove_address send RTM_NEWADDR / RTM_DELADDR", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);

  SECTION("IPv4: IFA_LOCAL and IFA_ADDRESS") {
    const auto p = IpPrefix::parse("10.1.2.3/24");
    link.add_address(p);
    const auto add = w.last();
    CHECK(add.type == RTM_NEWADDR);
    CHECK(add.flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
    CHECK(add.family == AF_INET);
    CHECK(add.prefix_length == 24);
    CHECK(add.scope == RT_SCOPE_UNIVERSE);
    CHECK(add.ifindex == w.ifindex());
    REQUIRE(add.attributes.size() == 2);
    REQUIRE(add.find(IFA_LOCAL) != nullptr);
    REQUIRE(add.find(IFA_ADDRESS) != nullptr);
    CHECK(add.find(IFA_LOCAL)->payload == bytes_of(p.address));
    CHECK(add.find(IFA_ADDRESS)->payload == bytes_of(p.address));
    CHECK(w.record().addresses == std::vector<IpPrefix>{p});

    link.remove_address(p);
    const auto del = w.last();
    CHECK(del.type == RTM_DELADDR);
    CHECK(del.flags == (NLM_F_REQUEST | NLM_F_ACK));
    CHECK(del.family == AF_INET);
    CHECK(del.prefix_length == 24);
    CHECK(del.find(IFA_LOCAL)->payload == bytes_of(p.address));
    CHECK(w.record().addresses.empty());
  }
  SECTION("IPv6: IFA_ADDRESS alone") {
    const auto p = IpPrefix::parse("fd00::1/64");
    link.add_address(p);
    const auto add = w.last();
    CHECK(add.type == RTM_NEWADDR);
    CHECK(add.family == AF_INET6);
    CHECK(add.prefix_length == 64);
    REQUIRE(add.attributes.size() == 1);
    CHECK(add.attributes[0].type == IFA_ADDRESS);
    CHECK(add.attributes[0].payload == bytes_of(p.address));
    CHECK(w.record().addresses == std::vector<IpPrefix>{p});

    link.remove_address(p);
    CHECK(w.last().type == RTM_DELADDR);
    CHECK(w.last().family == AF_INET6);
    CHECK(w.record().addresses.empty());
  }
}

TEST_CASE("state() reads RTM_GETLINK", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const tunkit::LinkState s = link.state();
  CHECK(w.last().type == RTM_GETLINK);
  CHECK(w.last().ifindex == w.ifindex());
  CHECK(s.name == "tun0");
  CHECK(s.ifindex == w.ifindex());
  CHECK(s.mtu == 1500);
  CHECK(s.min_mtu == 68);
  CHECK(s.max_mtu == 65535);
  CHECK(s.flags == (IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST));
  CHECK_FALSE(s.up);
  CHECK_FALSE(s.running);
  CHECK_FALSE(s.lower_up);
}

TEST_CASE("addresses() dumps both families and keeps this interface's only", "[link]") {
  World w;
  // Kernels since 4.20 filter the dump by interface (NETLINK_GET_STRICT_CHK); older ones dump
  // every interface's addresses and Link filters them itself.
  const bool strict = GENERATE(true, false);
  CAPTURE(strict);
  w.rtnl.set_strict_check_supported(strict);
  w.rtnl.add_link(50, "other0");
  {
    Link other(50, w.kernel);
    other.add_address(IpPrefix::parse("192.168.9.9/24"));
    other.add_address(IpPrefix::parse("fd99::9/64"));
  }
  Link link(w.ifindex(), w.kernel);
  CHECK(link.addresses().empty());
  const auto& r = w.last();
  CHECK(r.type == RTM_GETADDR);
  CHECK(r.flags == (NLM_F_REQUEST | NLM_F_DUMP));
  CHECK(r.family == AF_UNSPEC);
  CHECK(r.ifindex == w.ifindex());
  CHECK(r.prefix_length == 0);
  CHECK(r.attributes.empty());

  link.add_address(IpPrefix::parse("fd00::1/64"));
  link.add_address(IpPrefix::parse("10.1.2.3/24"));
  link.add_address(IpPrefix::parse("10.9.0.1/16"));
  CHECK(link.addresses() == std::vector<IpPrefix>{IpPrefix::parse("10.1.2.3/24"),
                                                  IpPrefix::parse("10.9.0.1/16"),
                                                  IpPrefix::parse("fd00::1/64")});

  // Up with carrier: the kernel adds an IPv6 link-local address; down drops IPv6 addresses.
  link.set_up();
  const auto up = link.addresses();
  REQUIRE(up.size() == 4);
  CHECK(up[3].address.to_string().rfind("fe80:", 0) == 0);
  link.set_down();
  CHECK(link.addresses() ==
        std::vector<IpPrefix>{IpPrefix::parse("10.1.2.3/24"), IpPrefix::parse("10.9.0.1/16")});
}

TEST_CASE("A dump spread over several datagrams is read to NLMSG_DONE", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  std::vector<IpPrefix> want;
  for (int i = 1; i <= 200; ++i) {  // ~80 bytes each: several 4 KiB datagrams
    want.push_back(IpPrefix::parse("10.0." + std::to_string(i) + ".1/24"));
    link.add_address(want.back());
  }
  CHECK(link.addresses() == want);
}

// --- Errors: every errno path, with the exact message ------------------------------------------

TEST_CASE("EPERM names the missing capability", "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const std::size_t fds = w.kernel.open_fd_count();

  SECTION("set up") {
    w.rtnl.fail_next(RTM_NEWLINK, EPERM);
    const auto e = thrown_by([&] { link.set_up(); });
    CHECK(e.code() == sys(EPERM));
    CHECK(std::string(e.what()) ==
          std::string("tunkit: set up \"tun0\": operation not permitted (") + kNeedsNetAdmin + ")");
  }
  SECTION("every change without CAP_NET_ADMIN, while reading still works") {
    w.rtnl.set_net_admin(false);
    CHECK_THROWS_WITH(link.set_down(), std::string("tunkit: set down \"tun0\": operation not "
                                                   "permitted (") +
                                           kNeedsNetAdmin + ")");
    CHECK_THROWS_WITH(link.set_mtu(1400), std::string("tunkit: set MTU 1400 on \"tun0\": "
                                                      "operation not permitted (") +
                                              kNeedsNetAdmin + ")");
    CHECK_THROWS_WITH(link.add_address(IpPrefix::parse("10.0.0.1/24")),
                      std::string("tunkit: add address 10.0.0.1/24 on \"tun0\": operation not "
                                  "permitted (") +
                          kNeedsNetAdmin + ")");
    CHECK_THROWS_WITH(link.remove_address(IpPrefix::parse("10.0.0.1/24")),
                      std::string("tunkit: remove address 10.0.0.1/24 from \"tun0\": operation "
                                  "not permitted (") +
                          kNeedsNetAdmin + ")");
    CHECK(link.state().name == "tun0");
    CHECK(link.addresses().empty());
  }
  CHECK(w.kernel.open_fd_count() == fds);
}

TEST_CASE("An MTU out of the device's range is refused before any change request",
          "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const unsigned mtu = GENERATE(70000U, 67U, 0U);
  w.rtnl.clear_requests();
  const auto e = thrown_by([&] { link.set_mtu(mtu); });
  CHECK(e.code() == tunkit::errc::out_of_range);
  CHECK(e.code() == std::errc::invalid_argument);  // what the kernel would have said
  CHECK(std::string(e.what()) ==
        "tunkit: set MTU " + std::to_string(mtu) + " on \"tun0\": out of range (68..65535)");
  CHECK(w.record().mtu == 1500);
  for (const auto& r : w.rtnl.requests())
    CHECK(r.type == RTM_GETLINK);  // the range was read; nothing was asked to change

  std::error_code ec;
  link.set_mtu(mtu, ec);
  CHECK(ec == tunkit::errc::out_of_range);
}

TEST_CASE("A kernel that reports no MTU range answers EINVAL itself", "[link][errors]") {
  World w;
  auto record = w.record();
  record.min_mtu = 0;
  record.max_mtu = 0;  // before Linux 4.19: no IFLA_MIN_MTU / IFLA_MAX_MTU (0 here)
  record.mtu = 1500;
  w.rtnl.set_link(record);
  Link link(w.ifindex(), w.kernel);
  w.rtnl.fail_next(RTM_NEWLINK, EINVAL);
  const auto e = thrown_by([&] { link.set_mtu(70000); });
  CHECK(e.code() == sys(EINVAL));
  CHECK(std::string(e.what()) ==
        "tunkit: set MTU 70000 on \"tun0\": invalid argument (MTU out of range for this device)");
  const auto& requests = w.rtnl.requests();
  const auto sent = std::find_if(requests.begin(), requests.end(),
                                 [](const auto& r) { return r.type == RTM_NEWLINK; });
  REQUIRE(sent != requests.end());
  REQUIRE(sent->find(IFLA_MTU) != nullptr);
  CHECK(sent->find(IFLA_MTU)->u32() == 70000U);
}

TEST_CASE("EINVAL on an MTU the range allows has no misleading hint", "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  w.rtnl.fail_next(RTM_NEWLINK, EINVAL);
  CHECK_THROWS_WITH(link.set_mtu(1400), "tunkit: set MTU 1400 on \"tun0\": invalid argument");
}

TEST_CASE("Adding an address twice is EEXIST", "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const std::string text = GENERATE(as<std::string>{}, "10.0.0.1/24", "fd00::1/64");
  link.add_address(IpPrefix::parse(text));
  const auto e = thrown_by([&] { link.add_address(IpPrefix::parse(text)); });
  CHECK(e.code() == sys(EEXIST));
  CHECK(std::string(e.what()) == "tunkit: add address " + text + " on \"tun0\": already exists");
  std::error_code ec;
  link.add_address(IpPrefix::parse(text), ec);
  CHECK(ec == sys(EEXIST));
  CHECK(w.record().addresses.size() == 1);
}

TEST_CASE("Removing an absent address is EADDRNOTAVAIL", "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  const std::string text = GENERATE(as<std::string>{}, "10.0.0.2/24", "10.0.0.1/25", "fd00::1/64");
  const auto e = thrown_by([&] { link.remove_address(IpPrefix::parse(text)); });
  CHECK(e.code() == sys(EADDRNOTAVAIL));
  CHECK(std::string(e.what()) ==
        "tunkit: remove address " + text +
            " from \"tun0\": address not assigned (no assigned address matches both address and "
            "prefix length)");
  CHECK(w.record().addresses.size() == 1);
}

TEST_CASE("IPv6 on an interface with an MTU below 1280 is EINVAL with the reason",
          "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.set_mtu(1200);
  CHECK_THROWS_WITH(link.add_address(IpPrefix::parse("fd00::1/64")),
                    "tunkit: add address fd00::1/64 on \"tun0\": invalid argument (IPv6 needs an "
                    "MTU of at least 1280; this interface has 1200)");
}

TEST_CASE("A prefix length beyond the family's is refused before any request", "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  w.rtnl.clear_requests();
  const IpPrefix bad{IpAddress::parse("10.0.0.1"), 33};
  const auto e = thrown_by([&] { link.add_address(bad); });
  CHECK(e.code() == tunkit::errc::invalid_address);
  CHECK(std::string(e.what()) ==
        "tunkit: add address 10.0.0.1/33 on \"tun0\": invalid IP address or prefix (the prefix "
        "length of an IPv4 address is at most 32)");
  std::error_code ec;
  link.remove_address(IpPrefix{IpAddress::parse("fd00::1"), 129}, ec);
  CHECK(ec == tunkit::errc::invalid_address);
  CHECK(w.rtnl.requests().empty());
}

TEST_CASE("A deleted interface is ENODEV", "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  REQUIRE(w.kernel.delete_device("tun0"));
  const auto e = thrown_by([&] { link.set_up(); });
  CHECK(e.code() == sys(ENODEV));
  CHECK(std::string(e.what()) ==
        "tunkit: set up \"tun0\": no such device (the interface no longer exists)");
  CHECK_THROWS_WITH(link.state(),
                    "tunkit: read state of \"tun0\": no such device (the interface "
                    "no longer exists)");
  std::error_code ec;
  (void)link.state(ec);
  CHECK(ec == sys(ENODEV));
  // The address dump reports it in its NLMSG_DONE status (strict checking, Linux 4.20+).
  CHECK(link.addresses(ec).empty());
  CHECK(ec == sys(ENODEV));
  CHECK_THROWS_WITH(link.addresses(),
                    "tunkit: read addresses of \"tun0\": no such device (the "
                    "interface no longer exists)");
}

TEST_CASE("Errno table: each kernel error comes back as its errno", "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const auto [type, err] = GENERATE(table<std::uint16_t, int>({
      {RTM_NEWLINK, ENOBUFS},
      {RTM_NEWLINK, EBUSY},
      {RTM_NEWADDR, ENOMEM},
      {RTM_DELADDR, EPERM},
      {RTM_GETLINK, EIO},
      {RTM_GETADDR, EOPNOTSUPP},
  }));
  CAPTURE(type, err);
  w.rtnl.fail_next(type, err);
  std::error_code ec;
  const auto p = IpPrefix::parse("10.0.0.1/24");
  switch (type) {
    case RTM_NEWLINK:
      link.set_up(ec);
      break;
    case RTM_NEWADDR:
      link.add_address(p, ec);
      break;
    case RTM_DELADDR:
      link.remove_address(p, ec);
      break;
    case RTM_GETLINK:
      (void)link.state(ec);
      break;
    default:
      (void)link.addresses(ec);
      break;
  }
  CHECK(ec == sys(err));
}

TEST_CASE("EINTR is retried on send and receive", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const std::size_t recvs = count_calls(w.kernel, Call::recvfrom);
  w.kernel.fail_next(Call::recvfrom, EINTR);
  w.kernel.fail_next(Call::recvfrom, EINTR);
  w.kernel.fail_next(Call::sendto, EINTR);
  link.set_up();
  CHECK((w.record().flags & IFF_UP) != 0);
  CHECK(count_calls(w.kernel, Call::recvfrom) == recvs + 3);
  CHECK(w.rtnl.requests().size() == 2);  // the GETLINK and one NEWLINK: the send was retried
}

// --- Malformed answers --------------------------------------------------------------------------

TEST_CASE("A malformed or truncated answer is errc::netlink_protocol", "[link][errors]") {
  World w;
  const std::size_t fds = w.kernel.open_fd_count();

  SECTION("the look-up answer is cut short") {
    w.rtnl.edit_next_reply(RTM_GETLINK, [](Datagrams& d) { d.front().resize(30); });
    const auto e = thrown_by([&] { Link link(w.ifindex(), w.kernel); });
    CHECK(e.code() == tunkit::errc::netlink_protocol);
    CHECK(std::string(e.what()) == "tunkit: look up interface index " +
                                       std::to_string(w.ifindex()) +
                                       ": unexpected netlink answer from the kernel");
    CHECK(w.kernel.open_fd_count() == fds);
  }
  SECTION("a message claims more bytes than the datagram holds") {
    Link link(w.ifindex(), w.kernel);
    w.rtnl.edit_next_reply(RTM_GETADDR, [](Datagrams& d) {
      nlmsghdr h = header_of(d.front());
      h.nlmsg_len += 1000;
      set_header(d.front(), h);
    });
    link.add_address(IpPrefix::parse("10.0.0.1/24"));
    std::error_code ec;
    CHECK(link.addresses(ec).empty());
    CHECK(ec == tunkit::errc::netlink_protocol);
    // The socket stays usable: the next request skips what is left of the broken answer.
    CHECK(link.addresses() == std::vector<IpPrefix>{IpPrefix::parse("10.0.0.1/24")});
    CHECK(w.kernel.open_fd_count() == fds + 1);
  }
  SECTION("a message length of 2^31 or more (libmnl's check takes it as negative)") {
    Link link(w.ifindex(), w.kernel);
    w.rtnl.edit_next_reply(RTM_GETADDR, [](Datagrams& d) {
      nlmsghdr h = header_of(d.front());
      h.nlmsg_len = 0x98000000U;
      set_header(d.front(), h);
    });
    std::error_code ec;
    CHECK(link.addresses(ec).empty());
    CHECK(ec == tunkit::errc::netlink_protocol);
    CHECK(link.addresses().empty());  // and the socket stays usable
  }
  SECTION("an attribute overruns its message") {
    Link link(w.ifindex(), w.kernel);
    w.rtnl.edit_next_reply(RTM_GETLINK, [](Datagrams& d) {
      // The first attribute after nlmsghdr (16) + ifinfomsg (16): make it claim 200 bytes.
      const std::uint16_t len = 200;
      std::memcpy(d.front().data() + 32, &len, sizeof len);
    });
    std::error_code ec;
    (void)link.state(ec);
    CHECK(ec == tunkit::errc::netlink_protocol);
  }
  SECTION("an NLMSG_ERROR too short for its error code") {
    Link link(w.ifindex(), w.kernel);
    w.rtnl.edit_next_reply(RTM_NEWLINK, [](Datagrams& d) {
      nlmsghdr h = header_of(d.back());
      h.nlmsg_len = sizeof(nlmsghdr) + 2;
      set_header(d.back(), h);
      d.back().resize(h.nlmsg_len);
    });
    const auto e = thrown_by([&] { link.set_up(); });
    CHECK(e.code() == tunkit::errc::netlink_protocol);
    CHECK(std::string(e.what()) ==
          "tunkit: set up \"tun0\": unexpected netlink answer from the kernel");
  }
  SECTION("a datagram larger than the receive buffer") {
    Link link(w.ifindex(), w.kernel);
    w.rtnl.edit_next_reply(RTM_NEWLINK, [](Datagrams& d) { d.front().resize(40000); });
    std::error_code ec;
    link.set_up(ec);
    CHECK(ec == tunkit::errc::netlink_protocol);
  }
  SECTION("the GET answer is missing: only an ACK") {
    Link link(w.ifindex(), w.kernel);
    w.rtnl.edit_next_reply(RTM_GETLINK, [](Datagrams& d) { d.erase(d.begin()); });
    std::error_code ec;
    (void)link.state(ec);
    CHECK(ec == tunkit::errc::netlink_protocol);
  }
  SECTION("the answer never comes") {
    Link link(w.ifindex(), w.kernel);
    w.rtnl.edit_next_reply(RTM_NEWLINK, [](Datagrams& d) { d.clear(); });
    std::error_code ec;
    link.set_up(ec);
    CHECK(ec == sys(EAGAIN));  // the fake's recvfrom never blocks
  }
}

TEST_CASE("Answers to other requests are skipped by sequence number", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  // A stale EPERM for an older sequence number arrives first; only the real ACK counts.
  w.rtnl.edit_next_reply(RTM_NEWLINK, [](Datagrams& d) {
    std::vector<std::byte> stale = d.front();
    nlmsghdr h = header_of(stale);
    h.nlmsg_seq -= 1;
    set_header(stale, h);
    const int err = -EPERM;
    std::memcpy(stale.data() + sizeof(nlmsghdr), &err, sizeof err);
    d.insert(d.begin(), stale);
  });
  link.set_up();
  CHECK((w.record().flags & IFF_UP) != 0);
}

TEST_CASE("A dump the kernel marks inconsistent is restarted", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  w.rtnl.edit_next_reply(RTM_GETADDR, [](Datagrams& d) {
    nlmsghdr h = header_of(d.front());
    h.nlmsg_flags |= NLM_F_DUMP_INTR;
    set_header(d.front(), h);
  });
  w.rtnl.clear_requests();
  CHECK(link.addresses() == std::vector<IpPrefix>{IpPrefix::parse("10.0.0.1/24")});
  CHECK(w.rtnl.requests().size() == 2);
}

TEST_CASE("A dump that ends with an error status reports it", "[link][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  w.rtnl.edit_next_reply(RTM_GETADDR, [](Datagrams& d) {
    // The dump is just NLMSG_DONE; its payload is the status.
    const int status = -EMSGSIZE;
    std::memcpy(d.back().data() + d.back().size() - sizeof status, &status, sizeof status);
  });
  std::error_code ec;
  (void)link.addresses(ec);
  CHECK(ec == sys(EMSGSIZE));
}

// --- ec forms and moves -------------------------------------------------------------------------

TEST_CASE("The ec forms never throw and clear ec on success", "[link]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  std::error_code ec = sys(EIO);
  link.set_mtu(1400, ec);
  CHECK_FALSE(ec);
  ec = sys(EIO);
  link.set_up(ec);
  CHECK_FALSE(ec);
  ec = sys(EIO);
  link.add_address(IpPrefix::parse("10.0.0.1/24"), ec);
  CHECK_FALSE(ec);
  ec = sys(EIO);
  CHECK(link.state(ec).mtu == 1400);
  CHECK_FALSE(ec);
  ec = sys(EIO);
  CHECK(link.addresses(ec).size() == 2);  // with the IPv6 link-local address
  CHECK_FALSE(ec);
  ec = sys(EIO);
  link.remove_address(IpPrefix::parse("10.0.0.1/24"), ec);
  CHECK_FALSE(ec);
  ec = sys(EIO);
  link.set_down(ec);
  CHECK_FALSE(ec);
}

TEST_CASE("Link moves, and a moved-from Link is not open", "[link]") {
  World w;
  const std::size_t fds = w.kernel.open_fd_count();
  Link a(w.ifindex(), w.kernel);
  Link b(std::move(a));
  CHECK(b.name() == "tun0");
  b.set_up();

  std::error_code ec;
  a.set_up(ec);  // NOLINT(bugprone-use-after-move): the documented moved-from state
  CHECK(ec == tunkit::errc::not_open);
  (void)a.state(ec);
  CHECK(ec == tunkit::errc::not_open);
  CHECK(a.addresses(ec).empty());
  CHECK(ec == tunkit::errc::not_open);
  CHECK_THROWS_WITH(a.set_down(), "tunkit: set down: device not open");

  Link c = Link::from_name("tun0", w.kernel);
  CHECK(w.kernel.open_fd_count() == fds + 2);
  c = std::move(b);  // closes c's own socket
  CHECK(w.kernel.open_fd_count() == fds + 1);
  CHECK(c.state().up);
}
