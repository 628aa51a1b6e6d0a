#include "tunkit/options.hpp"

#include "catch.hpp"

TEST_CASE("Flags render as the kernel's names", "[options][flags]") {
  using tunkit::Flag;
  CHECK(tunkit::to_string(Flag::tun | Flag::no_pi | Flag::persist) == "TUN|PERSIST|NO_PI");
  CHECK(tunkit::to_string(tunkit::Flags{}) == "none");
  CHECK(tunkit::to_string(tunkit::Flags::from_bits(0x0004)) == "0x0004");
  const tunkit::Flags f = Flag::tap | Flag::multi_queue;
  CHECK(f.has(Flag::tap));
  CHECK(f.has(Flag::tap | Flag::multi_queue));
  CHECK_FALSE(f.has(Flag::tun));
  CHECK(f.bits() == 0x0102);
  CHECK((f & Flag::tap) == tunkit::Flags(Flag::tap));
  CHECK(tunkit::to_string(tunkit::Mode::tap) == "tap");
}

TEST_CASE("Offload flags carry the kernel's TUN_F_* values and names", "[options][offload]") {
  using tunkit::Offload;
  CHECK(tunkit::Offloads(Offload::csum).bits() == 0x01);
  CHECK(tunkit::Offloads(Offload::tso4).bits() == 0x02);
  CHECK(tunkit::Offloads(Offload::tso6).bits() == 0x04);
  CHECK(tunkit::Offloads(Offload::tso_ecn).bits() == 0x08);
  CHECK(tunkit::Offloads(Offload::ufo).bits() == 0x10);
  CHECK(tunkit::Offloads(Offload::uso4).bits() == 0x20);
  CHECK(tunkit::Offloads(Offload::uso6).bits() == 0x40);
  CHECK(tunkit::Offloads(Offload::udp_tunnel_gso).bits() == 0x80);
  CHECK(tunkit::Offloads(Offload::udp_tunnel_gso_csum).bits() == 0x100);
  CHECK(tunkit::Offloads::all().bits() == 0x1FF);

  const tunkit::Offloads o = Offload::csum | Offload::tso4 | Offload::tso6;
  CHECK(tunkit::to_string(o) == "CSUM|TSO4|TSO6");
  CHECK(tunkit::to_string(tunkit::Offloads{}) == "none");
  CHECK(tunkit::to_string(tunkit::Offloads::all()) ==
        "CSUM|TSO4|TSO6|TSO_ECN|UFO|USO4|USO6|UDP_TUNNEL_GSO|UDP_TUNNEL_GSO_CSUM");
  CHECK(tunkit::to_string(tunkit::Offloads::from_bits(0x8001)) == "CSUM|0x8000");
  CHECK(o.has(Offload::tso4));
  CHECK_FALSE(o.has(Offload::uso4));
  CHECK((o - Offload::tso6) == (Offload::csum | Offload::tso4));
  CHECK((o & tunkit::Offloads(Offload::tso6)) == tunkit::Offloads(Offload::tso6));
}
