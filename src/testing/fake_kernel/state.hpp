#pragma once
// What the pieces of the fake kernel share: the driver's constants, the records behind each
// descriptor and each interface, and FakeKernel::State, whose members are defined by concern:
//   descriptors.cpp  the descriptor table: open, close, fcntl, eventfd, eBPF program descriptors
//   interfaces.cpp   the interface table, "lo", the link to FakeRtnetlink, scenario and inspection
//   tun_driver.cpp   TUNSETIFF and TUNSETQUEUE: queues attaching, detaching, closing; permissions
//   tun_ioctls.cpp   the ioctl entry point and every TUN ioctl on an attached descriptor
//   filters.cpp      a TAP device's TX filter, classic BPF and eBPF programs
//   packet_io.cpp    read, write, readv, writev (TUN packets, eventfd counters), inject, written
//   poll.cpp         readiness and poll's simulated time
//   sockets.cpp      AF_INET and netlink sockets, SIOCGIFINDEX / SIOCGIFNAME
//   netns.cpp        each thread's network namespace, setns, add_netns
//   script.cpp       scripted failures and the call log
// Every State member but `call` (which takes it) runs with `mu` held.

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tunkit/options.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

namespace tunkit::testing::fake_kernel {

// The driver's constants (drivers/net/tun.c), spelled out where Debian 12's 6.1 headers may lack
// them or where the driver keeps them private.
// IFF_NO_CARRIER: absent from 6.1 headers; tunkit's Flag carries the kernel's value.
constexpr auto kIffNoCarrier = static_cast<std::uint16_t>(Flag::no_carrier);
constexpr std::uint16_t kTunFeatures =
    IFF_NO_PI | IFF_ONE_QUEUE | IFF_VNET_HDR | IFF_MULTI_QUEUE | IFF_NAPI | IFF_NAPI_FRAGS;
constexpr unsigned kDefaultFeatures = IFF_TUN | IFF_TAP | kIffNoCarrier | kTunFeatures;  // 0x7173
static_assert(kDefaultFeatures == 0x7173);
constexpr int kMinVnetHdrSize = 10;  // sizeof(struct virtio_net_hdr)

using Call = FakeKernel::Call;
using CallRecord = FakeKernel::CallRecord;

CallRecord make_record(Call call, int fd, unsigned long request = 0, std::int64_t arg = 0);

struct Packet {
  std::vector<std::byte> data;
  std::uint16_t protocol = 0;  // host order
};

// netns: what TUNGETDEVNETNS returns; ebpf: what add_ebpf_program() returns.
enum class FdKind : std::uint8_t { tun, event, inet, netlink, netns, ebpf };

struct Fd {
  FdKind kind = FdKind::tun;
  int status = O_RDWR;  // access mode and status flags (F_GETFL)
  bool cloexec = false;
  // TUN: the attached device's ifindex, 0 before TUNSETIFF and after the device was deleted
  // (tfile->tun == NULL in the driver). A disabled queue keeps it (tfile->detached is set too).
  unsigned ifindex = 0;
  bool detached = false;        // disabled with TUNSETQUEUE IFF_DETACH_QUEUE
  unsigned wanted_ifindex = 0;  // TUNSETIFINDEX (tfile->ifindex)
  int sndbuf = INT_MAX;         // sk_sndbuf: per descriptor
  bool socket_filter = false;   // a classic BPF program on this queue's socket (sk_filter)
  std::deque<Packet> rx;        // this queue's ring
  // Signal-driven I/O: F_SETSIG, the owner (F_SETOWN_EX), and what kill_fasync would have sent.
  int fasync_signal = 0;
  int owner_type = 0;  // F_OWNER_TID (0, as fresh) / F_OWNER_PID / F_OWNER_PGRP
  pid_t owner = 0;     // 0: no owner
  std::size_t signals_raised = 0;
  // eventfd
  std::uint64_t counter = 0;
  bool semaphore = false;
  // The namespace: of a socket or /dev/net/tun descriptor, the one it was opened in (the tun
  // driver uses the namespace of open(), not of TUNSETIFF); of a namespace descriptor, the one it
  // refers to.
  std::string netns;
  // ebpf
  bool socket_filter_program = false;       // BPF_PROG_TYPE_SOCKET_FILTER
  bool xdp_program = false;                 // BPF_PROG_TYPE_XDP
  std::uint32_t ebpf_prog_id = 0;           // the program's id (bpf_prog_info.id)
  std::vector<EbpfInstruction> ebpf_insns;  // what BPF_PROG_LOAD was given
};

// The driver's struct tap_filter, plus what was passed (for inspection).
struct TxFilterState {
  std::vector<MacAddress> addresses;
  bool all_multicast = false;
  std::size_t exact = 0;   // the first `exact` addresses match exactly
  std::uint64_t hash = 0;  // multicast hash bits (mask[2])
  bool active = false;     // filter->count != 0
};

struct Device {
  std::string name;
  unsigned ifindex = 0;
  bool tun_driver = true;  // false: "lo" and add_interface()
  Mode mode = Mode::tun;
  std::uint16_t flags = 0;  // tun->flags: TUN/TAP, TUN_FEATURES, PERSIST
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
  bool up = false;
  bool carrier = false;
  std::uint16_t link_type = ARPHRD_NONE;
  int vnet_hdr_size = kMinVnetHdrSize;
  unsigned offloads = 0;  // TUNSETOFFLOAD's accepted TUN_F_* bits
  bool vnet_le = false;
  bool vnet_be = false;
  int sndbuf = INT_MAX;
  TxFilterState tx_filter;
  std::vector<BpfInstruction> filter_program;  // tun->fprog's instructions (when readable)
  std::size_t filter_length = 0;               // tun->fprog.len
  bool filter_attached = false;                // tun->filter_attached
  int steering_ebpf = -1;
  int filter_ebpf = -1;
  std::vector<int> queues;    // enabled queues by queue index (tun->tfiles)
  std::vector<int> disabled;  // disabled queues, in the order they were disabled
  std::size_t next_queue = 0;
  std::string netns;
};

struct ScriptedFailure {
  int err = 0;
  std::size_t after = 0;  // calls to let through first
};

// dev_valid_name() in net/core/dev.c.
bool valid_name(std::string_view name);

// run_filter() (filters.cpp): does a TAP device's TX filter let a frame to `frame`'s destination
// through?
bool tx_filter_passes(const TxFilterState& f, std::span<const std::byte> frame) noexcept;

// TUNSETPERSIST/OWNER/GROUP/LINK/OFFLOAD take their argument by value in the pointer's place.
inline std::uintptr_t by_value(void* arg) noexcept {
  return reinterpret_cast<std::uintptr_t>(arg);  // NOLINT(performance-no-int-to-ptr)
}

// The argument an ioctl points to, read without alignment assumptions.
template <typename T>
T read_arg(const void* arg) noexcept {
  T value{};
  std::memcpy(&value, arg, sizeof value);
  return value;
}

// A serial number per FakeKernel (netns.cpp): each thread's namespace is kept per instance.
std::uint64_t next_instance() noexcept;

}  // namespace tunkit::testing::fake_kernel

namespace tunkit::testing {

struct FakeKernel::State {
  using Fd = fake_kernel::Fd;
  using Device = fake_kernel::Device;
  using ScriptedFailure = fake_kernel::ScriptedFailure;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<int, Fd> fds;
  std::map<unsigned, Device> interfaces;  // every interface, TUN/TAP or not, by ifindex
  unsigned next_ifindex = 2;
  std::uint32_t next_ebpf_prog_id = 100;
  std::vector<pid_t> missing_owners;  // F_SETOWN_EX ids answered -ESRCH  // program ids, as the
                                      // kernel's idr hands them out
  std::map<std::string, std::vector<WrittenPacket>, std::less<>> written;
  std::vector<CallRecord> log;
  std::map<Call, std::deque<ScriptedFailure>> failures;
  std::map<unsigned long, std::deque<ScriptedFailure>> ioctl_failures;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool cap_net_admin = true;
  bool cap_sys_admin = true;
  const std::uint64_t instance = fake_kernel::next_instance();
  std::set<std::string, std::less<>> namespaces;  // add_netns()
  unsigned features = fake_kernel::kDefaultFeatures;
  bool vnet_cross_le = false;
  std::chrono::milliseconds block_limit{5000};
  FakeRtnetlink rtnl;

  // Runs `body` unless a failure was scripted for this call (`scripted_err`), logs the call, and
  // wakes waiting pollers (any call may have made something ready). Allocation failures inside
  // the fake surface as -ENOMEM rather than terminating through noexcept.
  template <typename Result, typename Body>
  Result run(CallRecord rec, int scripted_err, Body&& body) noexcept {
    Result r{};
    try {
      r = scripted_err != 0 ? static_cast<Result>(-scripted_err) : static_cast<Result>(body(rec));
      rec.result = static_cast<std::int64_t>(r);
      log.push_back(std::move(rec));
    } catch (...) {
      r = static_cast<Result>(-ENOMEM);
    }
    cv.notify_all();
    return r;
  }

  // One call of the seam, as most members make it: takes the mutex, fires the failure scripted
  // for it (`scripted`), else runs `body`; then `run` logs it.
  template <typename Result, typename Body>
  Result call(CallRecord rec, Body&& body) noexcept {
    std::lock_guard lock(mu);
    const int err = scripted(rec);
    return run<Result>(std::move(rec), err, std::forward<Body>(body));
  }

  // --- script.cpp: scripted failures ---
  // The errno the first scripted failure of `queue` gives this call, or 0 (none scripted, or it
  // still lets `after` calls through).
  static int fire(std::deque<ScriptedFailure>& queue);
  // For an ioctl the failures scripted for its request first, then those for any ioctl.
  int scripted(const CallRecord& rec);
  int scripted(Call call);

  // --- descriptors.cpp: the descriptor table ---
  Fd* find_fd(int fd);
  int allocate_fd(Fd f);  // the lowest free number from 1000

  // --- netns.cpp ---
  std::string netns() const;  // the calling thread's namespace

  // --- interfaces.cpp: the interface table ---
  Device* find_interface(std::string_view name, std::string_view ns);
  // The calling thread's namespace first, then any (for the scenario functions).
  Device* find_any(std::string_view name);
  Device* find_tun(std::string_view name);
  // Creates an interface in namespace `ns` with the index `wanted` (0: the next free one, as
  // dev_index_reserve()), and its link in `rtnl`.
  unsigned create_interface(std::string name, bool tun_driver, Mode mode, std::uint16_t flags,
                            const std::string& ns, unsigned wanted = 0);
  // tun_detach_all(): every descriptor, enabled or disabled, loses the device.
  void remove_interface(unsigned index);
  void set_carrier(Device& d, bool on);
  DeviceRecord describe(const Device& d) const;

  // --- tun_driver.cpp: attaching queues ---
  Device* attached_device(const Fd& f);
  bool in_group(gid_t g) const;
  bool not_capable(const Device& d) const;  // tun_not_capable()
  int set_iff(int fd, Fd& f, ifreq& ifr);
  int set_queue(int fd, Fd& f, const ifreq& ifr);
  static void remove_enabled(Device& d, int fd);
  void detach(int fd, Fd& f);  // __tun_detach() on close

  // --- tun_ioctls.cpp ---
  int tun_ioctl(int fd, Fd& f, unsigned long request, void* arg);

  // --- filters.cpp ---
  static int set_tx_filter(Device& d, const void* arg);
  int attach_filter(Device& d, const void* arg);
  int set_ebpf(int& slot, const void* arg);

  // --- sockets.cpp ---
  // The socket calls: `forward` for netlink sockets, refused for any other descriptor.
  template <typename Result, typename Forward>
  Result socket_call(int fd, Forward&& forward);
  int socket_ioctl(const Fd& f, unsigned long request, void* arg);

  // --- packet_io.cpp ---
  ssize_t read_into(int fd, std::span<std::byte> out);
  ssize_t tun_read(Fd& f, std::span<std::byte> out);
  ssize_t write_from(int fd, std::span<const std::byte> in);
  ssize_t tun_write(int fd, Fd& f, std::span<const std::byte> in);

  // --- poll.cpp ---
  short readiness(const pollfd& p);
  int scan(pollfd* pfds, nfds_t n);
};

}  // namespace tunkit::testing
