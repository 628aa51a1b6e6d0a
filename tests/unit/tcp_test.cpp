#include "tunkit/packet/tcp.hpp"

#include <span>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit_test::hex;
using tunkit_test::must;
using tunkit_test::u8;
using Bytes = std::vector<std::byte>;

}  // namespace

TEST_CASE("IPv4/TCP golden packets: flags, sequence numbers, options", "[packet]") {
  SECTION("PSH+ACK with data") {
    const Bytes b = hex(tunkit_test::kTcp4Psh);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    const tunkit::TcpView* tcp = pkt->tcp();
    REQUIRE(tcp != nullptr);
    CHECK(tcp->src_port() == 22);
    CHECK(tcp->dst_port() == 41000);
    CHECK(tcp->seq() == 1);
    CHECK(tcp->ack() == 5);
    CHECK(tcp->header_length() == 20);
    CHECK(tcp->flags() == (tunkit::TcpFlags(tunkit::TcpFlag::psh) | tunkit::TcpFlag::ack));
    CHECK(tcp->flags().has(tunkit::TcpFlag::psh));
    CHECK_FALSE(tcp->flags().has(tunkit::TcpFlag::syn));
    CHECK(tcp->window() == 502);
    CHECK(tcp->checksum() == 0xf426);
    CHECK(tcp->urgent_pointer() == 0);
    CHECK(tcp->options().empty());
    CHECK_FALSE(tcp->mss());
    CHECK(tcp->payload().size() == 100);
    CHECK(tcp->bytes().size() == 120);
    CHECK(tunkit::transport_checksum_ok(*pkt));
    CHECK(tunkit::transport_checksum(*pkt) == 0xf426);
  }
  SECTION("SYN with options") {
    const Bytes b = hex(tunkit_test::kTcp4Syn);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    const tunkit::TcpView* tcp = pkt->tcp();
    REQUIRE(tcp != nullptr);
    CHECK(tcp->flags() == tunkit::TcpFlag::syn);
    CHECK(tcp->seq() == 1000);
    CHECK(tcp->header_length() == 40);
    CHECK(tcp->options().size() == 20);
    CHECK(tcp->payload().empty());
    CHECK(tcp->mss() == 1460);
    const auto ws = tcp->option(3);
    REQUIRE(ws);
    REQUIRE(ws->size() == 3);
    CHECK(u8(*ws, 2) == 7);
    const auto ts = tcp->option(8);
    REQUIRE(ts);
    CHECK(ts->size() == 10);
    CHECK(tcp->option(4));
    CHECK_FALSE(tcp->option(5));
    CHECK(tunkit::transport_checksum_ok(*pkt));
  }
}

TEST_CASE("mutable views write fields in place: TCP", "[packet]") {
  Bytes b = hex(tunkit_test::kTcp4Psh);
  auto tcp = tunkit::MutableTcpView::parse(std::span(b).subspan(20));
  REQUIRE(tcp);
  tcp->set_seq(0xFFFFFFF0U);
  tcp->set_ack(77);
  tcp->set_flags(tunkit::TcpFlags(tunkit::TcpFlag::fin) | tunkit::TcpFlag::ack);
  tcp->set_window(1);
  tcp->set_src_port(80);
  tcp->set_dst_port(81);
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  tcp->set_checksum(tunkit::transport_checksum(*pkt));
  const auto again = tunkit::parse_ip(b);
  REQUIRE(again);
  CHECK(must(again->tcp()).seq() == 0xFFFFFFF0U);
  CHECK(must(again->tcp()).ack() == 77);
  CHECK(must(again->tcp()).flags().has(tunkit::TcpFlag::fin));
  CHECK(must(again->tcp()).window() == 1);
  CHECK(tunkit::transport_checksum_ok(*again));
}
