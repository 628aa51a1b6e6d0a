#pragma once
/// @file
/// tunkit::pcap (the optional component `tunkit::pcap`, built where libpcap is found): tcpdump's
/// filter expressions compiled into classic BPF programs for `TunDevice::attach_filter`, and
/// capture files in the classic pcap format that tcpdump and Wireshark read and write.
///
/// What the kernel runs the filter on, and where it can run (Linux 6.18, drivers/net/tun.c,
/// checked by tests/netns/pcap_netns_test.cpp):
/// - `TUNATTACHFILTER` is accepted for **TAP devices only**; a TUN device answers EINVAL
///   (`TunDevice::attach_filter` throws). In the kernel a TUN device takes only an eBPF filter:
///   `tunkit::EbpfFilter::load` (tunkit/ebpf.hpp) translates a program compiled for
///   `LinkType::raw` into one, for `TunDevice::set_filter_ebpf` (loading needs CAP_BPF). In user
///   space, `matches` tests each packet read.
/// - The program filters what the kernel hands to readers, never what they write. It is attached
///   to each enabled queue's socket (see docs/troubleshooting.md for queues enabled later) and run
///   in `tun_net_xmit`, on the socket buffer the stack hands to the device, before it is queued for
///   a reader. The packet it sees starts at the Ethernet header (TAP) or at the IP header (TUN):
///   the virtio-net header
///   (`IFF_VNET_HDR`) and the packet-information header (no `IFF_NO_PI`) are added later, when a
///   reader reads, so they never shift the filter's offsets. Compile for `LinkType::ethernet` for
///   a TAP device whatever its flags. The same holds for a capture: tunkit writes what the filter
///   sees, without those headers (strip them before `Writer::write`).
/// - A packet the filter rejects is dropped and counted in the device's `tx_dropped`
///   (`LinkStats`: from the interface's side the stack transmits what a reader reads). It is
///   dropped for every queue of the device: the program is device-wide, so attaching a filter for
///   one reader changes what every reader of the device receives.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/device.hpp"
#include "tunkit/pcap_export.hpp"

namespace tunkit::pcap {

/// The link type of a capture and of a filter program: what the first byte of a packet is. The
/// values are the pcap file format's LINKTYPE_ numbers; other values read from a file are kept.
enum class LinkType : std::uint32_t {
  ethernet = 1,  ///< LINKTYPE_ETHERNET (DLT_EN10MB): Ethernet frames, a TAP device's packets
  raw = 101,     ///< LINKTYPE_RAW (DLT_RAW): IPv4 or IPv6 packets, a TUN device's packets
};

/// Compiles a tcpdump filter expression (pcap-filter(7): `icmp or udp port 53`) with libpcap,
/// optimised, into a classic BPF program for packets of `link`, ready for
/// `TunDevice::attach_filter` (a TAP device: `LinkType::ethernet`) or `matches`. The program
/// accepts a packet by returning `snaplen` (the bytes to keep), rejects it by returning 0. The
/// netmask is unknown (PCAP_NETMASK_UNKNOWN): expressions that need it (`ip broadcast`) fail.
///
/// Thread-safe: libpcap's compiler is not reentrant before 1.8 (and tunkit does not know which
/// libpcap another part of the program links), so tunkit compiles under a process-wide mutex.
/// Code that calls `pcap_compile` itself, from other threads, is not covered by that mutex.
///
/// Throws `tunkit::Error` with code `errc::invalid_filter` and libpcap's own words when the
/// expression is invalid: `tunkit: compile filter "udp port": can't parse filter expression:
/// syntax error`; `LinkType` values other than `ethernet` and `raw` are `errc::invalid_filter`
/// too.
[[nodiscard]] TUNKIT_PCAP_EXPORT std::vector<BpfInstruction> compile_filter(
    std::string_view expression, LinkType link, std::uint32_t snaplen = 262144);
/// Non-throwing form: on failure `ec` is set (libpcap's text is then lost; use the throwing form
/// to show it) and the result is empty.
[[nodiscard]] TUNKIT_PCAP_EXPORT std::vector<BpfInstruction> compile_filter(
    std::string_view expression, LinkType link, std::uint32_t snaplen,
    std::error_code& ec) noexcept;

/// Runs `program` on `packet` in user space (libpcap's `bpf_filter`) and returns what the kernel
/// would: the number of bytes to keep, 0 for a rejected packet. `packet` is one packet of the
/// program's link type, without virtio-net or packet-information header. An empty or invalid
/// program rejects every packet.
[[nodiscard]] TUNKIT_PCAP_EXPORT std::uint32_t run_filter(
    std::span<const BpfInstruction> program, std::span<const std::byte> packet) noexcept;
/// Whether `program` accepts `packet` (`run_filter` is not 0): the user-space counterpart of
/// `TunDevice::attach_filter`, for a TUN device where loading an eBPF filter is not allowed.
[[nodiscard]] TUNKIT_PCAP_EXPORT bool matches(std::span<const BpfInstruction> program,
                                              std::span<const std::byte> packet) noexcept;

/// A packet's time: nanoseconds since the Unix epoch, as the capture file records it.
using Timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

/// The resolution of a capture file's timestamps.
enum class Precision {
  microseconds,  ///< magic 0xa1b2c3d4, what every reader accepts
  nanoseconds,   ///< magic 0xa1b23c4d (tcpdump --time-stamp-precision=nano, Wireshark)
};

/// How `Writer` makes a capture file.
struct WriterOptions {
  LinkType link = LinkType::raw;                  ///< raw for a TUN device, ethernet for a TAP one
  std::uint32_t snaplen = 262144;                 ///< longer packets are cut to this many bytes
  Precision precision = Precision::microseconds;  ///< timestamp resolution
};

/// Writes a capture file in the classic pcap format (the 24-byte file header, then a 16-byte
/// record header before each packet, in this machine's byte order), which `tcpdump -r`,
/// `tshark -r` and `Reader` read. Move-only; the destructor closes the file (and ignores a
/// failure then: call `close` to see it). Not thread-safe: one writer per thread.
///
/// Errors throw `tunkit::Error` naming the file: `tunkit: create capture "/x.pcap": permission
/// denied`, `tunkit: write capture "/x.pcap": no space left on device`. Data is buffered: a full
/// disk may show only at `flush` or `close`. After a failed write the file is in an unknown
/// state; later writes fail again with the same code.
class TUNKIT_PCAP_EXPORT Writer {
 public:
  /// A writer without a file (`is_open` is false); every write fails with `errc::not_open`.
  Writer() noexcept = default;
  /// Creates (or truncates) `path` (mode 0666 less the umask, as fopen) and writes the file
  /// header. A snaplen of 0 is `errc::out_of_range`.
  explicit Writer(const std::filesystem::path& path, WriterOptions options = {});
  /// Non-throwing form of the constructor: on failure `ec` is set and the writer is not open.
  [[nodiscard]] static Writer create(const std::filesystem::path& path, WriterOptions options,
                                     std::error_code& ec) noexcept;
  /// Closes the file; a failure to close is ignored (see `close`).
  ~Writer();
  /// Takes `other`'s file; `other` is left without one.
  Writer(Writer&& other) noexcept;
  /// Closes this writer's file (ignoring a failure), then takes `other`'s.
  Writer& operator=(Writer&& other) noexcept;
  Writer(const Writer&) = delete;             ///< move-only
  Writer& operator=(const Writer&) = delete;  ///< move-only

  /// Appends one packet with its time. A packet longer than the snaplen is cut to it; the record
  /// keeps its original length. Packets of 4 GiB or more are `errc::out_of_range`.
  void write(std::span<const std::byte> packet, Timestamp time);
  /// Non-throwing form: on failure `ec` is set.
  void write(std::span<const std::byte> packet, Timestamp time, std::error_code& ec) noexcept;
  /// Appends one packet stamped with the current time (`std::chrono::system_clock::now()`).
  void write(std::span<const std::byte> packet);
  /// Hands the buffered records to the kernel (fflush).
  void flush();
  /// Non-throwing form: on failure `ec` is set.
  void flush(std::error_code& ec) noexcept;
  /// Flushes and closes the file; the writer is then not open. Closing a writer that is not open
  /// does nothing.
  void close();
  /// Non-throwing form: on failure `ec` is set (the file is closed all the same).
  void close(std::error_code& ec) noexcept;

  /// Whether the writer has a file.
  [[nodiscard]] bool is_open() const noexcept { return file_ != nullptr; }
  /// The file's path as given (empty when not open).
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// The options the file was created with.
  [[nodiscard]] const WriterOptions& options() const noexcept { return options_; }
  /// The number of packets written so far.
  [[nodiscard]] std::uint64_t packets() const noexcept { return packets_; }

 private:
  std::FILE* file_ = nullptr;
  std::filesystem::path path_;
  WriterOptions options_;
  std::uint64_t packets_ = 0;
  std::error_code failed_;
};

/// One packet of a capture file.
struct Packet {
  std::vector<std::byte> data;        ///< the captured bytes (at most the file's snaplen)
  Timestamp time;                     ///< when it was captured
  std::uint32_t original_length = 0;  ///< its length on the wire (at least `data.size()`)
};

/// Reads a capture file in the classic pcap format, either byte order, microsecond or
/// nanosecond timestamps, for replay. Move-only; the destructor closes the file.
///
/// A file that is not a pcap capture (a pcapng file, a text file) or is cut short fails with
/// `errc::malformed_capture` and a message naming the file and where:
/// `tunkit: read capture "/x.pcap": malformed capture file (record 3 at offset 104: header cut
/// after 6 of 16 bytes)`. Errors of the file system carry the errno.
class TUNKIT_PCAP_EXPORT Reader {
 public:
  /// A reader without a file; `next` fails with `errc::not_open`.
  Reader() noexcept = default;
  /// Opens `path` and reads its file header.
  explicit Reader(const std::filesystem::path& path);
  /// Non-throwing form of the constructor: on failure `ec` is set and the reader is not open.
  [[nodiscard]] static Reader open(const std::filesystem::path& path, std::error_code& ec) noexcept;
  /// Closes the file.
  ~Reader();
  /// Takes `other`'s file; `other` is left without one.
  Reader(Reader&& other) noexcept;
  /// Closes this reader's file, then takes `other`'s.
  Reader& operator=(Reader&& other) noexcept;
  Reader(const Reader&) = delete;             ///< move-only
  Reader& operator=(const Reader&) = delete;  ///< move-only

  /// The next packet, or nothing at the end of the file (the end falls between two records).
  /// After a failure every later call fails the same way (a damaged file is not read past).
  [[nodiscard]] std::optional<Packet> next();
  /// Non-throwing form: on failure `ec` is set and the result is empty.
  [[nodiscard]] std::optional<Packet> next(std::error_code& ec) noexcept;

  /// Whether the reader has a file.
  [[nodiscard]] bool is_open() const noexcept { return file_ != nullptr; }
  /// The file's path as given.
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// The file's link type (the file header's LINKTYPE_ value; LINKTYPE_RAW also when written as
  /// DLT_RAW, 12 or 14).
  [[nodiscard]] LinkType link_type() const noexcept { return link_; }
  /// The file's snaplen.
  [[nodiscard]] std::uint32_t snaplen() const noexcept { return snaplen_; }
  /// The file's timestamp resolution.
  [[nodiscard]] Precision precision() const noexcept { return precision_; }
  /// The number of packets read so far.
  [[nodiscard]] std::uint64_t packets() const noexcept { return packets_; }

 private:
  std::error_code read_header(std::string& detail);
  std::optional<Packet> read_record(std::error_code& ec, std::string& detail);
  std::optional<Packet> read_one(std::error_code& ec, std::string& detail);

  std::FILE* file_ = nullptr;
  std::filesystem::path path_;
  LinkType link_ = LinkType::raw;
  std::uint32_t snaplen_ = 0;
  Precision precision_ = Precision::microseconds;
  bool swapped_ = false;
  std::uint64_t packets_ = 0;
  std::uint64_t offset_ = 0;
  std::error_code failed_;
  std::string failure_;
};

}  // namespace tunkit::pcap
