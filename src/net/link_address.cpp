// tunkit::Link's addresses: adding and removing them (with or without a point-to-point peer),
// and listing them.
#include "tunkit/link.hpp"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "detail/eintr.hpp"
#include "detail/netlink/address.hpp"
#include "detail/netlink/no_throw.hpp"
#include "detail/netlink/socket.hpp"
#include "net/convert.hpp"
#include "net/link_errors.hpp"
#include "net/link_request.hpp"

namespace tunkit {
namespace {

namespace nl = detail::netlink;

// An address is refused before any request when its prefix length is out of range.
std::error_code check(const IpPrefix& prefix) noexcept {
  if (!prefix.is_valid()) return errc::invalid_address;
  return {};
}

// A point-to-point address also when the two ends are of different families.
std::error_code check(const IpAddress& local, const IpPrefix& peer) noexcept {
  if (!peer.is_valid() || local.family() != peer.address.family()) return errc::invalid_address;
  return {};
}

// The addresses of interface `ifindex`, each as `convert` makes it from its message; empty on
// failure (`errc::not_open` without a socket).
template <typename Convert>
auto read_addresses(nl::Socket* socket, unsigned ifindex, std::error_code& ec,
                    Convert&& convert) noexcept {
  std::vector<std::invoke_result_t<Convert&, const nl::AddressMessage&>> result;
  if (socket == nullptr) {
    ec = errc::not_open;
    return result;
  }
  ec = nl::for_each_address(
      *socket, ifindex,
      [&](const nl::AddressMessage& a) {
        return nl::no_throw([&] { result.push_back(convert(a)); });
      },
      [&] { result.clear(); });
  if (ec) result.clear();
  return result;
}

}  // namespace

void Link::add_address(const IpPrefix& prefix) {
  std::error_code ec;
  add_address(prefix, ec);
  if (ec) throw detail::add_address_error(*this, prefix, ec);
}

void Link::add_address(const IpPrefix& prefix, std::error_code& ec) noexcept {
  ec = detail::request_change(socket_.get(), nl::add_address(ifindex_, prefix), check(prefix));
}

void Link::remove_address(const IpPrefix& prefix) {
  std::error_code ec;
  remove_address(prefix, ec);
  if (ec) throw detail::remove_address_error(*this, prefix, ec);
}

void Link::remove_address(const IpPrefix& prefix, std::error_code& ec) noexcept {
  ec = detail::request_change(socket_.get(), nl::remove_address(ifindex_, prefix), check(prefix));
}

void Link::add_address(const IpAddress& local, const IpPrefix& peer) {
  std::error_code ec;
  add_address(local, peer, ec);
  if (ec) throw detail::add_peer_address_error(*this, local, peer, ec);
}

void Link::add_address(const IpAddress& local, const IpPrefix& peer, std::error_code& ec) noexcept {
  ec = detail::request_change(socket_.get(),
                              nl::add_address(ifindex_, IpPrefix{local, peer.length}, peer.address),
                              check(local, peer));
}

void Link::remove_address(const IpAddress& local, const IpPrefix& peer) {
  std::error_code ec;
  remove_address(local, peer, ec);
  if (ec) throw detail::remove_peer_address_error(*this, local, peer, ec);
}

void Link::remove_address(const IpAddress& local, const IpPrefix& peer,
                          std::error_code& ec) noexcept {
  ec = detail::request_change(
      socket_.get(), nl::remove_address(ifindex_, IpPrefix{local, peer.length}, peer.address),
      check(local, peer));
}

std::vector<IpPrefix> Link::addresses() const {
  return detail::read_or_throw(*this, "read addresses of",
                               [&](std::error_code& ec) { return addresses(ec); });
}

std::vector<IpPrefix> Link::addresses(std::error_code& ec) const noexcept {
  return read_addresses(socket_.get(), ifindex_, ec,
                        [](const nl::AddressMessage& a) { return a.prefix; });
}

void Link::wait_address_usable(const IpAddress& address, std::chrono::milliseconds timeout) const {
  std::error_code ec;
  wait_address_usable(address, timeout, ec);
  if (!ec) return;
  std::string_view hint;
  if (detail::is_errno(ec, EADDRNOTAVAIL)) {
    hint = "the interface has no such address";
  } else if (detail::is_errno(ec, EADDRINUSE)) {
    hint = "duplicate address detection failed: another node on the link has it";
  } else if (detail::is_errno(ec, ETIMEDOUT)) {
    hint = "still tentative: duplicate address detection runs while the link is up";
  }
  throw make_error(ec, fmt::format("wait for address {} on", address.to_string()), name(), hint);
}

void Link::wait_address_usable(const IpAddress& address, std::chrono::milliseconds timeout,
                               std::error_code& ec) const noexcept {
  ec.clear();
  if (!socket_ || !socket_->is_open()) {
    ec = errc::not_open;
    return;
  }
  sys::Syscalls& sys = socket_->sys();
  // Subscribed first, then read: a change after the read is a notification to wake up for.
  nl::Socket events = nl::Socket::open(sys, ec, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR);
  if (ec) return;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::vector<AddressInfo> now = address_details(ec);
    if (ec) return;
    const auto it = std::find_if(now.begin(), now.end(),
                                 [&](const AddressInfo& a) { return a.prefix.address == address; });
    if (it == now.end()) {
      ec = detail::sys_error(EADDRNOTAVAIL);
      return;
    }
    if ((it->flags & IFA_F_DADFAILED) != 0) {
      ec = detail::sys_error(EADDRINUSE);
      return;
    }
    if (!it->tentative) return;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ec = detail::sys_error(ETIMEDOUT);
      return;
    }
    pollfd p{events.native_handle(), POLLIN, 0};
    const int r = detail::retry_eintr([&] {
      return sys.poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX)));
    });
    if (r < 0) {
      ec = detail::sys_error(-r);
      return;
    }
    // Whatever arrived (or ENOBUFS, notifications lost): drained, then the flags read again.
    for (int i = 0; i < 1024; ++i) {
      const std::error_code got = events.receive([](const nlmsghdr&) { return std::error_code(); });
      if (got && !detail::is_errno(got, ENOBUFS)) break;  // EAGAIN: drained
    }
  }
}

std::vector<AddressInfo> Link::address_details() const {
  return detail::read_or_throw(*this, "read addresses of",
                               [&](std::error_code& ec) { return address_details(ec); });
}

std::vector<AddressInfo> Link::address_details(std::error_code& ec) const noexcept {
  return read_addresses(socket_.get(), ifindex_, ec, detail::to_address_info);
}

}  // namespace tunkit
