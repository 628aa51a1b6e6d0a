// XDP on an interface: attach, replace, detach and read the program (RTM_NEWLINK/RTM_GETLINK with
// IFLA_XDP), and the messages of their failures, whose hints say what tunkit read back from the
// interface (the attached program, the device's kind), not what an errno might mean.

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_link.h>

#include <cerrno>
#include <string>

#include "detail/eintr.hpp"
#include "detail/netlink/link.hpp"
#include "detail/netlink/socket.hpp"
#include "net/convert.hpp"
#include "net/link_errors.hpp"
#include "tunkit/link.hpp"

namespace tunkit {
namespace {

namespace nl = detail::netlink;
using detail::is_errno;
using detail::sys_error;

std::uint32_t mode_flag(XdpAttachMode mode) noexcept {
  switch (mode) {
    case XdpAttachMode::native:
      return XDP_FLAGS_DRV_MODE;
    case XdpAttachMode::generic:
      return XDP_FLAGS_SKB_MODE;
    case XdpAttachMode::any:
      break;
  }
  return 0;
}

// "generic mode, program 42" as the messages name an attached program.
std::string describe(const XdpInfo& x) {
  if (x.mode == XdpMode::multi) {
    std::string out = "programs";
    if (x.native_prog_id != 0) out += fmt::format(" {} (native)", x.native_prog_id);
    if (x.generic_prog_id != 0) out += fmt::format(" {} (generic)", x.generic_prog_id);
    if (x.offload_prog_id != 0) out += fmt::format(" {} (offload)", x.offload_prog_id);
    return out;
  }
  return fmt::format("program {} ({} mode)", x.prog_id, to_string(x.mode));
}

// Whether the interface is a TUN device (kind "tun" without a link-layer address; a TAP device
// has one), for the hint of a refused native attach: the tun driver has native XDP for TAP only.
bool is_tun_device(const Link& link) {
  std::error_code ec;
  const LinkState s = link.state(ec);
  return !ec && s.kind == "tun" && !s.mac;
}

std::string attach_hint(const Link& link, XdpAttachMode mode, std::error_code ec) {
  std::string hint(detail::change_hint(ec));
  if (!hint.empty()) return hint;
  if (is_errno(ec, EBUSY) || is_errno(ec, EEXIST)) {
    std::error_code read_ec;
    const XdpInfo now = link.xdp(read_ec);
    if (!read_ec && now.mode != XdpMode::none) {
      return fmt::format("{} is already attached: detach it, or replace it with replace_xdp",
                         describe(now));
    }
  }
  if (is_errno(ec, EOPNOTSUPP) && mode == XdpAttachMode::native) {
    return is_tun_device(link) ? "TUN devices have generic XDP only: attach in generic mode"
                               : "this device's driver has no native XDP: attach in generic mode";
  }
  if (is_errno(ec, EBADF)) return "the program descriptor is not open";
  if (is_errno(ec, EINVAL)) return "the descriptor is not an XDP program (BPF_PROG_TYPE_XDP)";
  return hint;
}

std::string replace_hint(const Link& link, XdpAttachMode mode, std::error_code ec) {
  if (is_errno(ec, EEXIST)) {
    std::error_code read_ec;
    const XdpInfo now = link.xdp(read_ec);
    if (!read_ec && now.mode == XdpMode::none) {
      return "no program is attached: there is nothing to replace (attach_xdp attaches)";
    }
    if (!read_ec) {
      return fmt::format("the attached {} is not the expected program, or runs in another mode",
                         describe(now));
    }
  }
  if (is_errno(ec, EBADF)) return "a program descriptor is not open";
  if (is_errno(ec, EINVAL)) return "a descriptor is not an XDP program (BPF_PROG_TYPE_XDP)";
  if (is_errno(ec, EOPNOTSUPP) && mode == XdpAttachMode::native) return attach_hint(link, mode, ec);
  return std::string(detail::change_hint(ec));
}

}  // namespace

std::string_view to_string(XdpMode mode) noexcept {
  switch (mode) {
    case XdpMode::none:
      return "none";
    case XdpMode::native:
      return "native";
    case XdpMode::generic:
      return "generic";
    case XdpMode::offload:
      return "offload";
    case XdpMode::multi:
      return "multi";
  }
  return "unknown";
}

std::string_view to_string(XdpAttachMode mode) noexcept {
  switch (mode) {
    case XdpAttachMode::any:
      return "any";
    case XdpAttachMode::native:
      return "native";
    case XdpAttachMode::generic:
      return "generic";
  }
  return "unknown";
}

void Link::attach_xdp(int prog_fd, XdpAttachMode mode) {
  std::error_code ec;
  attach_xdp(prog_fd, mode, ec);
  if (ec) {
    throw make_error(ec, fmt::format("attach XDP program ({} mode) to", to_string(mode)), name(),
                     attach_hint(*this, mode, ec));
  }
}

void Link::attach_xdp(int prog_fd, XdpAttachMode mode, std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  if (prog_fd < 0) {
    ec = sys_error(EBADF);  // -1 would detach: never by accident
    return;
  }
  auto request = nl::set_link_xdp(ifindex_, prog_fd, XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flag(mode));
  ec = socket_->transact(request);
}

void Link::replace_xdp(int prog_fd, int expected_prog_fd, XdpAttachMode mode) {
  std::error_code ec;
  replace_xdp(prog_fd, expected_prog_fd, mode, ec);
  if (ec) {
    throw make_error(ec, fmt::format("replace XDP program ({} mode) on", to_string(mode)), name(),
                     replace_hint(*this, mode, ec));
  }
}

void Link::replace_xdp(int prog_fd, int expected_prog_fd, XdpAttachMode mode,
                       std::error_code& ec) noexcept {
  if (!socket_) {
    ec = errc::not_open;
    return;
  }
  if (prog_fd < 0 || expected_prog_fd < 0) {
    ec = sys_error(EBADF);
    return;
  }
  auto request =
      nl::set_link_xdp(ifindex_, prog_fd, XDP_FLAGS_REPLACE | mode_flag(mode), expected_prog_fd);
  ec = socket_->transact(request);
}

void Link::detach_xdp() {
  std::error_code ec;
  detach_xdp(ec);
  if (ec) throw make_error(ec, "detach XDP program from", name(), detail::change_hint(ec));
}

void Link::detach_xdp(std::error_code& ec) noexcept {
  const XdpInfo now = xdp(ec);
  if (ec) return;
  // The kernel detaches the program of the mode it is asked for (none: native where the driver
  // has it), so each attached mode is named.
  const struct {
    std::uint32_t id;
    std::uint32_t flag;
  } modes[] = {{now.native_prog_id, XDP_FLAGS_DRV_MODE},
               {now.generic_prog_id, XDP_FLAGS_SKB_MODE},
               {now.offload_prog_id, XDP_FLAGS_HW_MODE}};
  for (const auto& m : modes) {
    if (m.id == 0) continue;
    auto request = nl::set_link_xdp(ifindex_, -1, m.flag);
    ec = socket_->transact(request);
    if (ec) return;
  }
}

XdpInfo Link::xdp() const {
  return detail::read_or_throw(*this, "read XDP program of",
                               [&](std::error_code& ec) { return xdp(ec); });
}

XdpInfo Link::xdp(std::error_code& ec) const noexcept {
  return state(ec).xdp;
}

}  // namespace tunkit
