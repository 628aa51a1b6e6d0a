// tunkit::BatchIo's loop backend over the fake kernel: how batches are filled and written, every
// errno path (EAGAIN ending a batch, EINTR retried, EIO before and after the first packet,
// truncation), bad input, and that io_uring is never picked for a fake syscall seam.
#include "tunkit/batch.hpp"

#include <array>
#include <cerrno>
#include <cstddef>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace {

using tunkit::BatchBackend;
using tunkit::BatchIo;
using tunkit::errc;
using tunkit::PacketBatch;
using tunkit::PacketBuffers;
using tunkit::testing::FakeKernel;
using Call = FakeKernel::Call;

using test::ipv4;
using test::sys;

// A fake kernel with TUN "tun0" up, opened non-blocking unless asked otherwise.
struct BatchWorld {
  FakeKernel kernel;
  tunkit::TunDevice dev;
  explicit BatchWorld(bool non_blocking = true) {
    tunkit::Options options;
    options.name = "tun0";
    options.non_blocking = non_blocking;
    dev.open(options, kernel);
    kernel.set_up("tun0", true);
  }
  void inject(const std::vector<std::byte>& p) { REQUIRE(kernel.inject("tun0", p) >= 0); }
};

std::vector<std::byte> bytes_of(std::span<const std::byte> s) {
  return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("BatchIo picks the loop backend over a fake kernel", "[batch]") {
  BatchWorld w;
  BatchIo io(w.dev.queue(0));
  CHECK(io.is_open());
  CHECK(io.backend() == BatchBackend::loop);
  CHECK(io.max_packets() == 64);
  CHECK(tunkit::to_string(BatchBackend::uring) == "uring");
  CHECK(tunkit::to_string(BatchBackend::automatic) == "automatic");

  SECTION("io_uring asked for explicitly is refused: it would bypass the seam") {
    std::error_code ec;
    BatchIo u;
    u.open(w.dev.queue(0), {.backend = BatchBackend::uring}, ec);
    CHECK(ec == errc::feature_unsupported);
    CHECK_FALSE(u.is_open());
    try {
      BatchIo thrown(w.dev.queue(0), {.backend = BatchBackend::uring});
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == errc::feature_unsupported);
      CHECK(std::string(e.what()).find("fake syscall seam") != std::string::npos);
    }
  }
  SECTION("max_packets must be 1..1024") {
    for (std::size_t bad : {std::size_t{0}, BatchIo::max_packets_limit + 1}) {
      std::error_code ec;
      BatchIo b;
      b.open(w.dev.queue(0), {.max_packets = bad}, ec);
      CHECK(ec == std::errc::invalid_argument);
    }
  }
  SECTION("a closed queue") {
    tunkit::Queue closed;
    std::error_code ec;
    BatchIo b;
    b.open(closed, {}, ec);
    CHECK(ec == errc::not_open);
    PacketBuffers buf(2, 100);
    CHECK(b.read_batch(buf.batch(), ec) == 0);
    CHECK(ec == errc::not_open);
  }
  SECTION("moves keep the engine") {
    BatchIo moved(std::move(io));
    CHECK(moved.is_open());
    CHECK_FALSE(io.is_open());  // NOLINT(bugprone-use-after-move): moved-from is closed
  }
}

TEST_CASE("read_batch takes every queued packet into the slots, one readv each", "[batch]") {
  BatchWorld w;
  BatchIo io(w.dev.queue(0));
  const auto p1 = ipv4(60, 1);
  const auto p2 = ipv4(1500, 2);
  const auto p3 = ipv4(20, 3);
  w.inject(p1);
  w.inject(p2);
  w.inject(p3);
  PacketBuffers buf(8, 2048);
  PacketBatch& batch = buf.batch();
  std::error_code ec;
  const std::size_t before = w.kernel.count(Call::readv);
  CHECK(io.read_batch(batch, ec) == 3);
  CHECK_FALSE(ec);
  CHECK(batch.size() == 3);
  CHECK(bytes_of(batch.packet(0)) == p1);
  CHECK(bytes_of(batch.packet(1)) == p2);
  CHECK(bytes_of(batch.packet(2)) == p3);
  CHECK(w.kernel.count(Call::readv) - before == 4);  // three packets and the EAGAIN that ends it

  SECTION("an empty queue: would block on a non-blocking queue") {
    CHECK(io.read_batch(batch, ec) == 0);
    CHECK(ec == std::errc::operation_would_block);
    CHECK(batch.empty());
    CHECK_THROWS_AS(io.read_batch(batch), tunkit::Error);
  }
}

TEST_CASE("read_batch is bounded by the capacity and by max_packets", "[batch]") {
  BatchWorld w;
  for (unsigned i = 0; i < 5; ++i)
    w.inject(ipv4(40 + i, i));
  PacketBuffers buf(4, 256);
  std::error_code ec;
  SECTION("capacity") {
    BatchIo io(w.dev.queue(0));
    CHECK(io.read_batch(buf.batch(), ec) == 4);
    CHECK(buf.batch().length(3) == 43);
    CHECK(io.read_batch(buf.batch(), ec) == 1);
    CHECK(buf.batch().length(0) == 44);
  }
  SECTION("max_packets") {
    BatchIo io(w.dev.queue(0), {.max_packets = 2});
    CHECK(io.read_batch(buf.batch(), ec) == 2);
    CHECK(io.read_batch(buf.batch(), ec) == 2);
    CHECK(io.read_batch(buf.batch(), ec) == 1);
    CHECK_FALSE(ec);
  }
}

TEST_CASE("read_batch leaves the headroom free", "[batch]") {
  BatchWorld w;
  const auto p = ipv4(100);
  w.inject(p);
  PacketBuffers buf(2, 300, 12);
  std::span<std::byte> head = buf.batch().buffer(0).first(12);
  for (auto& b : head)
    b = std::byte{0xEE};
  BatchIo io(w.dev.queue(0));
  CHECK(io.read_batch(buf.batch()) == 1);
  CHECK(buf.batch().packet(0).data() == buf.batch().buffer(0).data() + 12);
  CHECK(bytes_of(buf.batch().packet(0)) == p);
  for (auto b : head)
    CHECK(b == std::byte{0xEE});
}

TEST_CASE("read_batch retries EINTR", "[batch]") {
  BatchWorld w;
  w.inject(ipv4(60, 1));
  w.inject(ipv4(61, 2));
  w.kernel.fail_next(Call::readv, EINTR);
  w.kernel.fail_next(Call::readv, EINTR, 1);
  BatchIo io(w.dev.queue(0));
  PacketBuffers buf(4, 256);
  std::error_code ec;
  CHECK(io.read_batch(buf.batch(), ec) == 2);
  CHECK_FALSE(ec);
}

TEST_CASE("read_batch errors: first packet reported, later ones left for the next call",
          "[batch]") {
  const int err = GENERATE(EIO, EBADFD, EFAULT);
  BatchWorld w;
  w.inject(ipv4(60, 1));
  w.inject(ipv4(60, 2));
  BatchIo io(w.dev.queue(0));
  PacketBuffers buf(4, 256);
  std::error_code ec;
  SECTION("before the first packet") {
    w.kernel.fail_next(Call::readv, err);
    CHECK(io.read_batch(buf.batch(), ec) == 0);
    CHECK(ec == sys(err));
    CHECK(io.read_batch(buf.batch(), ec) == 2);  // nothing was lost
  }
  SECTION("after the first packet: the batch ends there, without error") {
    w.kernel.fail_next(Call::readv, err, 1);
    CHECK(io.read_batch(buf.batch(), ec) == 1);
    CHECK_FALSE(ec);
    CHECK(io.read_batch(buf.batch(), ec) == 1);
  }
}

TEST_CASE("read_batch drops packets longer than their slot", "[batch]") {
  BatchWorld w;
  BatchIo io(w.dev.queue(0));
  PacketBuffers buf(4, 64);
  std::error_code ec;
  SECTION("among others: counted, the others delivered") {
    const auto small1 = ipv4(30, 1);
    const auto small2 = ipv4(40, 2);
    w.inject(small1);
    w.inject(ipv4(200, 3));
    w.inject(small2);
    CHECK(io.read_batch(buf.batch(), ec) == 2);
    CHECK_FALSE(ec);
    CHECK(io.truncated() == 1);
    CHECK(bytes_of(buf.batch().packet(0)) == small1);
    CHECK(bytes_of(buf.batch().packet(1)) == small2);
  }
  SECTION("alone: EMSGSIZE-like errc::packet_truncated") {
    w.inject(ipv4(200, 3));
    CHECK(io.read_batch(buf.batch(), ec) == 0);
    CHECK(ec == errc::packet_truncated);
    CHECK(io.truncated() == 1);
    try {
      w.inject(ipv4(200, 4));
      (void)io.read_batch(buf.batch());
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(std::string(e.what()).find("at least the MTU") != std::string::npos);
    }
  }
}

TEST_CASE("read_batch rejects unusable batches before any syscall", "[batch]") {
  BatchWorld w;
  BatchIo io(w.dev.queue(0));
  std::error_code ec;
  const std::size_t before = w.kernel.count(Call::readv);
  SECTION("no slots") {
    PacketBatch empty;
    CHECK(io.read_batch(empty, ec) == 0);
    CHECK(ec == errc::output_too_small);
  }
  SECTION("a slot with no room after the headroom") {
    std::array<std::byte, 16> a{};
    std::array<std::byte, 8> b{};
    std::array<std::span<std::byte>, 2> spans{a, b};
    std::array<std::size_t, 2> lengths{};
    PacketBatch batch(spans, lengths, 8);
    CHECK(batch.capacity() == 2);
    CHECK(batch.room(1).empty());
    CHECK(io.read_batch(batch, ec) == 0);
    CHECK(ec == errc::output_too_small);
  }
  CHECK(w.kernel.count(Call::readv) == before);
}

TEST_CASE("read_batch on a blocking queue waits, and interrupt() ends the wait", "[batch]") {
  BatchWorld w(false);
  BatchIo io(w.dev.queue(0));
  PacketBuffers buf(4, 256);
  std::error_code ec;
  SECTION("a queued packet needs no wait") {
    w.inject(ipv4(60));
    CHECK(io.read_batch(buf.batch(), ec) == 1);
    CHECK(w.kernel.count(Call::poll) == 0);
  }
  SECTION("after a call that emptied the queue, the next one waits before it reads") {
    w.inject(ipv4(60));
    CHECK(io.read_batch(buf.batch(), ec) == 1);  // the packet, then EAGAIN: the queue is empty
    CHECK(w.kernel.count(Call::readv) == 2);
    CHECK(w.kernel.count(Call::poll) == 0);
    w.inject(ipv4(61));
    CHECK(io.read_batch(buf.batch(), ec) == 1);
    CHECK_FALSE(ec);
    // No read answered EAGAIN before the wait: poll, the packet, EAGAIN.
    CHECK(w.kernel.count(Call::poll) == 1);
    CHECK(w.kernel.count(Call::readv) == 4);
    // A call stopped by the batch's size reads first.
    for (int i = 0; i < 5; ++i)
      w.inject(ipv4(62));
    CHECK(io.read_batch(buf.batch(), ec) == 4);
    CHECK(w.kernel.count(Call::poll) == 2);
    CHECK(io.read_batch(buf.batch(), ec) == 1);
    CHECK(w.kernel.count(Call::poll) == 2);
  }
  SECTION("interrupted") {
    w.dev.interrupt();
    CHECK(io.read_batch(buf.batch(), ec) == 0);
    CHECK(ec == errc::interrupted);
    w.dev.clear_interrupt();
  }
}

TEST_CASE("write_batch writes the packets in order, one writev each", "[batch]") {
  BatchWorld w;
  BatchIo io(w.dev.queue(0));
  PacketBuffers buf(4, 256, 10);
  PacketBatch& batch = buf.batch();
  std::vector<std::vector<std::byte>> sent;
  for (unsigned i = 0; i < 3; ++i) {
    sent.push_back(ipv4(50 + i, i));
    std::copy(sent.back().begin(), sent.back().end(), batch.room(i).begin());
    REQUIRE(batch.push_back(sent.back().size()));
  }
  std::error_code ec;
  CHECK(io.write_batch(batch, ec) == 3);
  CHECK_FALSE(ec);
  const auto written = w.kernel.written("tun0");
  REQUIRE(written.size() == 3);
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(written[i].data == sent[i]);

  SECTION("EINTR is retried") {
    w.kernel.clear_written();
    w.kernel.fail_next(Call::writev, EINTR, 1);
    CHECK(io.write_batch(batch, ec) == 3);
    CHECK(w.kernel.written("tun0").size() == 3);
  }
  SECTION("the first failure ends the batch; tail() resumes after it") {
    w.kernel.clear_written();
    w.kernel.fail_next(Call::writev, EINVAL, 1);
    CHECK(io.write_batch(batch, ec) == 1);
    CHECK(ec == sys(EINVAL));
    CHECK(io.write_batch(batch.tail(2), ec) == 1);
    CHECK_FALSE(ec);
    const auto w2 = w.kernel.written("tun0");
    REQUIRE(w2.size() == 2);
    CHECK(w2[1].data == sent[2]);
  }
  SECTION("EAGAIN on a non-blocking queue") {
    w.kernel.fail_next(Call::writev, EAGAIN, 2);
    CHECK(io.write_batch(batch, ec) == 2);
    CHECK(ec == std::errc::operation_would_block);
  }
  SECTION("EIO while the device is down") {
    w.kernel.set_up("tun0", false);
    CHECK(io.write_batch(batch, ec) == 0);
    CHECK(ec == sys(EIO));
    try {
      (void)io.write_batch(batch);
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(std::string(e.what()).find("bring it up") != std::string::npos);
    }
  }
  SECTION("an empty packet") {
    batch.length(1) = 0;
    CHECK(io.write_batch(batch, ec) == 1);
    CHECK(ec == errc::empty_packet);
  }
  SECTION("more packets than max_packets") {
    BatchIo small(w.dev.queue(0), {.max_packets = 2});
    const std::size_t before = w.kernel.count(Call::writev);
    CHECK(small.write_batch(batch, ec) == 0);
    CHECK(ec == errc::batch_too_large);
    CHECK(w.kernel.count(Call::writev) == before);
  }
  SECTION("an empty batch writes nothing") {
    const std::size_t before = w.kernel.count(Call::writev);
    CHECK(io.write_batch(PacketBatch{}, ec) == 0);
    CHECK_FALSE(ec);
    CHECK(w.kernel.count(Call::writev) == before);
  }
}

TEST_CASE("write_batch on a blocking queue waits out EAGAIN", "[batch]") {
  BatchWorld w(false);
  BatchIo io(w.dev.queue(0));
  const auto p = ipv4(60);
  const std::array<std::span<const std::byte>, 2> packets{p, p};
  w.kernel.fail_next(Call::writev, EAGAIN, 1);
  std::error_code ec;
  CHECK(io.write_packets(packets, ec) == 2);
  CHECK_FALSE(ec);
  CHECK(w.kernel.written("tun0").size() == 2);
}

TEST_CASE("PacketBatch describes slots, lengths and tails", "[batch]") {
  std::array<std::array<std::byte, 32>, 3> storage{};
  std::array<std::span<std::byte>, 3> spans{storage[0], storage[1], storage[2]};
  std::array<std::size_t, 2> lengths{};  // fewer lengths than buffers: capacity 2
  PacketBatch batch(spans, lengths, 4);
  CHECK(batch.capacity() == 2);
  CHECK(batch.headroom() == 4);
  CHECK(batch.room(0).size() == 28);
  CHECK(batch.push_back(10));
  CHECK(batch.push_back(50));  // longer than the room: packet() clamps
  CHECK_FALSE(batch.push_back(1));
  CHECK(batch.packet(1).size() == 28);
  const PacketBatch t = batch.tail(1);
  CHECK(t.capacity() == 1);
  CHECK(t.size() == 1);
  CHECK(t.length(0) == 50);
  CHECK(batch.tail(5).capacity() == 0);
  batch.clear();
  CHECK(batch.empty());
}

TEST_CASE("write_gathered writes each packet's pieces with one writev", "[batch]") {
  BatchWorld w;
  BatchIo io(w.dev.queue(0));
  const auto a = ipv4(60, 1);
  const auto b = ipv4(80, 2);
  const std::array<std::span<const std::byte>, 3> a_pieces{
      std::span(a).first(20), std::span(a).subspan(20, 1), std::span(a).subspan(21)};
  const std::array<std::span<const std::byte>, 1> b_pieces{b};
  const std::array<std::span<const std::span<const std::byte>>, 2> packets{a_pieces, b_pieces};
  std::error_code ec;
  const std::size_t before = w.kernel.count(Call::writev);
  CHECK(io.write_gathered(packets, ec) == 2);
  CHECK_FALSE(ec);
  CHECK(w.kernel.count(Call::writev) == before + 2);
  const auto written = w.kernel.written("tun0");
  REQUIRE(written.size() == 2);
  CHECK(written[0].data == a);
  CHECK(written[1].data == b);

  SECTION("more pieces than Queue::max_buffers") {
    std::vector<std::span<const std::byte>> many(tunkit::Queue::max_buffers + 1);
    for (std::size_t i = 0; i < many.size(); ++i)
      many[i] = std::span(a).subspan(i % a.size(), 1);
    const std::array<std::span<const std::span<const std::byte>>, 2> with_many{a_pieces, many};
    CHECK(io.write_gathered(with_many, ec) == 1);
    CHECK(ec == errc::too_many_buffers);
  }
  SECTION("a packet of empty pieces") {
    const std::array<std::span<const std::byte>, 2> empty{};
    const std::array<std::span<const std::span<const std::byte>>, 2> with_empty{a_pieces, empty};
    CHECK(io.write_gathered(with_empty, ec) == 1);
    CHECK(ec == errc::empty_packet);
    try {
      (void)io.write_gathered(with_empty);
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(std::string(e.what()).find("write_gathered") != std::string::npos);
    }
  }
  SECTION("more packets than max_packets") {
    BatchIo small(w.dev.queue(0), {.max_packets = 1});
    CHECK(small.write_gathered(packets, ec) == 0);
    CHECK(ec == errc::batch_too_large);
  }
}
