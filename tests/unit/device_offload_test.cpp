// TUNSETOFFLOAD through TunDevice over the fake kernel: marshalling, validation before the
// kernel, probing down to what the kernel grants, and the reset for readers without a header.
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <array>
#include <cerrno>
#include <span>
#include <string>
#include <vector>

#include "catch.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace {

using tunkit::Offload;
using tunkit::Offloads;
using tunkit::testing::FakeKernel;

const std::error_code kEinval(EINVAL, std::system_category());

}  // namespace

TEST_CASE("offloads asked at open are set with TUNSETOFFLOAD", "[device][offload]") {
  FakeKernel k;
  const Offloads wanted =
      Offload::csum | Offload::tso4 | Offload::tso6 | Offload::uso4 | Offload::uso6;
  tunkit::TunDevice dev({.name = "off0", .vnet_hdr = true, .offloads = wanted}, k);
  CHECK(dev.offloads() == wanted);
  CHECK(k.device("off0")->offloads == wanted);
  CHECK(k.count_ioctl(TUNSETOFFLOAD) == 1);

  CHECK(dev.set_offloads(Offloads(Offload::csum)) == Offloads(Offload::csum));
  CHECK(k.device("off0")->offloads == Offloads(Offload::csum));
  CHECK(dev.set_offloads({}) == Offloads{});
  CHECK(k.device("off0")->offloads.empty());
}

TEST_CASE("a reader without a virtio-net header resets the device's offloads",
          "[device][offload]") {
  FakeKernel k;
  k.add_persistent_device("left0", tunkit::Mode::tun, tunkit::Flag::vnet_hdr);
  {
    tunkit::TunDevice earlier(
        {.name = "left0", .vnet_hdr = true, .offloads = Offload::csum | Offload::tso4}, k);
    REQUIRE(k.device("left0")->offloads == (Offload::csum | Offload::tso4));
  }
  tunkit::TunDevice plain({.name = "left0"}, k);
  CHECK(plain.offloads().empty());
  CHECK(k.device("left0")->offloads.empty());
}

TEST_CASE("flags too new for the kernel are dropped, newest first", "[device][offload]") {
  FakeKernel k;
  tunkit::TunDevice dev({.name = "off1", .vnet_hdr = true}, k);
  const Offloads wanted = Offload::csum | Offload::tso4 | Offload::tso_ecn | Offload::uso4 |
                          Offload::uso6 | Offload::udp_tunnel_gso;
  SECTION("a kernel without UDP-tunnel GSO") {
    k.fail_next_ioctl(TUNSETOFFLOAD, EINVAL);
    const Offloads granted = dev.set_offloads(wanted);
    CHECK(granted ==
          (Offload::csum | Offload::tso4 | Offload::tso_ecn | Offload::uso4 | Offload::uso6));
    CHECK(dev.offloads() == granted);
  }
  SECTION("a kernel without USO either (before 6.2)") {
    k.fail_next_ioctl(TUNSETOFFLOAD, EINVAL);
    k.fail_next_ioctl(TUNSETOFFLOAD, EINVAL);
    CHECK(dev.set_offloads(wanted) == (Offload::csum | Offload::tso4 | Offload::tso_ecn));
  }
  SECTION("a kernel refusing everything but CSUM and TSO") {
    for (int i = 0; i < 3; ++i)
      k.fail_next_ioctl(TUNSETOFFLOAD, EINVAL);
    CHECK(dev.set_offloads(wanted) == (Offload::csum | Offload::tso4));
  }
  SECTION("a kernel refusing even that reports the error") {
    for (int i = 0; i < 4; ++i)
      k.fail_next_ioctl(TUNSETOFFLOAD, EINVAL);
    std::error_code ec;
    CHECK(dev.set_offloads(wanted, ec).empty());
    CHECK(ec == kEinval);
    CHECK(dev.offloads().empty());
  }
  SECTION("another errno is not probed around") {
    k.fail_next_ioctl(TUNSETOFFLOAD, EBADFD);
    std::error_code ec;
    (void)dev.set_offloads(wanted, ec);
    CHECK(ec == std::error_code(EBADFD, std::system_category()));
    CHECK(k.count_ioctl(TUNSETOFFLOAD) == 1);  // this one only: the open asked for none
  }
}

TEST_CASE("impossible offload sets are refused before the kernel, saying why",
          "[device][offload]") {
  FakeKernel k;
  tunkit::TunDevice dev({.name = "off2", .vnet_hdr = true}, k);
  const auto [set, why] = GENERATE(table<Offloads, std::string>({
      {Offloads(Offload::tso4), "every offload needs Offload::csum"},
      {Offload::csum | Offload::tso_ecn, "tso_ecn needs tso4 or tso6"},
      {Offload::csum | Offload::uso4, "uso4 and uso6 go together"},
      {Offload::csum | Offload::tso4 | Offload::udp_tunnel_gso_csum,
       "udp_tunnel_gso_csum needs udp_tunnel_gso"},
      {Offload::csum | Offload::udp_tunnel_gso, "udp_tunnel_gso needs TSO or USO"},
      {Offloads::from_bits(0x8001), "unknown offload flags"},
  }));
  const auto before = k.count_ioctl(TUNSETOFFLOAD);
  try {
    (void)dev.set_offloads(set);
    FAIL("accepted " << tunkit::to_string(set));
  } catch (const std::system_error& e) {
    CHECK(e.code() == kEinval);
    CHECK(std::string(e.what()) ==
          "tunkit: TUNSETOFFLOAD \"off2\": invalid argument (" + why + ")");
  }
  CHECK(k.count_ioctl(TUNSETOFFLOAD) == before);
}

TEST_CASE("offloads without a virtio-net header fail the open and leave nothing",
          "[device][offload]") {
  FakeKernel k;
  const auto fds = k.open_fd_count();
  try {
    tunkit::TunDevice dev({.name = "off3", .offloads = Offload::csum | Offload::tso4}, k);
    FAIL("opened");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()) ==
          "tunkit: TUNSETOFFLOAD \"off3\": invalid argument (offloads "
          "need Options::vnet_hdr (IFF_VNET_HDR))");
  }
  CHECK(k.open_fd_count() == fds);
  CHECK_FALSE(k.exists("off3"));
}

TEST_CASE("a queue added after the virtio-net header changed frames with the device's header",
          "[device][offload][mq]") {
  // The device owns the header's size and byte order: every queue, also one added later, checks
  // the headers it writes against what the kernel uses for the device.
  FakeKernel k;
  tunkit::TunDevice dev({.name = "vh0", .multi_queue = true, .vnet_hdr = true}, k);
  dev.set_vnet_header_size(12);
  tunkit::Queue& added = dev.add_queue();
  // Eleven bytes: a whole 10-byte header and one byte of packet, but short of a 12-byte header.
  const std::string eleven(11, '\0');
  const auto bytes = std::as_bytes(std::span(eleven));
  for (tunkit::Queue* q : {&dev.queue(0), &added}) {
    std::error_code ec;
    CHECK(q->write(bytes, ec) == 0);
    CHECK(ec == tunkit::errc::invalid_vnet_header);
  }
  CHECK(k.written("vh0").empty());  // refused before the kernel on both queues
}

TEST_CASE("the virtio-net header size is kept whole, not narrowed to 16 bits", "[device][vnet]") {
  // The kernel takes any size from 10 on. 65546 once became 10 and 65536 "no header".
  FakeKernel k;
  tunkit::TunDevice dev({.name = "vh1", .vnet_hdr = true}, k);
  const std::string packet(100, '\0');  // a zero header and a zero packet: 100 bytes in all
  const auto bytes = std::as_bytes(std::span(packet));
  for (const int size : {65536, 65546}) {
    CAPTURE(size);
    dev.set_vnet_header_size(size);
    std::error_code ec;
    CHECK(dev.write(bytes, ec) == 0);
    CHECK(ec == tunkit::errc::invalid_vnet_header);  // 100 bytes cannot hold the header
  }
  CHECK(k.written("vh1").empty());
}

TEST_CASE("a queue attached to an existing device takes its virtio-net header from the kernel",
          "[device][vnet]") {
  // Another user set the device's header to 12 bytes: a new reader must not assume 10.
  FakeKernel k;
  tunkit::TunDevice first({.name = "vh2", .multi_queue = true, .vnet_hdr = true}, k);
  first.set_vnet_header_size(12);
  tunkit::TunDevice second({.name = "vh2", .multi_queue = true, .vnet_hdr = true}, k);
  CHECK(k.count_ioctl(TUNGETVNETHDRSZ) >= 1);
  const std::string eleven(11, '\0');
  std::error_code ec;
  CHECK(second.write(std::as_bytes(std::span(eleven)), ec) == 0);
  CHECK(ec == tunkit::errc::invalid_vnet_header);
}

TEST_CASE("a queue with a virtio-net header attached without asking leaves the offloads alone",
          "[device][offload]") {
  // Attaching changes nothing the device's other users rely on: a forwarder set TSO, a capture
  // attaches a queue to watch.
  FakeKernel k;
  const Offloads forwarder_set = Offload::csum | Offload::tso4;
  tunkit::TunDevice forwarder(
      {.name = "keep0", .multi_queue = true, .vnet_hdr = true, .offloads = forwarder_set}, k);
  REQUIRE(k.device("keep0")->offloads == forwarder_set);
  const std::size_t before = k.count_ioctl(TUNSETOFFLOAD);
  tunkit::TunDevice watcher({.name = "keep0", .multi_queue = true, .vnet_hdr = true}, k);
  CHECK(k.count_ioctl(TUNSETOFFLOAD) == before);
  CHECK(k.device("keep0")->offloads == forwarder_set);
  CHECK(watcher.offloads().empty());  // it set none itself
  // Asked for explicitly, none is set.
  tunkit::TunDevice off(
      {.name = "keep0", .multi_queue = true, .vnet_hdr = true, .offloads = Offloads{}}, k);
  CHECK(k.device("keep0")->offloads.empty());
}

TEST_CASE("a queue asking for another virtio-net header than the device's other queues is refused",
          "[device][vnet]") {
  // The kernel would attach it with the device's flags, and it would misread every packet.
  FakeKernel k;
  tunkit::TunDevice with({.name = "mix0", .multi_queue = true, .vnet_hdr = true}, k);
  CHECK_THROWS_WITH(tunkit::TunDevice({.name = "mix0", .multi_queue = true}, k),
                    "tunkit: TUNSETIFF \"mix0\": invalid argument (other queues hold the device "
                    "with a virtio-net header (IFF_VNET_HDR): open it with Options::vnet_hdr)");
  tunkit::TunDevice without({.name = "mix1", .multi_queue = true}, k);
  std::error_code ec;
  tunkit::TunDevice refused;
  refused.open({.name = "mix1", .multi_queue = true, .vnet_hdr = true}, ec, k);
  CHECK(ec == std::errc::invalid_argument);
  CHECK_FALSE(refused.is_open());
  CHECK(k.device("mix1")->queues == 1);  // the refused queue is detached again
}

TEST_CASE("writev takes a virtio-net header that spans buffers, and checks it whole",
          "[device][vnet]") {
  // The kernel reads the header from the iovecs as one stream; only write() documented it must
  // come first, and writev once refused a valid packet whose 10-byte header was split.
  FakeKernel k;
  tunkit::TunDevice dev({.name = "vh3", .vnet_hdr = true}, k);
  k.set_up("vh3", true);
  std::vector<std::byte> packet(10 + 40, std::byte{0});
  packet[10] = std::byte{0x45};  // an IPv4 packet after an all-zero header
  const auto all = std::span<const std::byte>(packet);
  SECTION("a valid header split 4 + 6 goes through as one packet") {
    const std::array<std::span<const std::byte>, 2> bufs{all.first(4), all.subspan(4)};
    CHECK(dev.writev(bufs) == packet.size());
    REQUIRE(k.written("vh3").size() == 1);
    CHECK(k.written("vh3")[0].data.size() == 40);
  }
  SECTION("a header split 1 + 3 + 6 whose bad field is in the third buffer is refused") {
    packet[6] = std::byte{200};  // csum_start 200, with NEEDS_CSUM: beyond the 40-byte packet
    packet[0] = std::byte{1};
    const std::array<std::span<const std::byte>, 3> bufs{all.first(1), all.subspan(1, 3),
                                                         all.subspan(4)};
    std::error_code ec;
    CHECK(dev.writev(bufs, ec) == 0);
    CHECK(ec == tunkit::errc::invalid_vnet_header);
    CHECK(k.written("vh3").empty());
  }
}

TEST_CASE("with packet information and a virtio-net header, the protocol is the packet's",
          "[device][vnet]") {
  // TUN: the kernel takes a write's protocol from the packet-information header as given (0 is
  // accepted and the stack drops the packet), so tunkit must read the IP version after the
  // virtio-net header, not the header's first byte; and a read without packet information reports
  // the packet's protocol, not the header's.
  FakeKernel k;
  const unsigned version = GENERATE(4U, 6U);
  CAPTURE(version);
  const std::uint16_t expected = version == 4 ? 0x0800 : 0x86DD;
  std::vector<std::byte> packet(10 + 60, std::byte{0});
  packet[10] = static_cast<std::byte>(version << 4U);  // after an all-zero header
  const auto all = std::span<const std::byte>(packet);

  SECTION("write and writev, the header whole or split") {
    tunkit::TunDevice dev({.name = "pv0", .packet_info = true, .vnet_hdr = true}, k);
    k.set_up("pv0", true);
    CHECK(dev.write(packet) == packet.size());
    const std::array<std::span<const std::byte>, 3> bufs{all.first(3), all.subspan(3, 7),
                                                         all.subspan(10)};
    CHECK(dev.writev(bufs) == packet.size());
    const auto written = k.written("pv0");
    REQUIRE(written.size() == 2);
    for (const auto& w : written) {
      CHECK(w.protocol == expected);
      CHECK(w.data.size() == 60);
    }
  }
  SECTION("read without packet information") {
    tunkit::TunDevice dev({.name = "pv1", .vnet_hdr = true}, k);
    k.set_up("pv1", true);
    REQUIRE(k.inject("pv1", all.subspan(10)) >= 0);
    std::array<std::byte, 128> buf{};
    tunkit::PacketInfo info;
    std::error_code ec;
    CHECK(dev.queue(0).read(buf, info, ec) == packet.size());
    REQUIRE_FALSE(ec);
    CHECK(info.protocol == expected);
  }
}
