// The TUN wire rules (include/tunkit/detail/tun_wire.hpp) against the kernel's constants: what
// Queue, BatchIo and the Asio adapter frame packets by.
#include "tunkit/detail/tun_wire.hpp"

#include <linux/if_tun.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "catch.hpp"

namespace {

using tunkit::Flag;
using tunkit::Flags;
using tunkit::Mode;
using tunkit::Options;
namespace wire = tunkit::detail;

}  // namespace

TEST_CASE("setiff_flags: what TUNSETIFF is asked for", "[tun_wire]") {
  CHECK(wire::setiff_flags(Options{}).bits() == (IFF_TUN | IFF_NO_PI));
  CHECK(wire::setiff_flags(Options{.mode = Mode::tap, .packet_info = true}).bits() == IFF_TAP);
  CHECK(wire::setiff_flags(Options{.queues = 2}).has(Flag::multi_queue));
  CHECK(
      wire::setiff_flags(Options{.exclusive = true, .vnet_hdr = true, .no_carrier = true}).bits() ==
      (IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL | IFF_VNET_HDR | 0x0040));
  CHECK(wire::setiff_flags(Options{.mode = Mode::tap, .napi = true, .napi_frags = true}).bits() ==
        (IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS));
  CHECK(wire::wants_multi_queue(Options{.multi_queue = true}));
  CHECK_FALSE(wire::wants_multi_queue(Options{}));
}

TEST_CASE("flags_from_getiff: IFF_NOFILTER is dropped, IFF_DETACH_QUEUE kept", "[tun_wire]") {
  // IFF_NOFILTER (0x1000, IFF_NO_PI's value) would read as NO_PI; IFF_DETACH_QUEUE says the
  // queue is disabled, which Queue::flags() reports (TunDevice::flags() leaves it out).
  const unsigned answer = IFF_TUN | IFF_MULTI_QUEUE | IFF_NOFILTER;
  CHECK(wire::flags_from_getiff(answer, true) == (Flag::tun | Flag::multi_queue));
  CHECK(wire::flags_from_getiff(answer | IFF_DETACH_QUEUE, true) ==
        (Flag::tun | Flag::multi_queue | Flag::detach_queue));
  CHECK(wire::flags_from_getiff(answer, false) ==
        (Flags(Flag::tun) | Flag::multi_queue | Flag::no_pi));
}

TEST_CASE("protocol_of and the packet-information header", "[tun_wire]") {
  const std::array<std::byte, 1> v4{std::byte{0x45}};
  const std::array<std::byte, 1> v6{std::byte{0x60}};
  const std::array<std::byte, 1> other{std::byte{0x15}};
  CHECK(wire::protocol_of(Mode::tun, v4) == 0x0800);
  CHECK(wire::protocol_of(Mode::tun, v6) == 0x86DD);
  CHECK(wire::protocol_of(Mode::tun, other) == 0);
  CHECK(wire::protocol_of(Mode::tun, {}) == 0);
  std::array<std::byte, 14> frame{};
  frame[12] = std::byte{0x08};
  frame[13] = std::byte{0x06};
  CHECK(wire::protocol_of(Mode::tap, frame) == 0x0806);
  CHECK(wire::protocol_of(Mode::tap, std::span(frame).first(13)) == 0);

  const wire::PiBytes pi = wire::encode_pi(0x86DD);
  CHECK(wire::pi_protocol(pi) == 0x86DD);
  CHECK(wire::pi_flags(pi) == 0);
  CHECK(wire::kPiSize == sizeof(tun_pi));
}

TEST_CASE("read outcomes: the spare byte and TUN_PKT_STRIP", "[tun_wire]") {
  CHECK(wire::read_outcome(100, 1500).length == 100);
  CHECK_FALSE(wire::read_outcome(1500, 1500).truncated);
  const auto longer = wire::read_outcome(1501, 1500);  // the spare byte was filled
  CHECK(longer.truncated);
  CHECK(longer.length == 1500);

  wire::PiBytes pi = wire::encode_pi(0x0800);
  CHECK(wire::read_outcome_pi(64, pi).length == 60);
  CHECK_FALSE(wire::read_outcome_pi(64, pi).truncated);
  const std::uint16_t strip = TUN_PKT_STRIP;
  std::memcpy(pi.data(), &strip, sizeof strip);  // host byte order, as the kernel writes it
  CHECK(wire::read_outcome_pi(64, pi).truncated);
  CHECK(wire::read_outcome_pi(3, pi).short_read);
}
