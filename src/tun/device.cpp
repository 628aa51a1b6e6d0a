#include "tunkit/device.hpp"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "tun/hints.hpp"
#include "tun/observed.hpp"
#include "tun/queue_access.hpp"
#include "tun/wake_table.hpp"
#include "tunkit/detail/tun_wire.hpp"
#include "tunkit/error.hpp"

namespace tunkit {

static_assert(sizeof(BpfInstruction) == sizeof(sock_filter));
static_assert(offsetof(BpfInstruction, k) == offsetof(sock_filter, k));

namespace {

using detail::retry_eintr;
using detail::sys_error;

// Options::queues outside 1..max_queues; the message says which count was asked.
bool bad_queue_count(const Options& options) noexcept {
  return options.queues == 0 || options.queues > max_queues;
}

}  // namespace

TunDevice::TunDevice(const Options& options, sys::Syscalls& sys) {
  open(options, sys);
}

TunDevice::TunDevice(std::initializer_list<Options> options, sys::Syscalls& sys) {
  if (options.size() > 1) {
    throw make_error(sys_error(EINVAL), "open", {}, "give one Options, or {} for the defaults");
  }
  open(options.size() == 1 ? *options.begin() : Options{}, sys);
}

void TunDevice::open(const Options& options, sys::Syscalls& sys) {
  if (bad_queue_count(options)) {
    throw make_error(
        sys_error(EINVAL), "open", detail::shown_name(options),
        fmt::format("Options::queues must be 1..{}, not {}", max_queues, options.queues));
  }
  if (const detail::Failure f = open_impl(options, sys)) {
    // The message names the device as opened so far; close it after the message is made.
    struct CloseOnExit {
      TunDevice& device;
      ~CloseOnExit() { device.close(); }
    } closer{*this};
    detail::raise(f);
  }
}

void TunDevice::open(const Options& options, std::error_code& ec, sys::Syscalls& sys) {
  ec = open_impl(options, sys).code;
  if (ec) close();
}

// Every step after the first queue is undone by the caller's close(): persist is set last, so
// the kernel deletes a device this call created when a later step fails.
detail::Failure TunDevice::open_impl(const Options& options, sys::Syscalls& sys) noexcept {
  close();
  if (bad_queue_count(options)) return {sys_error(EINVAL), "open", detail::shown_name(options)};
  try {
    options_ = options;
  } catch (...) {
    return {sys_error(ENOMEM), "open", detail::shown_name(options)};
  }
  if (!wake_ || wake_->sys() != &sys) {
    wake_.reset(new (std::nothrow) detail::WakeTable(sys));
    if (!wake_) return {sys_error(ENOMEM), "open", detail::shown_name(options)};
  }
  if (auto f = detail::QueueAccess::open(first_, options, sys)) return f;
  wake_->set(0, detail::QueueAccess::wake_fd(first_));
  vnet_ = detail::QueueAccess::vnet(first_);

  auto fail = [&](std::error_code e, std::string_view op, std::string_view hint) {
    return detail::Failure{e, op, first_.name(), hint};
  };
  if (options.owner) {
    if (auto ec = ioctl_value(TUNSETOWNER, *options.owner)) {
      return fail(ec, "TUNSETOWNER", detail::owner_hint(ec));
    }
  }
  if (options.group) {
    if (auto ec = ioctl_value(TUNSETGROUP, *options.group)) {
      return fail(ec, "TUNSETGROUP", detail::owner_hint(ec));
    }
  }
  for (unsigned i = 1; i < options.queues; ++i) {
    // The queue's own failure names the step that failed.
    if (auto f = add_queue_impl(); f.code) return f;
  }
  // Offloads are per device: set what was asked. Unasked, a reader with a virtio-net header
  // leaves them as the device's other users set them; one without resets them to none, since
  // the device then has no header (a mismatch was refused above) and offloads would hand every
  // reader super-packets or partial checksums it cannot recognise.
  const std::optional<Offloads> offloads =
      options.offloads ? options.offloads
                       : (options.vnet_hdr ? std::nullopt : std::optional<Offloads>(Offloads{}));
  if (offloads) {
    std::error_code ec;
    (void)set_offloads(*offloads, ec);
    if (ec) return fail(ec, "TUNSETOFFLOAD", detail::offload_problem(*offloads, options.vnet_hdr));
  }
  if (options.persist) {
    if (auto ec = ioctl_value(TUNSETPERSIST, 1)) {
      return fail(ec, "TUNSETPERSIST", detail::cap_hint(ec));
    }
  }
  return {};
}

TunDevice::TunDevice() noexcept = default;
TunDevice::TunDevice(TunDevice&& other) noexcept = default;
TunDevice& TunDevice::operator=(TunDevice&& other) noexcept = default;
TunDevice::~TunDevice() {
  close();
}

void TunDevice::close() noexcept {
  if (wake_) wake_->clear();  // before the eventfds close: interrupt() never writes to them again
  offloads_ = {};
  vnet_ = {};
  more_.clear();
  first_.close();
}

int TunDevice::release() noexcept {
  if (wake_) wake_->clear();
  more_.clear();
  return first_.release();
}

detail::Failure TunDevice::add_queue_impl() noexcept {
  auto refuse = [&](std::error_code e, std::string_view hint) {
    return detail::Failure{e, "add queue", first_.name(), hint};
  };
  if (!first_.is_open()) return refuse(errc::not_open, {});
  // The kernel would answer EBUSY, as if another process held the device.
  if (!options_.multi_queue && options_.queues <= 1) {
    return refuse(sys_error(EINVAL), "the device was opened without Options::multi_queue");
  }
  if (queue_count() >= max_queues) {
    return refuse(sys_error(E2BIG), detail::setiff_hint(E2BIG, options_));
  }
  Options o;
  try {
    o = options_;
    o.name = first_.name();  // the resolved name, not the template
    o.exclusive = false;
    o.ifindex.reset();  // only the queue that creates the device picks its index
    more_.emplace_back();
  } catch (...) {
    return refuse(sys_error(ENOMEM), {});
  }
  Queue& q = more_.back();
  if (auto f = detail::QueueAccess::open(q, o, detail::QueueAccess::sys(first_))) {
    more_.pop_back();
    f.device = first_.name();  // the same name as `o`'s, which ends with this call
    return f;
  }
  // The device's virtio-net header (TUNSETVNETHDRSZ, TUNSETVNETBE) applies to the new queue too.
  detail::QueueAccess::set_vnet(q, vnet_);
  wake_->set(more_.size(), detail::QueueAccess::wake_fd(q));
  return {};
}

Queue* TunDevice::add_queue(std::error_code& ec) noexcept {
  ec = add_queue_impl().code;
  return ec ? nullptr : &more_.back();
}

Queue& TunDevice::add_queue() {
  if (const detail::Failure f = add_queue_impl()) detail::raise(f);
  return more_.back();
}

void TunDevice::interrupt() noexcept {
  if (wake_) wake_->interrupt();
}

void TunDevice::clear_interrupt() noexcept {
  if (wake_) wake_->clear_interrupt();
}

int TunDevice::control_fd() const noexcept {
  // A disabled queue answers device-wide ioctls too, but per-queue state differs: TUNGETSNDBUF
  // reads the queue's own buffer, and TUNSETSNDBUF / TUNATTACHFILTER reach only enabled queues.
  if (first_.is_open() && first_.enabled()) return first_.native_handle();
  for (const auto& q : more_) {
    if (q.is_open() && q.enabled()) return q.native_handle();
  }
  return first_.native_handle();  // all disabled (or closed: -1)
}

void TunDevice::apply_vnet() noexcept {
  detail::QueueAccess::set_vnet(first_, vnet_);
  for (auto& q : more_)
    detail::QueueAccess::set_vnet(q, vnet_);
}

std::error_code TunDevice::ioctl_ptr(unsigned long request, void* arg) const noexcept {
  const int fd = control_fd();
  if (fd < 0) return errc::not_open;
  if (int r = retry_eintr([&] { return detail::QueueAccess::sys(first_).ioctl(fd, request, arg); });
      r < 0) {
    return detail::observed_cause(detail::QueueAccess::sys(first_), fd, sys_error(-r));
  }
  return {};
}

std::error_code TunDevice::ioctl_value(unsigned long request, unsigned long value) const noexcept {
  return ioctl_ptr(request, detail::int_arg(value));
}

void TunDevice::fail(std::error_code ec, const char* op, std::string_view hint) const {
  detail::raise({ec, op, first_.name(), detail::gone_or(ec, hint)});
}

// --- device-wide settings -----------------------------------------------------------------------

void TunDevice::set_persist(bool on, std::error_code& ec) noexcept {
  ec = ioctl_value(TUNSETPERSIST, on ? 1 : 0);
}
void TunDevice::set_persist(bool on) {
  std::error_code ec;
  set_persist(on, ec);
  if (ec) fail(ec, "TUNSETPERSIST", detail::cap_hint(ec));
}

void TunDevice::set_owner(uid_t uid, std::error_code& ec) noexcept {
  ec = ioctl_value(TUNSETOWNER, uid);
}
void TunDevice::set_owner(uid_t uid) {
  std::error_code ec;
  set_owner(uid, ec);
  if (ec) fail(ec, "TUNSETOWNER", detail::owner_hint(ec));
}

void TunDevice::set_group(gid_t gid, std::error_code& ec) noexcept {
  ec = ioctl_value(TUNSETGROUP, gid);
}
void TunDevice::set_group(gid_t gid) {
  std::error_code ec;
  set_group(gid, ec);
  if (ec) fail(ec, "TUNSETGROUP", detail::owner_hint(ec));
}

int TunDevice::send_buffer(std::error_code& ec) const noexcept {
  int bytes = 0;
  ec = ioctl_ptr(TUNGETSNDBUF, &bytes);
  return ec ? 0 : bytes;
}
int TunDevice::send_buffer() const {
  std::error_code ec;
  const int bytes = send_buffer(ec);
  if (ec) fail(ec, "TUNGETSNDBUF");
  return bytes;
}

void TunDevice::set_send_buffer(int bytes, std::error_code& ec) noexcept {
  ec = ioctl_ptr(TUNSETSNDBUF, &bytes);
}
void TunDevice::set_send_buffer(int bytes) {
  std::error_code ec;
  set_send_buffer(bytes, ec);
  if (ec) fail(ec, "TUNSETSNDBUF", detail::hint_for(ec, EINVAL, "the size must be positive"));
}

void TunDevice::set_tx_filter(std::span<const MacAddress> macs, bool all_multicast,
                              std::error_code& ec) noexcept {
  if (!detail::tx_filter_problem(macs).empty()) {
    ec = sys_error(EINVAL);
    return;
  }
  // The driver turns filtering off for a filter without addresses, whatever its flags: "any
  // multicast address" is the broadcast address (itself multicast) plus TUN_FLT_ALLMULTI.
  const MacAddress broadcast = MacAddress::broadcast();
  if (macs.empty() && all_multicast) macs = std::span(&broadcast, 1);
  // struct tun_filter { __u16 flags; __u16 count; __u8 addr[][ETH_ALEN]; } with the addresses
  // following the header: unicast ones first, so that they are among the exactly matched eight.
  tun_filter header{};
  header.flags = all_multicast ? TUN_FLT_ALLMULTI : 0;
  header.count = static_cast<__u16>(macs.size());
  const auto* header_bytes = reinterpret_cast<const std::uint8_t*>(&header);
  std::vector<std::uint8_t> buf;
  try {
    // Built from the header's bytes (not resized, then copied into): GCC's -Wnull-dereference
    // cannot see that a resized vector's data() is not null.
    buf.assign(header_bytes, header_bytes + sizeof header);
    buf.resize(sizeof header + macs.size() * 6);
  } catch (...) {
    ec = sys_error(ENOMEM);
    return;
  }
  std::size_t at = sizeof header;
  for (const bool multicast : {false, true}) {
    for (const auto& mac : macs) {
      if (mac.is_multicast() != multicast) continue;
      std::memcpy(buf.data() + at, mac.bytes.data(), mac.bytes.size());
      at += mac.bytes.size();
    }
  }
  ec = ioctl_ptr(TUNSETTXFILTER, buf.data());
}
void TunDevice::set_tx_filter(std::span<const MacAddress> macs, bool all_multicast) {
  std::error_code ec;
  set_tx_filter(macs, all_multicast, ec);
  if (ec) {
    const std::string_view problem = detail::tx_filter_problem(macs);
    fail(ec, "TUNSETTXFILTER",
         problem.empty() ? detail::hint_for(ec, EINVAL, "TAP devices only") : problem);
  }
}

void TunDevice::clear_tx_filter(std::error_code& ec) noexcept {
  // A filter with no addresses and no flags turns filtering off (tun's update_filter()).
  tun_filter header{};
  ec = ioctl_ptr(TUNSETTXFILTER, &header);
}
void TunDevice::clear_tx_filter() {
  std::error_code ec;
  clear_tx_filter(ec);
  if (ec) fail(ec, "TUNSETTXFILTER", detail::hint_for(ec, EINVAL, "TAP devices only"));
}

void TunDevice::attach_filter(std::span<const BpfInstruction> program,
                              std::error_code& ec) noexcept {
  if (program.empty() || program.size() > BPF_MAXINSNS) {
    ec = sys_error(EINVAL);
    return;
  }
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.size());
  // The kernel only reads the program; sock_fprog's pointer is non-const by its declaration.
  prog.filter = reinterpret_cast<sock_filter*>(const_cast<BpfInstruction*>(program.data()));
  ec = ioctl_ptr(TUNATTACHFILTER, &prog);
}
void TunDevice::attach_filter(std::span<const BpfInstruction> program) {
  std::error_code ec;
  attach_filter(program, ec);
  if (ec) {
    fail(ec, "TUNATTACHFILTER",
         detail::hint_for(ec, EINVAL,
                          "TAP devices only, with a valid program of 1 to 4096 instructions"));
  }
}

void TunDevice::detach_filter(std::error_code& ec) noexcept {
  sock_fprog prog{};
  ec = ioctl_ptr(TUNDETACHFILTER, &prog);
}
void TunDevice::detach_filter() {
  std::error_code ec;
  detach_filter(ec);
  // Not "with a filter attached": the kernel detaches nothing without complaint (measured).
  if (ec) fail(ec, "TUNDETACHFILTER", detail::hint_for(ec, EINVAL, "TAP devices only"));
}

std::size_t TunDevice::filter_size(std::error_code& ec) const noexcept {
  sock_fprog prog{};
  ec = ioctl_ptr(TUNGETFILTER, &prog);
  if (ec == std::error_code(EINVAL, std::system_category())) {
    ec.clear();  // EINVAL is the kernel's way of saying "no filter attached"
    return 0;
  }
  return ec ? 0 : prog.len;
}
std::size_t TunDevice::filter_size() const {
  std::error_code ec;
  const std::size_t n = filter_size(ec);
  if (ec) fail(ec, "TUNGETFILTER");
  return n;
}

void TunDevice::set_steering_ebpf(int program_fd, std::error_code& ec) noexcept {
  ec = ioctl_ptr(TUNSETSTEERINGEBPF, &program_fd);
}
void TunDevice::set_steering_ebpf(int program_fd) {
  std::error_code ec;
  set_steering_ebpf(program_fd, ec);
  if (ec) fail(ec, "TUNSETSTEERINGEBPF", detail::ebpf_hint(ec));
}

void TunDevice::set_filter_ebpf(int program_fd, std::error_code& ec) noexcept {
  ec = ioctl_ptr(TUNSETFILTEREBPF, &program_fd);
}
void TunDevice::set_filter_ebpf(int program_fd) {
  std::error_code ec;
  set_filter_ebpf(program_fd, ec);
  if (ec) fail(ec, "TUNSETFILTEREBPF", detail::ebpf_hint(ec));
}

void TunDevice::set_carrier(bool on, std::error_code& ec) noexcept {
  int value = on ? 1 : 0;
  ec = ioctl_ptr(TUNSETCARRIER, &value);
}
void TunDevice::set_carrier(bool on) {
  std::error_code ec;
  set_carrier(on, ec);
  // The driver's only EPERM here: carrier on while no queue is enabled (tun_net_change_carrier).
  if (ec)
    fail(ec, "TUNSETCARRIER", detail::hint_for(ec, EPERM, "no queue is enabled: enable one first"));
}

void TunDevice::set_link_type(std::uint16_t arphrd, std::error_code& ec) noexcept {
  ec = ioctl_value(TUNSETLINK, arphrd);
}
void TunDevice::set_link_type(std::uint16_t arphrd) {
  std::error_code ec;
  set_link_type(arphrd, ec);
  if (ec) fail(ec, "TUNSETLINK", detail::hint_for(ec, EBUSY, "bring the link down first"));
}

int TunDevice::open_netns(std::error_code& ec) const noexcept {
  ec.clear();
  const int fd = control_fd();
  if (fd < 0) {
    ec = errc::not_open;
    return -1;
  }
  // TUNGETDEVNETNS returns a new descriptor (O_CLOEXEC is set by the kernel's open_related_ns).
  const int r = retry_eintr(
      [&] { return detail::QueueAccess::sys(first_).ioctl(fd, TUNGETDEVNETNS, nullptr); });
  if (r < 0) {
    ec = detail::observed_cause(detail::QueueAccess::sys(first_), fd, sys_error(-r));
    return -1;
  }
  return r;
}
int TunDevice::open_netns() const {
  std::error_code ec;
  const int fd = open_netns(ec);
  if (ec) {
    fail(ec, "TUNGETDEVNETNS",
         detail::hint_for(ec, EPERM, "needs CAP_NET_ADMIN in the device's namespace"));
  }
  return fd;
}

int TunDevice::vnet_header_size(std::error_code& ec) const noexcept {
  int size = 0;
  ec = ioctl_ptr(TUNGETVNETHDRSZ, &size);
  return ec ? 0 : size;
}
int TunDevice::vnet_header_size() const {
  std::error_code ec;
  const int size = vnet_header_size(ec);
  if (ec) fail(ec, "TUNGETVNETHDRSZ");
  return size;
}

void TunDevice::set_vnet_header_size(int bytes, std::error_code& ec) noexcept {
  ec = ioctl_ptr(TUNSETVNETHDRSZ, &bytes);
  if (ec || !options_.vnet_hdr) return;
  // Every queue validates the headers it writes with the size in force.
  vnet_.size = static_cast<std::uint32_t>(bytes);  // the kernel refused anything below 10
  apply_vnet();
}
void TunDevice::set_vnet_header_size(int bytes) {
  std::error_code ec;
  set_vnet_header_size(bytes, ec);
  if (ec) fail(ec, "TUNSETVNETHDRSZ", detail::hint_for(ec, EINVAL, "at least 10 bytes"));
}

bool TunDevice::vnet_little_endian(std::error_code& ec) const noexcept {
  int value = 0;
  ec = ioctl_ptr(TUNGETVNETLE, &value);
  return !ec && value != 0;
}
bool TunDevice::vnet_little_endian() const {
  std::error_code ec;
  const bool on = vnet_little_endian(ec);
  if (ec) fail(ec, "TUNGETVNETLE");
  return on;
}
void TunDevice::set_vnet_little_endian(bool on, std::error_code& ec) noexcept {
  int value = on ? 1 : 0;
  ec = ioctl_ptr(TUNSETVNETLE, &value);
  if (ec) return;
  vnet_.le = on;  // little-endian wins over TUNSETVNETBE
  apply_vnet();
}
void TunDevice::set_vnet_little_endian(bool on) {
  std::error_code ec;
  set_vnet_little_endian(on, ec);
  if (ec) fail(ec, "TUNSETVNETLE");
}

bool TunDevice::vnet_big_endian(std::error_code& ec) const noexcept {
  int value = 0;
  ec = ioctl_ptr(TUNGETVNETBE, &value);
  return !ec && value != 0;
}
bool TunDevice::vnet_big_endian() const {
  std::error_code ec;
  const bool on = vnet_big_endian(ec);
  if (ec) fail(ec, "TUNGETVNETBE", detail::hint_for(ec, EINVAL, detail::kCrossLeHint));
  return on;
}
void TunDevice::set_vnet_big_endian(bool on, std::error_code& ec) noexcept {
  int value = on ? 1 : 0;
  ec = ioctl_ptr(TUNSETVNETBE, &value);
  if (ec) return;
  vnet_.be = on;
  apply_vnet();
}
void TunDevice::set_vnet_big_endian(bool on) {
  std::error_code ec;
  set_vnet_big_endian(on, ec);
  if (ec) fail(ec, "TUNSETVNETBE", detail::hint_for(ec, EINVAL, detail::kCrossLeHint));
}

Offloads TunDevice::set_offloads(Offloads wanted, std::error_code& ec) noexcept {
  ec.clear();
  if (!first_.is_open()) {
    ec = errc::not_open;
    return {};
  }
  if (!detail::offload_problem(wanted, options_.vnet_hdr).empty()) {
    ec = sys_error(EINVAL);
    return {};
  }
  // The kernel answers EINVAL for flags it does not know (its way to let user space probe), so
  // drop the newest families one by one: UDP-tunnel GSO (6.17), USO (6.2), then TSO_ECN.
  using enum Offload;
  static constexpr std::array<Offloads, 3> kNewestFirst{
      {udp_tunnel_gso | udp_tunnel_gso_csum, uso4 | uso6, Offloads(tso_ecn)}};
  Offloads attempt = wanted;
  std::size_t next = 0;
  for (;;) {
    ec = ioctl_value(TUNSETOFFLOAD, attempt.bits());
    if (!ec) {
      offloads_ = attempt;
      return attempt;
    }
    if (ec != std::error_code(EINVAL, std::system_category())) return {};
    while (next < kNewestFirst.size() && (attempt & kNewestFirst[next]).empty())
      ++next;
    if (next == kNewestFirst.size()) return {};
    attempt = attempt - kNewestFirst[next++];
  }
}

Offloads TunDevice::set_offloads(Offloads wanted) {
  std::error_code ec;
  const Offloads granted = set_offloads(wanted, ec);
  if (ec) fail(ec, "TUNSETOFFLOAD", detail::offload_problem(wanted, options_.vnet_hdr));
  return granted;
}

Flags TunDevice::features(sys::Syscalls& sys) {
  std::error_code ec;
  const Flags f = features(ec, sys);
  if (ec) {
    detail::raise({ec, "TUNGETFEATURES on /dev/net/tun", {}, detail::open_hint(ec.value())});
  }
  return f;
}

Flags TunDevice::features(std::error_code& ec, sys::Syscalls& sys) noexcept {
  ec.clear();
  const int fd = retry_eintr([&] { return sys.open(detail::kTunPath, O_RDWR | O_CLOEXEC); });
  if (fd < 0) {
    ec = sys_error(-fd);
    return {};
  }
  unsigned int bits = 0;
  const int r = retry_eintr([&] { return sys.ioctl(fd, TUNGETFEATURES, &bits); });
  (void)sys.close(fd);
  if (r < 0) {
    ec = sys_error(-r);
    return {};
  }
  return Flags::from_bits(static_cast<std::uint16_t>(bits));
}

}  // namespace tunkit
