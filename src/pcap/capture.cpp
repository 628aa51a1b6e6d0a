// tunkit::pcap capture files: the classic pcap format, written and read by tunkit itself.
//
// Why not libpcap's pcap_dump_open/pcap_dump: pcap_dump returns nothing and ignores a failed
// fwrite, so a full disk would go unnoticed until pcap_dump_flush, and the record that failed
// would not be known; pcap_open_offline reports a truncated file as text without the record
// number or offset. The format is two fixed headers (24 bytes per file, 16 per record), so
// tunkit writes and reads it directly and reports every failure with its errno, the file and
// the place in it.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "tunkit/error.hpp"
#include "tunkit/pcap.hpp"

namespace tunkit::pcap {
namespace {

constexpr std::uint32_t pcap_magic_us = 0xa1b2c3d4;
constexpr std::uint32_t pcap_magic_ns = 0xa1b23c4d;
constexpr std::uint32_t pcapng_magic = 0x0a0d0d0a;
constexpr std::size_t pcap_file_header_size = 24;
constexpr std::size_t pcap_record_header_size = 16;
// The largest record tunkit accepts whatever the file's snaplen says (libpcap's bound for most
// link types): a larger length is a damaged file, not a packet, and is not allocated.
constexpr std::uint32_t pcap_max_record = 262144;

std::error_code pcap_errno_or(int fallback) {
  const int e = errno;
  return {e != 0 ? e : fallback, std::system_category()};
}

void pcap_put32(std::byte* out, std::uint32_t v) {
  std::memcpy(out, &v, sizeof v);
}
void pcap_put16(std::byte* out, std::uint16_t v) {
  std::memcpy(out, &v, sizeof v);
}
std::uint32_t pcap_get32(const std::byte* in, bool swapped) {
  std::uint32_t v = 0;
  std::memcpy(&v, in, sizeof v);
  return swapped ? __builtin_bswap32(v) : v;
}
std::uint16_t pcap_get16(const std::byte* in, bool swapped) {
  std::uint16_t v = 0;
  std::memcpy(&v, in, sizeof v);
  return swapped ? __builtin_bswap16(v) : v;
}

}  // namespace

// ---- Writer ----

Writer Writer::create(const std::filesystem::path& path, WriterOptions options,
                      std::error_code& ec) noexcept {
  ec.clear();
  Writer w;
  if (options.snaplen == 0) {
    ec = errc::out_of_range;
    return w;
  }
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "wbe");
  if (f == nullptr) {
    ec = pcap_errno_or(EIO);
    return w;
  }
  std::array<std::byte, pcap_file_header_size> h{};
  pcap_put32(&h[0], options.precision == Precision::nanoseconds ? pcap_magic_ns : pcap_magic_us);
  pcap_put16(&h[4], 2);  // version 2.4
  pcap_put16(&h[6], 4);
  // thiszone and sigfigs: 0, as every writer since libpcap 0.4 sets them
  pcap_put32(&h[16], options.snaplen);
  pcap_put32(&h[20], static_cast<std::uint32_t>(options.link));
  errno = 0;
  if (std::fwrite(h.data(), 1, h.size(), f) != h.size()) {
    ec = pcap_errno_or(EIO);
    std::fclose(f);
    return w;
  }
  try {
    w.path_ = path;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    std::fclose(f);
    return w;
  }
  w.file_ = f;
  w.options_ = options;
  return w;
}

Writer::Writer(const std::filesystem::path& path, WriterOptions options) {
  std::error_code ec;
  *this = create(path, options, ec);
  if (ec) throw make_error(ec, "create capture", path.string());
}

Writer::~Writer() {
  if (file_ != nullptr) std::fclose(file_);
}

Writer::Writer(Writer&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)),
      path_(std::move(other.path_)),
      options_(other.options_),
      packets_(std::exchange(other.packets_, 0)),
      failed_(std::exchange(other.failed_, {})) {
  other.path_.clear();
}

Writer& Writer::operator=(Writer&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
    other.path_.clear();
    options_ = other.options_;
    packets_ = std::exchange(other.packets_, 0);
    failed_ = std::exchange(other.failed_, {});
  }
  return *this;
}

void Writer::write(std::span<const std::byte> packet, Timestamp time,
                   std::error_code& ec) noexcept {
  ec.clear();
  if (file_ == nullptr) {
    ec = errc::not_open;
    return;
  }
  if (failed_) {
    ec = failed_;
    return;
  }
  const auto since_epoch = time.time_since_epoch();
  if (packet.size() > 0xffffffffU || since_epoch.count() < 0 ||
      std::chrono::floor<std::chrono::seconds>(since_epoch).count() > 0xffffffffLL) {
    ec = errc::out_of_range;
    return;
  }
  const auto secs = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto frac_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs);
  const auto frac =
      options_.precision == Precision::nanoseconds ? frac_ns.count() : frac_ns.count() / 1000;
  const auto caplen =
      static_cast<std::uint32_t>(std::min<std::size_t>(packet.size(), options_.snaplen));
  std::array<std::byte, pcap_record_header_size> h{};
  pcap_put32(&h[0], static_cast<std::uint32_t>(secs.count()));
  pcap_put32(&h[4], static_cast<std::uint32_t>(frac));
  pcap_put32(&h[8], caplen);
  pcap_put32(&h[12], static_cast<std::uint32_t>(packet.size()));
  errno = 0;
  if (std::fwrite(h.data(), 1, h.size(), file_) != h.size() ||
      std::fwrite(packet.data(), 1, caplen, file_) != caplen) {
    ec = failed_ = pcap_errno_or(EIO);
    return;
  }
  ++packets_;
}

void Writer::write(std::span<const std::byte> packet, Timestamp time) {
  std::error_code ec;
  write(packet, time, ec);
  if (ec) throw make_error(ec, "write capture", path_.string());
}

void Writer::write(std::span<const std::byte> packet) {
  write(packet,
        std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now()));
}

void Writer::flush(std::error_code& ec) noexcept {
  ec.clear();
  if (file_ == nullptr) {
    ec = errc::not_open;
    return;
  }
  if (failed_) {
    ec = failed_;
    return;
  }
  errno = 0;
  if (std::fflush(file_) != 0) ec = failed_ = pcap_errno_or(EIO);
}

void Writer::flush() {
  std::error_code ec;
  flush(ec);
  if (ec) throw make_error(ec, "flush capture", path_.string());
}

void Writer::close(std::error_code& ec) noexcept {
  ec.clear();
  if (file_ == nullptr) return;
  errno = 0;
  const bool flushed = !failed_ && std::fflush(file_) == 0;
  if (!flushed && !failed_) failed_ = pcap_errno_or(EIO);
  errno = 0;
  if (std::fclose(std::exchange(file_, nullptr)) != 0 && !failed_) failed_ = pcap_errno_or(EIO);
  ec = std::exchange(failed_, {});
}

void Writer::close() {
  std::error_code ec;
  close(ec);
  if (ec) throw make_error(ec, "close capture", path_.string());
}

// ---- Reader ----

std::error_code Reader::read_header(std::string& detail) {
  std::array<std::byte, pcap_file_header_size> h{};
  errno = 0;
  const std::size_t got = std::fread(h.data(), 1, h.size(), file_);
  if (got != h.size()) {
    if (std::ferror(file_) != 0) return pcap_errno_or(EIO);
    detail = got == 0 ? std::string("empty file, no pcap file header")
                      : fmt::format("file header cut after {} of {} bytes", got, h.size());
    return errc::malformed_capture;
  }
  std::uint32_t magic = pcap_get32(h.data(), false);
  if (magic == pcap_magic_us || magic == pcap_magic_ns) {
    swapped_ = false;
  } else if (__builtin_bswap32(magic) == pcap_magic_us ||
             __builtin_bswap32(magic) == pcap_magic_ns) {
    swapped_ = true;
    magic = __builtin_bswap32(magic);
  } else if (magic == pcapng_magic) {
    detail = "a pcapng file; tunkit reads the classic pcap format (convert with editcap -F pcap)";
    return errc::malformed_capture;
  } else {
    detail = fmt::format("not a pcap file: magic 0x{:08x} at offset 0", magic);
    return errc::malformed_capture;
  }
  precision_ = magic == pcap_magic_ns ? Precision::nanoseconds : Precision::microseconds;
  const std::uint16_t major = pcap_get16(&h[4], swapped_);
  const std::uint16_t minor = pcap_get16(&h[6], swapped_);
  if (major != 2) {
    detail = fmt::format("pcap version {}.{} not supported (2.x)", major, minor);
    return errc::malformed_capture;
  }
  snaplen_ = pcap_get32(&h[16], swapped_);
  // The low 16 bits are the link type; the upper ones may carry FCS information.
  const std::uint32_t link = pcap_get32(&h[20], swapped_) & 0xffffU;
  link_ = (link == 12 || link == 14) ? LinkType::raw : static_cast<LinkType>(link);
  offset_ = h.size();
  return {};
}

Reader Reader::open(const std::filesystem::path& path, std::error_code& ec) noexcept {
  ec.clear();
  Reader r;
  try {
    r.path_ = path;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return r;
  }
  errno = 0;
  r.file_ = std::fopen(path.c_str(), "rbe");
  if (r.file_ == nullptr) {
    ec = pcap_errno_or(EIO);
    return r;
  }
  std::string detail;
  try {
    ec = r.read_header(detail);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  if (ec) {
    std::fclose(std::exchange(r.file_, nullptr));
  }
  return r;
}

Reader::Reader(const std::filesystem::path& path) : path_(path) {
  errno = 0;
  file_ = std::fopen(path.c_str(), "rbe");
  if (file_ == nullptr) throw make_error(pcap_errno_or(EIO), "open capture", path.string());
  std::string detail;
  const std::error_code ec = read_header(detail);
  if (ec) {
    std::fclose(std::exchange(file_, nullptr));
    throw make_error(ec, "open capture", path.string(), detail);
  }
}

Reader::~Reader() {
  if (file_ != nullptr) std::fclose(file_);
}

Reader::Reader(Reader&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)),
      path_(std::move(other.path_)),
      link_(other.link_),
      snaplen_(other.snaplen_),
      precision_(other.precision_),
      swapped_(other.swapped_),
      packets_(std::exchange(other.packets_, 0)),
      offset_(std::exchange(other.offset_, 0)),
      failed_(std::exchange(other.failed_, {})),
      failure_(std::move(other.failure_)) {
  other.path_.clear();
}

Reader& Reader::operator=(Reader&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
    other.path_.clear();
    link_ = other.link_;
    snaplen_ = other.snaplen_;
    precision_ = other.precision_;
    swapped_ = other.swapped_;
    packets_ = std::exchange(other.packets_, 0);
    offset_ = std::exchange(other.offset_, 0);
    failed_ = std::exchange(other.failed_, {});
    failure_ = std::move(other.failure_);
  }
  return *this;
}

std::optional<Packet> Reader::read_record(std::error_code& ec, std::string& detail) {
  ec.clear();
  if (file_ == nullptr) {
    ec = errc::not_open;
    return std::nullopt;
  }
  if (failed_) {
    ec = failed_;
    detail = failure_;
    return std::nullopt;
  }
  auto p = read_one(ec, detail);
  if (ec) {
    failed_ = ec;
    failure_ = detail;
  }
  return p;
}

std::optional<Packet> Reader::read_one(std::error_code& ec, std::string& detail) {
  const std::uint64_t record = packets_ + 1;
  std::array<std::byte, pcap_record_header_size> h{};
  errno = 0;
  const std::size_t got = std::fread(h.data(), 1, h.size(), file_);
  if (got == 0 && std::feof(file_) != 0) return std::nullopt;  // the end, between two records
  if (got != h.size()) {
    if (std::ferror(file_) != 0) {
      ec = pcap_errno_or(EIO);
    } else {
      ec = errc::malformed_capture;
      detail = fmt::format("record {} at offset {}: header cut after {} of {} bytes", record,
                           offset_, got, h.size());
    }
    return std::nullopt;
  }
  const std::uint32_t secs = pcap_get32(&h[0], swapped_);
  const std::uint32_t frac = pcap_get32(&h[4], swapped_);
  const std::uint32_t caplen = pcap_get32(&h[8], swapped_);
  const std::uint32_t origlen = pcap_get32(&h[12], swapped_);
  if (caplen > std::max(snaplen_, pcap_max_record)) {
    ec = errc::malformed_capture;
    detail = fmt::format("record {} at offset {}: captured length {} larger than the snaplen {}",
                         record, offset_, caplen, snaplen_);
    return std::nullopt;
  }
  Packet p;
  p.data.resize(caplen);
  errno = 0;
  const std::size_t body = std::fread(p.data.data(), 1, caplen, file_);
  if (body != caplen) {
    if (std::ferror(file_) != 0) {
      ec = pcap_errno_or(EIO);
    } else {
      ec = errc::malformed_capture;
      detail = fmt::format("record {} at offset {}: data cut after {} of {} bytes", record, offset_,
                           body, caplen);
    }
    return std::nullopt;
  }
  const auto sub = precision_ == Precision::nanoseconds
                       ? std::chrono::nanoseconds(frac)
                       : std::chrono::nanoseconds(std::chrono::microseconds(frac));
  p.time = Timestamp(std::chrono::seconds(secs) + sub);
  p.original_length = std::max(origlen, caplen);
  offset_ += h.size() + caplen;
  ++packets_;
  return p;
}

std::optional<Packet> Reader::next(std::error_code& ec) noexcept {
  std::string detail;
  try {
    return read_record(ec, detail);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return std::nullopt;
  }
}

std::optional<Packet> Reader::next() {
  std::error_code ec;
  std::string detail;
  auto p = read_record(ec, detail);
  if (ec) throw make_error(ec, "read capture", path_.string(), detail);
  return p;
}

}  // namespace tunkit::pcap
