// Unit tests of XDP on a link over the fake kernel: the IFLA_XDP requests of attach_xdp,
// replace_xdp and detach_xdp (marshalling), what xdp() and state() read back, and every refusal
// with its message, whose hint names what tunkit read back from the interface.
#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/format.hpp"
#include "tunkit/link.hpp"

using test::sys;
using test::thrown_by;
using test::World;
using tunkit::Link;
using tunkit::XdpAttachMode;
using tunkit::XdpInfo;
using tunkit::XdpMode;
using XdpProgramType = tunkit::testing::FakeKernel::EbpfProgramType;

namespace {

// The attributes nested in the request's IFLA_XDP, by type (u32 values).
std::map<int, std::uint32_t> xdp_attributes(const tunkit::testing::FakeRtnetlink::Request& r) {
  std::map<int, std::uint32_t> out;
  for (const auto& a : r.attributes) {
    if (a.type != IFLA_XDP) continue;
    const auto& p = a.payload;
    for (std::size_t at = 0; p.size() - at >= sizeof(nlattr);) {
      nlattr h{};
      std::memcpy(&h, p.data() + at, sizeof h);
      REQUIRE(h.nla_len >= sizeof(nlattr));
      std::uint32_t v = 0;
      constexpr std::size_t kHeader = sizeof(nlattr);  // NLA_HDRLEN: already 4-byte aligned
      REQUIRE(h.nla_len - kHeader == sizeof v);
      std::memcpy(&v, p.data() + at + kHeader, sizeof v);
      out[h.nla_type] = v;
      at += (h.nla_len + 3U) & ~3U;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("attach_xdp sends IFLA_XDP with the descriptor and flags, xdp() reads it back",
          "[link][xdp]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  CHECK(link.xdp() == XdpInfo{});
  const int prog = w.kernel.add_ebpf_program(XdpProgramType::xdp);
  const std::uint32_t id = w.kernel.ebpf_program_id(prog);
  REQUIRE(id != 0);

  link.attach_xdp(prog);
  const auto& r = w.last();
  CHECK(r.type == RTM_NEWLINK);
  CHECK(r.ifindex == w.ifindex());
  REQUIRE(r.attributes.size() == 1);
  const auto xdp = xdp_attributes(r);
  CHECK(xdp == std::map<int, std::uint32_t>{{IFLA_XDP_FD, static_cast<std::uint32_t>(prog)},
                                            {IFLA_XDP_FLAGS, XDP_FLAGS_UPDATE_IF_NOEXIST}});
  // A TUN device: no native XDP, so no mode flag means generic.
  CHECK(w.record().xdp_generic_prog == id);
  CHECK(w.record().xdp_native_prog == 0);
  const XdpInfo info = link.xdp();
  CHECK(info.mode == XdpMode::generic);
  CHECK(info.prog_id == id);
  CHECK(info.generic_prog_id == id);
  CHECK(info.native_prog_id == 0);
  CHECK(link.state().xdp == info);
  CHECK(link.state().kind == "tun");
  CHECK(fmt::format("{} {}", info.mode, XdpAttachMode::native) == "generic native");

  link.detach_xdp();
  CHECK(xdp_attributes(w.last()) ==
        std::map<int, std::uint32_t>{{IFLA_XDP_FD, static_cast<std::uint32_t>(-1)},
                                     {IFLA_XDP_FLAGS, XDP_FLAGS_SKB_MODE}});
  CHECK(link.xdp() == XdpInfo{});
  CHECK(w.record().xdp_generic_prog == 0);
}

TEST_CASE("attach_xdp modes: generic and native flags, TAP devices have native XDP",
          "[link][xdp]") {
  SECTION("generic on TUN") {
    World w;
    Link link(w.ifindex(), w.kernel);
    link.attach_xdp(w.kernel.add_ebpf_program(XdpProgramType::xdp), XdpAttachMode::generic);
    CHECK(xdp_attributes(w.last()).at(IFLA_XDP_FLAGS) ==
          (XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_SKB_MODE));
    CHECK(link.xdp().mode == XdpMode::generic);
  }
  SECTION("native on TAP, and any picks native there") {
    World w(tunkit::Mode::tap, "tap0");
    Link link(w.ifindex(), w.kernel);
    const int a = w.kernel.add_ebpf_program(XdpProgramType::xdp);
    link.attach_xdp(a, XdpAttachMode::native);
    CHECK(xdp_attributes(w.last()).at(IFLA_XDP_FLAGS) ==
          (XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_DRV_MODE));
    CHECK(link.xdp().mode == XdpMode::native);
    CHECK(link.xdp().native_prog_id == w.kernel.ebpf_program_id(a));
    link.detach_xdp();
    CHECK(xdp_attributes(w.last()).at(IFLA_XDP_FLAGS) == XDP_FLAGS_DRV_MODE);
    link.attach_xdp(a);
    CHECK(link.xdp().mode == XdpMode::native);
  }
  SECTION("native on TUN is refused, naming the cause") {
    World w;
    Link link(w.ifindex(), w.kernel);
    const int a = w.kernel.add_ebpf_program(XdpProgramType::xdp);
    CHECK(thrown_by([&] { link.attach_xdp(a, XdpAttachMode::native); }).what() ==
          std::string("tunkit: attach XDP program (native mode) to \"tun0\": operation not "
                      "supported (TUN devices have generic XDP only: attach in generic mode)"));
    std::error_code ec;
    link.attach_xdp(a, XdpAttachMode::native, ec);
    CHECK(ec == sys(EOPNOTSUPP));
    CHECK(link.xdp() == XdpInfo{});
  }
}

TEST_CASE("attach_xdp never replaces: the attached program is named", "[link][xdp][errors]") {
  World w(tunkit::Mode::tap, "tap0");
  Link link(w.ifindex(), w.kernel);
  const int a = w.kernel.add_ebpf_program(XdpProgramType::xdp);
  const int b = w.kernel.add_ebpf_program(XdpProgramType::xdp);
  const auto id_a = w.kernel.ebpf_program_id(a);
  link.attach_xdp(a, XdpAttachMode::generic);
  // Same mode: EBUSY (UPDATE_IF_NOEXIST).
  CHECK(thrown_by([&] { link.attach_xdp(b, XdpAttachMode::generic); }).what() ==
        fmt::format("tunkit: attach XDP program (generic mode) to \"tap0\": device busy (program "
                    "{} (generic mode) is already attached: detach it, or replace "
                    "it with replace_xdp)",
                    id_a));
  // The other mode: EEXIST (native and generic cannot both be active).
  std::error_code ec;
  link.attach_xdp(b, XdpAttachMode::native, ec);
  CHECK(ec == sys(EEXIST));
  // No mode on a TAP device means native: EEXIST too.
  link.attach_xdp(b, XdpAttachMode::any, ec);
  CHECK(ec == sys(EEXIST));
  CHECK(link.xdp().prog_id == id_a);
}

TEST_CASE("attach_xdp refuses what is not an XDP program", "[link][xdp][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const int filter = w.kernel.add_ebpf_program(XdpProgramType::socket_filter);
  CHECK(thrown_by([&] { link.attach_xdp(filter); }).what() ==
        std::string("tunkit: attach XDP program (any mode) to \"tun0\": invalid argument (the "
                    "descriptor is not an XDP program (BPF_PROG_TYPE_XDP))"));
  CHECK(thrown_by([&] { link.attach_xdp(4242); }).what() ==
        std::string("tunkit: attach XDP program (any mode) to \"tun0\": bad file descriptor (the "
                    "program descriptor is not open)"));
  // -1 would detach: refused before any request.
  const auto before = w.rtnl.requests().size();
  std::error_code ec;
  link.attach_xdp(-1, XdpAttachMode::any, ec);
  CHECK(ec == sys(EBADF));
  CHECK(w.rtnl.requests().size() == before);
}

TEST_CASE("replace_xdp swaps the expected program in one request", "[link][xdp]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const int a = w.kernel.add_ebpf_program(XdpProgramType::xdp);
  const int b = w.kernel.add_ebpf_program(XdpProgramType::xdp);
  const int c = w.kernel.add_ebpf_program(XdpProgramType::xdp);
  link.attach_xdp(a);
  link.replace_xdp(b, a);
  CHECK(xdp_attributes(w.last()) ==
        std::map<int, std::uint32_t>{{IFLA_XDP_FD, static_cast<std::uint32_t>(b)},
                                     {IFLA_XDP_FLAGS, XDP_FLAGS_REPLACE},
                                     {IFLA_XDP_EXPECTED_FD, static_cast<std::uint32_t>(a)}});
  CHECK(link.xdp().prog_id == w.kernel.ebpf_program_id(b));
  // Expecting a program that is no longer attached: EEXIST, nothing changes.
  CHECK(thrown_by([&] { link.replace_xdp(c, a); }).what() ==
        fmt::format("tunkit: replace XDP program (any mode) on \"tun0\": already exists (the "
                    "attached program {} (generic mode) is not the expected program, or runs in "
                    "another mode)",
                    w.kernel.ebpf_program_id(b)));
  CHECK(link.xdp().prog_id == w.kernel.ebpf_program_id(b));
  link.detach_xdp();
  CHECK(thrown_by([&] { link.replace_xdp(c, b); }).what() ==
        std::string("tunkit: replace XDP program (any mode) on \"tun0\": already exists (no "
                    "program is attached: there is nothing to replace (attach_xdp attaches))"));
}

TEST_CASE("detach_xdp: nothing attached is success, gone interface and no privilege",
          "[link][xdp][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const auto before = w.rtnl.requests().size();
  link.detach_xdp();  // reads only: no program, no request to change anything
  CHECK(w.sent(RTM_NEWLINK).empty());
  CHECK(w.rtnl.requests().size() == before + 1);

  link.attach_xdp(w.kernel.add_ebpf_program(XdpProgramType::xdp));
  w.rtnl.set_net_admin(false);
  CHECK(thrown_by([&] { link.detach_xdp(); }).what() ==
        std::string("tunkit: detach XDP program from \"tun0\": operation not permitted (") +
            test::kNeedsNetAdmin + ")");
  w.rtnl.set_net_admin(true);
  REQUIRE(w.kernel.delete_device("tun0"));
  std::error_code ec;
  (void)link.xdp(ec);
  CHECK(ec == sys(ENODEV));
  CHECK(thrown_by([&] { (void)link.xdp(); }).what() ==
        std::string("tunkit: read XDP program of \"tun0\": no such device (the interface no "
                    "longer exists)"));
}
