#pragma once
// What the files of the fake rtnetlink share: the message builder, the helpers one concern
// offers the others, and FakeRtnetlink::Handler, which answers one request. The concerns:
//   dispatch.cpp   a datagram in (sendto): requests decoded, recorded, scripted, dispatched
//   sockets.cpp    the rest of the socket surface: bind, options, receive queues
//   links.cpp      the link table and RTM_*LINK
//   addresses.cpp  the address lists in the kernel's order and RTM_*ADDR
//   routes.cpp     the routes (added and the kernel's own) and RTM_*ROUTE
//   events.cpp     multicast notifications
//   ethtool.cpp    generic netlink: the controller and the ethtool family
//
// This fake is written independently of tunkit's own netlink code (src/detail/netlink/) on
// purpose: a fake that shared the code under test would agree with its bugs.

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tunkit/testing/fake_rtnetlink.hpp"

namespace tunkit::testing {
namespace fake_rtnl {

constexpr std::size_t align(std::size_t n) noexcept {
  return (n + 3U) & ~std::size_t{3};
}
constexpr std::size_t kHeaderLen = align(sizeof(nlmsghdr));
constexpr std::size_t kAttrHeaderLen = align(sizeof(nlattr));
constexpr unsigned kIpv6MinMtu = 1280;

using Datagram = std::vector<std::byte>;
using LinkRecord = FakeRtnetlink::LinkRecord;
using RouteRecord = FakeRtnetlink::RouteRecord;
using TunInfo = FakeRtnetlink::TunInfo;

// Builds one answer message in an aligned scratch buffer with libmnl.
class Builder {
 public:
  Builder(std::uint16_t type, std::uint16_t flags, std::uint32_t seq, std::uint32_t port_id)
      : words_(kWords, 0) {
    nlh_ = mnl_nlmsg_put_header(words_.data());
    nlh_->nlmsg_type = type;
    nlh_->nlmsg_flags = flags;
    nlh_->nlmsg_seq = seq;
    nlh_->nlmsg_pid = port_id;
  }
  template <typename T>
  void header(const T& value) {
    std::memcpy(mnl_nlmsg_put_extra_header(nlh_, sizeof value), &value, sizeof value);
  }
  void raw(const void* data, std::size_t size) {
    std::memcpy(mnl_nlmsg_put_extra_header(nlh_, size), data, size);
  }
  void u8(std::uint16_t type, std::uint8_t v) { mnl_attr_put_u8(nlh_, type, v); }
  void u16(std::uint16_t type, std::uint16_t v) { mnl_attr_put_u16(nlh_, type, v); }
  void flag(std::uint16_t type) { mnl_attr_put(nlh_, type, 0, nullptr); }
  void u32(std::uint16_t type, std::uint32_t v) { mnl_attr_put_u32(nlh_, type, v); }
  void str(std::uint16_t type, const std::string& s) { mnl_attr_put_strz(nlh_, type, s.c_str()); }
  void bytes(std::uint16_t type, std::span<const std::uint8_t> b) {
    mnl_attr_put(nlh_, type, b.size(), b.data());
  }
  nlattr* nest(std::uint16_t type) { return mnl_attr_nest_start(nlh_, type); }
  void end(nlattr* nest) { mnl_attr_nest_end(nlh_, nest); }
  [[nodiscard]] Datagram take() const {
    const auto* p = reinterpret_cast<const std::byte*>(nlh_);  // NOLINT: byte view
    return {p, p + nlh_->nlmsg_len};
  }

 private:
  static constexpr std::size_t kWords = 4096;  // 16 KiB: far more than any answer here
  std::vector<std::uint32_t> words_;
  nlmsghdr* nlh_ = nullptr;
};

// --- dispatch.cpp ----------------------------------------------------------------------------

// Adds `message` to the multi-part answer `out`, starting a new datagram when the current one
// is full, as the kernel's dump does.
void append_multi(std::vector<Datagram>& out, const Datagram& message);
// NLMSG_DONE with the dump's final status.
Datagram done_message(std::uint32_t seq, std::uint32_t port, int status = 0);
// An address attribute's payload of `family` (4 or 16 bytes), or nullopt.
std::optional<IpAddress> to_address(std::uint8_t family, const std::vector<std::uint8_t>& b);

// --- links.cpp -------------------------------------------------------------------------------

// IFF_RUNNING and IFF_LOWER_UP follow IFF_UP and the carrier (dev_get_flags).
void refresh(LinkRecord& link);
// RTM_NEWLINK (or RTM_DELLINK) for `link`, with IFLA_LINKINFO when `tun` is given.
Datagram link_message(const LinkRecord& link, std::uint16_t type, std::uint16_t flags,
                      std::uint32_t seq, std::uint32_t port, const TunInfo* tun = nullptr);

// --- addresses.cpp ---------------------------------------------------------------------------

// Whether address `i` of `list` is an IPv4 secondary (in the subnet of an earlier address with
// the same prefix length).
bool is_secondary(const std::vector<IpPrefix>& list, std::size_t i);
// Removes the IPv6 addresses (and their peers); returns them.
std::vector<IpPrefix> drop_v6(LinkRecord& link);
// The IPv6 link-local address a link gets when it comes up with carrier, if it gets one now.
std::optional<IpPrefix> add_link_local(LinkRecord& link);
// RTM_NEWADDR (or RTM_DELADDR) for address `p` of `link`.
Datagram address_message(const LinkRecord& link, const IpPrefix& p, bool secondary,
                         std::uint16_t type, std::uint16_t flags, std::uint32_t seq,
                         std::uint32_t port);

// --- routes.cpp ------------------------------------------------------------------------------

// Whether `gateway` is on a network the link reaches directly.
bool on_link(const LinkRecord& link, const IpAddress& gateway);

}  // namespace fake_rtnl

// Handles one request message for one socket, as rtnetlink_rcv_msg and its handlers do; also
// holds the link state transitions that FakeKernel's own calls share. Its handlers are defined
// with their concern (links.cpp, addresses.cpp, routes.cpp), the dispatch in dispatch.cpp.
class FakeRtnetlink::Handler {
 public:
  using Datagram = fake_rtnl::Datagram;

  Handler(FakeRtnetlink& fake, Socket& socket, const nlmsghdr* nlh, const Request& request)
      : fake_(fake), socket_(socket), nlh_(nlh), r_(request) {}

  // Answers the request; returns the datagrams to queue.
  // `extack` is the scripted failure's extended-ack message (empty: none).
  std::vector<Datagram> run(bool decoded, std::optional<int> scripted, const std::string& extack);

  // __dev_open / __dev_close and what addrconf and the FIBs do on NETDEV_UP / NETDEV_DOWN:
  // the link's notification first, then its addresses' and routes' changes.
  static void set_up(FakeRtnetlink& fake, LinkRecord& link, bool up);

  // Removes address `i` of `link` (promoting a secondary, as the kernel does) and notifies.
  static void remove_address(FakeRtnetlink& fake, LinkRecord& link, std::size_t i,
                             std::uint32_t seq, std::uint32_t port);

 private:
  [[nodiscard]] bool is_dump() const {
    return (nlh_->nlmsg_type & 3) == 2 && (nlh_->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  }
  [[nodiscard]] const Attribute* attr(std::uint16_t type) const { return r_.find(type); }
  // The link with this index or name in the socket's namespace.
  [[nodiscard]] LinkRecord* here(unsigned ifindex) const {
    LinkRecord* link = fake_.find_link(ifindex);
    return link != nullptr && link->netns == socket_.netns ? link : nullptr;
  }
  [[nodiscard]] LinkRecord* here(std::string_view name) const {
    return fake_.find_link(name, socket_.netns);
  }

  // dispatch.cpp
  int dispatch(std::vector<Datagram>& out, bool& dumped);
  [[nodiscard]] Datagram error_message(int err, const std::string& extack = {}) const;
  [[nodiscard]] Datagram done(int status = 0) const;
  [[nodiscard]] std::optional<TunInfo> tun_info(unsigned ifindex) const;

  // links.cpp
  [[nodiscard]] std::string requested_kind() const;
  int get_link(std::vector<Datagram>& out);
  int dump_links(std::vector<Datagram>& out);
  int new_link();
  int set_xdp(LinkRecord& link, const Attribute& xdp);
  void move(LinkRecord& link, const std::string& target);

  // addresses.cpp
  std::optional<IpAddress> request_address(bool& malformed) const;
  [[nodiscard]] std::optional<IpAddress> request_peer() const;
  int new_address();
  int delete_address();
  int dump_addresses(std::vector<Datagram>& out);

  // routes.cpp
  bool request_route(RouteRecord& route, bool& has_oif, bool& has_gateway) const;
  int new_route();
  int delete_route();
  int dump_routes(std::vector<Datagram>& out);

  FakeRtnetlink& fake_;
  Socket& socket_;
  const nlmsghdr* nlh_;
  const Request& r_;
};

}  // namespace tunkit::testing
