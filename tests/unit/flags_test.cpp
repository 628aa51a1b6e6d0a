#include "tunkit/detail/flags.hpp"

#include <cstdint>

#include "catch.hpp"
#include "tunkit/packet/tcp.hpp"

// detail::FlagSet holds the operations tunkit's flag sets share; TcpFlags is one, and a set of
// 16-bit flags (the shape of options.hpp's Flags and Offloads) is checked alongside.

namespace {

enum class Bit16 : std::uint16_t { a = 0x0001, b = 0x0100, c = 0x8000 };

class Bits16 : public tunkit::detail::FlagSet<Bits16, Bit16> {
 public:
  using FlagSet::FlagSet;
  static constexpr Bits16 all() noexcept { return from_bits(0x8101); }
};

using tunkit::TcpFlag;
using tunkit::TcpFlags;

// Everything is constexpr.
static_assert(TcpFlags().empty());
static_assert(TcpFlags(TcpFlag::syn).bits() == 0x02);
static_assert((TcpFlags(TcpFlag::syn) | TcpFlag::ack).bits() == 0x12);
static_assert(TcpFlags::from_bits(0x12).has(TcpFlag::ack));
static_assert(Bits16::all().bits() == 0x8101);
static_assert(sizeof(TcpFlags) == 1 && sizeof(Bits16) == 2);

}  // namespace

TEST_CASE("FlagSet: the set operations of TcpFlags", "[flags]") {
  const TcpFlags syn_ack = TcpFlags(TcpFlag::syn) | TcpFlag::ack;
  CHECK(syn_ack.bits() == 0x12);
  CHECK(syn_ack.has(TcpFlag::syn));
  CHECK(syn_ack.has(syn_ack));
  CHECK(syn_ack.has(TcpFlags()));
  CHECK_FALSE(syn_ack.has(TcpFlags(TcpFlag::syn) | TcpFlag::fin));
  CHECK_FALSE(syn_ack.empty());
  CHECK((syn_ack & TcpFlag::ack) == TcpFlag::ack);
  CHECK((syn_ack & TcpFlag::fin).empty());
  CHECK((syn_ack - TcpFlag::syn) == TcpFlag::ack);
  CHECK((syn_ack - syn_ack).empty());
  CHECK(TcpFlags::from_bits(0xFF) - syn_ack == TcpFlags::from_bits(0xED));
  TcpFlags f;
  f |= TcpFlag::psh;
  f |= TcpFlag::fin;
  CHECK(f.bits() == 0x09);
  f &= TcpFlags(TcpFlag::fin) | TcpFlag::rst;
  CHECK(f == TcpFlag::fin);
  CHECK(f != syn_ack);
}

TEST_CASE("FlagSet: 16-bit flags keep unknown bits and add their own members", "[flags]") {
  const Bits16 ab = Bits16(Bit16::a) | Bit16::b;
  CHECK(ab.bits() == 0x0101);
  CHECK(Bits16::all().has(ab));
  CHECK((Bits16::all() - ab) == Bit16::c);
  const Bits16 odd = Bits16::from_bits(0x4001);
  CHECK(odd.bits() == 0x4001);
  CHECK(odd.has(Bit16::a));
  CHECK((odd & Bits16::all()) == Bit16::a);
  CHECK((odd - Bit16::a).bits() == 0x4000);
}
