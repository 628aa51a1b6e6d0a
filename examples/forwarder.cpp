// forwarder: joins two existing TUN devices; every packet read from one is written to the other.
//
// It is the candidate of tunkit's data-plane benchmark (`./dev bench` with a namespace harness):
// the harness creates two persistent devices (`ip tuntap add ... mode tun [vnet_hdr]
// [multi_queue]`), starts `forwarder [options] A B`, moves the devices into two namespaces and
// measures TCP and UDP through it. So the forwarder attaches with the flags the devices were
// created with (read over rtnetlink: tunkit::find_tun_device), keeps working after the devices
// change namespace (an open descriptor follows its device), and runs until SIGTERM.
//
//   ip tuntap add dev fwa mode tun; ip tuntap add dev fwb mode tun
//   ./forwarder fwa fwb &
//   ... move fwa and fwb into namespaces, address them, route between them ...
//
// One thread per direction per queue, each built on tunkit's batch API (tunkit::BatchIo): it
// waits for packets, reads every packet queued (up to 64) in one call, and writes them to the
// other device in one call. The backend is a loop of non-blocking read/write syscalls or io_uring
// (one io_uring_enter per batch). With --split, every super-packet is cut into MTU-sized
// segments and the segments coalesced back into super-packets before the write: the path a VPN
// that encrypts each packet takes. Without copying a payload byte: the segments are headers
// built apart plus views of the super-packet's payload (tunkit::gso_split_views), and the writes
// are gather lists (the gathering tunkit::Coalescer::coalesce, BatchIo::write_gathered), so the
// payload is copied only by the kernel, once in and once out. Nor is a payload byte read: the
// segments carry partial checksums (the pseudo-header sum, tunkit::SegmentChecksum::partial)
// and every write has NEEDS_CSUM, so the kernel completes them (as it does for the super-packets
// it hands over). --split-copy takes the copying forms instead (gso_split into buffers, coalesce
// into an arena), for comparison; --verify computes and checks full checksums.
// SIGTERM/SIGINT call TunDevice::interrupt(), which wakes every thread; they return and the
// counters are printed.
//
// Exit status: 0 done (SIGINT/SIGTERM or timeout), 1 runtime error, 2 usage.

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "common/helpers.hpp"
#include "common/kernel_stats.hpp"

namespace {

constexpr std::string_view kUsage = R"txt(usage: forwarder [options] A B

Joins two existing TUN devices A and B: every packet read from one is written to the other,
until SIGINT or SIGTERM. It attaches with the flags the devices were created with
(`ip tuntap add dev A mode tun [vnet_hdr] [multi_queue]`).

options:
  -q, --queues N     attach N queues to each device (1..256, default 1; more than one needs
                     devices created multi_queue), with one thread per direction per queue
  --vnet             IFF_VNET_HDR: a virtio-net header before each packet (set on both devices)
  --offload          --vnet, and ask the kernel for offloads (checksum, TSO, USO): 64 KiB
                     super-packets pass through unchanged instead of MTU-sized packets
  --split            --offload, and cut every super-packet into MTU-sized packets, then
                     coalesce them back into super-packets (TSO, and USO for runs of
                     equal-sized UDP datagrams) before writing, without copying payloads
  --split-copy       as --split, with the copying forms (segments and writes in buffers)
  --verify           with --split: compute each segment's full checksum and check it again
                     before merging (the copying form always does); without it --split
                     leaves the checksums partial for the kernel to complete
  --backend B        batch I/O backend: loop (read/write syscalls), uring (io_uring) or
                     auto (default: io_uring where available, else the
                     loop); uring falls back to the loop, with a notice,
                     where io_uring is unavailable
  -t, --timeout SEC  exit after SEC seconds (default 0: no limit)
  -h, --help         show this help

Prints "ready: A B ..." once attached and per-direction counters at the end.
)txt";

struct Config {
  std::string a;
  std::string b;
  unsigned queues = 1;
  bool vnet = false;
  bool offload = false;
  bool split = false;
  bool split_copy = false;
  bool verify = false;
  tunkit::BatchBackend backend = tunkit::BatchBackend::automatic;
  unsigned long timeout_s = 0;
};

constexpr example::Program kProgram{"forwarder", kUsage, ""};
using example::UsageError;

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  std::vector<std::string_view> names;
  for (example::Args args(argc, argv); !args.done();) {
    const std::string_view a = args.next();
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "-q" || a == "--queues") {
      const unsigned long q = args.number(a);
      if (q < 1 || q > tunkit::max_queues) throw UsageError{"--queues must be 1..256"};
      cfg.queues = static_cast<unsigned>(q);
    } else if (a == "--vnet") {
      cfg.vnet = true;
    } else if (a == "--offload") {
      cfg.vnet = true;
      cfg.offload = true;
    } else if (a == "--split" || a == "--split-copy") {
      cfg.vnet = true;
      cfg.offload = true;
      cfg.split = true;
      cfg.split_copy = a == "--split-copy";
    } else if (a == "--verify") {
      cfg.verify = true;
    } else if (a == "--backend") {
      const std::string_view b = args.value(a);
      if (b == "loop") {
        cfg.backend = tunkit::BatchBackend::loop;
      } else if (b == "uring") {
        cfg.backend = tunkit::BatchBackend::uring;
      } else if (b == "auto") {
        cfg.backend = tunkit::BatchBackend::automatic;
      } else {
        throw UsageError{fmt::format("--backend: \"{}\" is not loop, uring or auto", b)};
      }
    } else if (a == "-t" || a == "--timeout") {
      cfg.timeout_s = args.number(a);
    } else if (a.starts_with('-')) {
      example::Args::unknown(a);
    } else {
      names.push_back(a);
    }
  }
  if (names.size() != 2) throw UsageError{"expected two device names, A and B"};
  if (cfg.verify && !cfg.split) throw UsageError{"--verify needs --split"};
  if (names[0] == names[1]) throw UsageError{"A and B must be two different devices"};
  cfg.a = names[0];
  cfg.b = names[1];
  return cfg;
}

// Attaches `queues` queues to the existing TUN device `name` with its own flags (plus the vnet
// header when asked for).
tunkit::TunDevice attach(const std::string& name, const Config& cfg) {
  const auto info = tunkit::find_tun_device(name);
  if (!info) {
    throw std::runtime_error(fmt::format(
        "no TUN device \"{}\": create it first (ip tuntap add dev {} mode tun)", name, name));
  }
  if (cfg.queues > 1 && !info->multi_queue) {
    throw std::runtime_error(fmt::format(
        "--queues {} needs a multi-queue device; \"{}\" is not (ip tuntap add ... multi_queue)",
        cfg.queues, name));
  }
  tunkit::Options options = info->attach_options();
  options.vnet_hdr = options.vnet_hdr || cfg.vnet;
  options.queues = cfg.queues;
  options.non_blocking = false;  // read_batch waits (in poll, interruptibly) for the first packet
  return tunkit::TunDevice(options);
}

/// What one direction of one queue moved.
struct Stats {
  std::uint64_t packets = 0;  // read
  std::uint64_t bytes = 0;    // read
  std::uint64_t largest = 0;  // the largest packet read (with its vnet header): > MTU with offloads
  // Packets the forwarder read and could not pass on, by cause (their sum is "dropped"):
  std::uint64_t down = 0;      // the other device was not up: the kernel refuses the write (EIO)
  std::uint64_t refused = 0;   // the other device refused it otherwise (an invalid header, ...)
  std::uint64_t too_long = 0;  // longer than a slot (64 KiB and the vnet header)
  std::uint64_t unsplit = 0;   // --split: not a packet gso_split or the Coalescer could handle
  std::string first_down;      // the first packet dropped while the other device was down
  std::uint64_t segments = 0;  // --split: MTU-sized packets cut from what was read
  std::uint64_t writes = 0;    // packets written (super-packets count once)
  std::uint64_t batches = 0;   // read_batch calls that returned packets
  std::string error;           // why the direction stopped, when not by a signal
};

bool device_gone(std::error_code ec) {
  return ec == std::errc::bad_file_descriptor ||
         (ec.category() == std::system_category() && ec.value() == EBADFD);
}

// 64 KiB (the largest IP packet, and the largest super-packet the tun driver makes) plus room
// for the vnet header.
constexpr std::size_t kSlot = 65536 + 256;
constexpr std::size_t kBatch = 64;      // packets per read_batch
constexpr std::size_t kSegments = 512;  // --split: segments coalesced per write batch
constexpr std::size_t kSegmentSize = 2048;

// What the forwarder dropped, in all.
std::uint64_t dropped(const Stats& s) {
  return s.down + s.refused + s.too_long + s.unsplit;
}

// Writes `packets` with `io`; a packet the other side refuses is dropped and the rest written.
// `packet_at(i)` is packet i as written (`vnet` bytes of virtio-net header first), for the log.
// Returns false when the device is gone.
template <typename Write, typename PacketAt>
bool write_all(std::size_t count, Write write, PacketAt packet_at, std::size_t vnet, Stats& stats,
               const std::string& name) {
  std::size_t off = 0;
  while (off < count) {
    std::error_code ec;
    const std::size_t w = write(off, ec);
    stats.writes += w;
    off += w;
    if (!ec) break;
    if (device_gone(ec)) {
      stats.error = fmt::format("write to {}: {}", name, ec.message());
      return false;
    }
    if (ec == tunkit::errc::interrupted) return false;
    if (ec.category() == std::system_category() && ec.value() == EIO) {
      // tun_get_user() refuses every write while the device is not up. Typically the IPv6
      // router solicitation (or MLD report) one device sends as it comes up, before the other
      // one is up: it is named in the report.
      if (stats.down++ == 0) {
        const auto packet = packet_at(off);
        stats.first_down =
            fmt::format("{}", tunkit::parse_ip(packet.subspan(std::min(vnet, packet.size()))));
      }
    } else {
      ++stats.refused;
    }
    ++off;
  }
  return true;
}

// The most header bytes of one segment (IPv4 or IPv6 with extension headers, TCP with options).
constexpr std::size_t kSegmentHeaders = 256;

// The --split path's state: segments cut from super-packets, then coalesced into writes.
// Zero-copy (the default): segments are views (headers in `headers`, payloads in the read
// batch's buffers) and the writes gather lists over them. Copying (--split-copy): segments are
// copied into `storage` and the writes built whole in `arena`.
struct Splitter {
  Splitter(std::size_t hdr_size, tunkit::Offloads granted, bool copy_forms, bool verify)
      : header_size(hdr_size),
        copy(copy_forms),
        checksum(copy_forms || verify ? tunkit::SegmentChecksum::full
                                      : tunkit::SegmentChecksum::partial),
        gro(tunkit::CoalescerOptions{
            .max_batch = kSegments,
            .header_size = hdr_size,
            .tcp = granted.has(tunkit::Offload::tso4) || granted.has(tunkit::Offload::tso6),
            .udp = granted.has(tunkit::Offload::uso4) || granted.has(tunkit::Offload::uso6),
            // The copying form as tunkit 0.1's forwarder: every segment checked again.
            .verify_checksums = copy_forms || verify}) {
    if (copy) {
      storage.resize(kSegments * kSegmentSize);
      out.resize(kSegments);
      sizes.resize(kSegments);
      segments.resize(kSegments);
      arena.resize(tunkit::Coalescer::arena_size(kSegments * kSegmentSize, kSegments, hdr_size));
      writes.resize(kSegments);
      spans.resize(kSegments);
      for (std::size_t i = 0; i < kSegments; ++i)
        out[i] = std::span(storage).subspan(i * kSegmentSize, kSegmentSize);
    } else {
      headers.resize(kSegments * kSegmentHeaders);
      views.resize(kSegments);
      parts.resize(kSegments);
      gather_arena.resize(tunkit::Coalescer::gather_arena_size(kSegments, hdr_size));
      pieces.resize(tunkit::Coalescer::gather_pieces(kSegments));
      gathered.resize(kSegments);
      lists.resize(kSegments);
    }
  }
  std::size_t header_size;
  bool copy;
  // The segments' transport checksums: only the pseudo-header sum (the payload not read) where
  // every segment leaves through the gathering Coalescer to a vnet device, which writes each one,
  // merged or alone, with NEEDS_CSUM so that the kernel completes it. Full with --verify (a
  // partial checksum has nothing to verify) and in the copying forms.
  tunkit::SegmentChecksum checksum;
  tunkit::Coalescer gro;
  std::size_t used = 0;  // segments held
  // Zero-copy:
  std::vector<std::byte> headers;  // the segments' headers
  std::size_t headers_used = 0;
  std::vector<tunkit::SegmentView> views;
  std::vector<tunkit::PacketParts> parts;
  std::vector<std::byte> gather_arena;
  std::vector<std::span<const std::byte>> pieces;
  std::vector<tunkit::GatheredPacket> gathered;
  std::vector<std::span<const std::span<const std::byte>>> lists;
  std::array<std::byte, 256> first_bytes{};  // the start of a dropped write, for the report
  // Copying:
  std::vector<std::byte> storage;
  std::vector<std::span<std::byte>> out;
  std::vector<std::size_t> sizes;
  std::vector<std::span<const std::byte>> segments;
  std::vector<std::byte> arena;
  std::vector<tunkit::CoalescedPacket> writes;
  std::vector<std::span<const std::byte>> spans;

  // Whether the next super-packet's segments may not fit (65535 / 8-byte UDP payloads at
  // worst): flush early rather than fail.
  [[nodiscard]] bool nearly_full() const noexcept {
    return used + 64 > kSegments || (!copy && headers_used + 64 * kSegmentHeaders > headers.size());
  }

  // Cuts one packet read from the device (vnet header first) into segments; false: dropped.
  bool split(std::span<const std::byte> packet, Stats& stats) {
    const auto hdr = tunkit::VirtioNetHeader::parse(packet, header_size);
    if (!hdr) return false;
    const auto ip = packet.subspan(header_size);
    if (copy) {
      const auto n =
          tunkit::gso_split(*hdr, ip, std::span(out).subspan(used), std::span(sizes).subspan(used));
      if (!n) return false;
      for (std::size_t i = 0; i < *n; ++i)
        segments[used + i] = out[used + i].first(sizes[used + i]);
      used += *n;
      stats.segments += *n;
      return true;
    }
    const auto n = tunkit::gso_split_views(*hdr, ip, std::span(headers).subspan(headers_used),
                                           std::span(views).subspan(used), checksum);
    if (!n) return false;
    for (std::size_t i = 0; i < *n; ++i) {
      const tunkit::SegmentView& v = views[used + i];
      parts[used + i] = {v.headers, v.payload, v.partial_checksum};
      headers_used += v.headers.size();
    }
    used += *n;
    stats.segments += *n;
    return true;
  }

  // Coalesces the segments held and writes them; false when the device is gone.
  bool flush(tunkit::BatchIo& io, Stats& stats, const std::string& name) {
    if (used == 0) return true;
    const std::size_t held = used;
    used = 0;
    headers_used = 0;
    if (copy) {
      const auto n = gro.coalesce(std::span(segments).first(held), arena, writes);
      if (!n) {
        ++stats.unsplit;
        return true;
      }
      for (std::size_t i = 0; i < *n; ++i)
        spans[i] = writes[i].bytes;
      return write_all(
          *n,
          [&](std::size_t off, std::error_code& ec) {
            return io.write_packets(std::span(spans).subspan(off, *n - off), ec);
          },
          [&](std::size_t i) { return spans[i]; }, header_size, stats, name);
    }
    const auto n = gro.coalesce(std::span<const tunkit::PacketParts>(parts).first(held),
                                gather_arena, pieces, gathered);
    if (!n) {
      ++stats.unsplit;
      return true;
    }
    for (std::size_t i = 0; i < *n; ++i)
      lists[i] = gathered[i].pieces;
    return write_all(
        *n,
        [&](std::size_t off, std::error_code& ec) {
          return io.write_gathered(std::span(lists).subspan(off, *n - off), ec);
        },
        [&](std::size_t i) { return start_of(gathered[i]); }, header_size, stats, name);
  }

  // The first bytes of a gathered write, joined (only for the report of a dropped one).
  std::span<const std::byte> start_of(const tunkit::GatheredPacket& g) {
    std::size_t got = 0;
    for (const auto& piece : g.pieces) {
      const std::size_t n = std::min(piece.size(), first_bytes.size() - got);
      std::copy_n(piece.begin(), n, first_bytes.begin() + static_cast<std::ptrdiff_t>(got));
      got += n;
    }
    return std::span(first_bytes).first(got);
  }
};

// Moves packets from `in` to `out` until interrupted.
// `vnet`: the size of the virtio-net header before each packet (0 without one).
void pump(tunkit::Queue& in, tunkit::Queue& out, const Config& cfg, tunkit::Offloads granted,
          std::size_t vnet, Stats& stats) {
  tunkit::BatchIo reader(in, {.backend = cfg.backend, .max_packets = kBatch});
  tunkit::BatchIo writer(out, {.backend = cfg.backend, .max_packets = kSegments});
  tunkit::PacketBuffers buffers(kBatch, kSlot);
  tunkit::PacketBatch& batch = buffers.batch();
  std::optional<Splitter> splitter;
  if (cfg.split) {
    splitter.emplace(tunkit::VirtioNetHeader::legacy_size, granted, cfg.split_copy, cfg.verify);
  }
  while (!example::stop_requested()) {
    std::error_code ec;
    const std::size_t n = reader.read_batch(batch, ec);
    stats.too_long += reader.truncated();
    if (ec == tunkit::errc::interrupted) return;
    if (ec == tunkit::errc::packet_truncated) continue;
    if (ec) {
      stats.error = fmt::format("read from {}: {}", in.name(), ec.message());
      return;
    }
    for (std::size_t i = 0; i < n; ++i) {
      stats.bytes += batch.length(i);
      stats.largest = std::max<std::uint64_t>(stats.largest, batch.length(i));
    }
    stats.packets += n;
    ++stats.batches;
    if (!splitter) {
      // The packets (and their vnet headers) go through unchanged, one batch each way.
      if (!write_all(
              n,
              [&](std::size_t off, std::error_code& e) {
                return writer.write_batch(batch.tail(off), e);
              },
              [&](std::size_t i) { return std::span<const std::byte>(batch.packet(i)); }, vnet,
              stats, out.name())) {
        return;
      }
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (splitter->nearly_full() && !splitter->flush(writer, stats, out.name())) return;
      if (!splitter->split(batch.packet(i), stats)) ++stats.unsplit;
    }
    if (!splitter->flush(writer, stats, out.name())) return;
  }
}

// pump, with its set-up failures (no io_uring, no memory) reported as the direction's error.
void run_pump(tunkit::Queue& in, tunkit::Queue& out, const Config& cfg, tunkit::Offloads granted,
              std::size_t vnet, Stats& stats) {
  try {
    pump(in, out, cfg, granted, vnet, stats);
  } catch (const std::exception& e) {
    stats.error = e.what();
  }
}

int run(const Config& cfg) {
  tunkit::TunDevice a = attach(cfg.a, cfg);
  tunkit::TunDevice b = attach(cfg.b, cfg);
  if (a.mode() != b.mode()) throw std::runtime_error("A and B must both be TUN (or both TAP)");
  const bool vnet = a.flags().has(tunkit::Flag::vnet_hdr);
  if (vnet && a.vnet_header_size() != b.vnet_header_size()) {
    b.set_vnet_header_size(a.vnet_header_size());  // headers pass through: same layout both sides
  }
  std::string offload = "off";
  tunkit::Offloads granted;
  if (cfg.offload) {
    // With checksum and TSO/USO offloads the kernel hands over (and accepts) 64 KiB
    // super-packets described by the virtio-net header instead of MTU-sized ones. set_offloads
    // drops what an older kernel refuses (USO before 6.2) and returns what was granted.
    using tunkit::Offload;
    const tunkit::Offloads wanted =
        Offload::csum | Offload::tso4 | Offload::tso6 | Offload::uso4 | Offload::uso6;
    granted = a.set_offloads(wanted) & b.set_offloads(wanted);
    offload = tunkit::to_string(granted);
  }

  // SIGINT/SIGTERM (and a broken direction, and the timeout) interrupt both devices: every
  // thread's wait returns.
  const example::StopOnSignal stop_on_signal(a, &b);
  // The kernel's own drop counters at the start: the report gives what changed while it ran.
  const auto a_stats = example::device_stats(a);
  const auto b_stats = example::device_stats(b);

  const std::size_t queues = a.queue_count();
  const std::size_t vnet_size = vnet ? static_cast<std::size_t>(a.vnet_header_size()) : 0;
  std::vector<Stats> a_to_b(queues);
  std::vector<Stats> b_to_a(queues);
  std::vector<std::thread> threads;
  for (std::size_t q = 0; q < queues; ++q) {
    threads.emplace_back([&, q] {
      run_pump(a.queue(q), b.queue(q), cfg, granted, vnet_size, a_to_b[q]);
      if (!a_to_b[q].error.empty()) example::request_stop();  // a broken direction ends it all
    });
    threads.emplace_back([&, q] {
      run_pump(b.queue(q), a.queue(q), cfg, granted, vnet_size, b_to_a[q]);
      if (!b_to_a[q].error.empty()) example::request_stop();
    });
  }
  // The backend the threads will use (they open their own BatchIo; all get the same answer).
  const tunkit::BatchBackend backend =
      tunkit::BatchIo(a.queue(0), {.backend = cfg.backend}).backend();
  fmt::print("ready: {} {} queues {} vnet {} offload {} backend {} split {}\n", a.name(), b.name(),
             queues, vnet ? "on" : "off", offload, tunkit::to_string(backend),
             !cfg.split       ? "off"
             : cfg.split_copy ? "copy"
             : cfg.verify     ? "on verify"
                              : "on");
  std::fflush(stdout);

  if (cfg.timeout_s != 0) example::stop_at(example::Deadline(std::chrono::seconds(cfg.timeout_s)));
  for (auto& t : threads)
    t.join();
  const auto a_drops = example::drops_between(a_stats, example::device_stats(a));
  const auto b_drops = example::drops_between(b_stats, example::device_stats(b));

  int status = 0;
  auto report = [&](const std::string& from, const std::string& to, const std::vector<Stats>& s) {
    Stats total;
    for (const auto& x : s) {
      total.packets += x.packets;
      total.bytes += x.bytes;
      total.down += x.down;
      total.refused += x.refused;
      total.too_long += x.too_long;
      total.unsplit += x.unsplit;
      if (total.first_down.empty()) total.first_down = x.first_down;
      total.largest = std::max(total.largest, x.largest);
      total.writes += x.writes;
      total.segments += x.segments;
      total.batches += x.batches;
      if (!x.error.empty()) {
        fmt::print(stderr, "forwarder: {}\n", x.error);
        status = 1;
      }
    }
    fmt::print("{} -> {}: {} packets, {} bytes, largest {}, dropped {}\n", from, to, total.packets,
               total.bytes, total.largest, dropped(total));
    fmt::print("{} -> {}: {} writes, {} segments, {} read batches\n", from, to, total.writes,
               total.segments, total.batches);
    if (dropped(total) != 0) {
      // What each drop was: the counts, and the first packet that met a device not yet up.
      fmt::print(
          "{} -> {}: dropped {} while {} was down (the kernel refuses writes then: EIO){}, {} "
          "refused by {}, {} too long, {} not splittable\n",
          from, to, total.down, to,
          total.first_down.empty() ? "" : fmt::format(", the first: {}", total.first_down),
          total.refused, to, total.too_long, total.unsplit);
    }
  };
  report(a.name(), b.name(), a_to_b);
  report(b.name(), a.name(), b_to_a);
  // What the kernel dropped itself, which the counts above cannot see.
  fmt::print("kernel: {}\n", example::describe_drops(a.name(), "the forwarder", a_drops));
  fmt::print("kernel: {}\n", example::describe_drops(b.name(), "the forwarder", b_drops));
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main(kProgram, argc, argv, parse_args, [](Config& cfg) {
    // io_uring asked for but unavailable (not built in, refused by the kernel): the loop instead.
    if (cfg.backend == tunkit::BatchBackend::uring && !tunkit::BatchIo::uring_available()) {
      fmt::print(stderr, "forwarder: io_uring is unavailable here: using the loop backend\n");
      cfg.backend = tunkit::BatchBackend::loop;
    }
    return run(cfg);
  });
}
