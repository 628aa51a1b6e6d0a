// What the tunkit tool asks the system besides tunkit: user and group databases (with a buffer
// that grows), the processes that hold a TUN/TAP device (from /proc), and the offloads a device
// has (its ethtool features). Header-only so that tests/unit/tunkit_cli_text_test.cpp checks it.
#pragma once

#include <grp.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pwd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <tunkit/options.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace tunkit_cli {

/// The largest buffer `call_growing` offers (getpwnam_r's entries are rarely above 1 KiB; a group
/// with thousands of members is far above the 16 KiB the tool used to stop at).
inline constexpr std::size_t kMaxLookupBuffer = std::size_t{1} << 24;

/// Calls `call(buffer, size)` (a getpwnam_r-like call that answers an errno) with `buf`, doubling
/// it while the answer is ERANGE ("buffer too small", not "not found"), up to kMaxLookupBuffer.
/// Returns the last answer.
template <class Call>
int call_growing(std::vector<char>& buf, Call call) {
  if (buf.empty()) buf.resize(1024);
  for (;;) {
    const int err = call(buf.data(), buf.size());
    if (err != ERANGE || buf.size() >= kMaxLookupBuffer) return err;
    buf.resize(buf.size() * 2);
  }
}

/// The name of user `uid` (getpwuid_r(3)), or nullopt where the system has none (or the lookup
/// fails): the tool then prints the number, as `ip` does.
[[nodiscard]] inline std::optional<std::string> user_name(unsigned uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buf;
  const int err = call_growing(buf, [&](char* b, std::size_t size) {
    return ::getpwuid_r(static_cast<uid_t>(uid), &entry, b, size, &found);
  });
  if (err != 0 || found == nullptr || found->pw_name == nullptr) return std::nullopt;
  return std::string(found->pw_name);
}

/// The name of group `gid` (getgrgid_r(3)), or nullopt where the system has none.
[[nodiscard]] inline std::optional<std::string> group_name(unsigned gid) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buf;
  const int err = call_growing(buf, [&](char* b, std::size_t size) {
    return ::getgrgid_r(static_cast<gid_t>(gid), &entry, b, size, &found);
  });
  if (err != 0 || found == nullptr || found->gr_name == nullptr) return std::nullopt;
  return std::string(found->gr_name);
}

/// One process holding queues of a TUN/TAP device.
struct Holder {
  pid_t pid = 0;
  std::string comm;     ///< /proc/PID/comm, without the newline
  unsigned queues = 0;  ///< its descriptors attached to the device
};

/// Whether `fdinfo` (the text of /proc/PID/fdinfo/FD) is a TUN/TAP descriptor attached to the
/// device `name`: the tun driver adds the line "iff:\tNAME" (tun_chr_show_fdinfo) while the
/// descriptor is attached to a device (a queue disabled with TUNSETQUEUE too, as measured).
[[nodiscard]] inline bool attached_to(std::string_view fdinfo, std::string_view name) {
  for (std::size_t at = 0; at < fdinfo.size();) {
    std::size_t nl = fdinfo.find('\n', at);
    if (nl == std::string_view::npos) nl = fdinfo.size();
    const std::string_view line = fdinfo.substr(at, nl - at);
    if (line.starts_with("iff:\t") && line.substr(5) == name) return true;
    at = nl + 1;
  }
  return false;
}

/// The inode of the network namespace file `path` (/proc/PID/ns/net), 0 when it cannot be read.
[[nodiscard]] inline ino_t netns_inode(const std::filesystem::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

/// The network namespace (its inode) of the device behind descriptor `fd` of process `pid`,
/// asked of the device itself: a copy of the descriptor (pidfd_getfd, which needs the right to
/// ptrace the process) answers TUNGETDEVNETNS. 0 when it cannot be asked.
[[nodiscard]] inline ino_t device_netns_inode(pid_t pid, int fd) {
  const long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) return 0;
  const long copy = ::syscall(SYS_pidfd_getfd, static_cast<int>(pidfd), fd, 0);
  ::close(static_cast<int>(pidfd));
  if (copy < 0) return 0;
  const int ns = ::ioctl(static_cast<int>(copy), TUNGETDEVNETNS);
  ::close(static_cast<int>(copy));
  if (ns < 0) return 0;
  struct stat st {};
  const ino_t inode = ::fstat(ns, &st) == 0 ? st.st_ino : 0;
  ::close(ns);
  return inode;
}

/// The processes under `proc` (a procfs mount) with a descriptor attached to a device named
/// `name` in this process's network namespace, by pid. fdinfo names the device, not its
/// namespace, and devices in other namespaces may have the same name: each descriptor's device
/// is asked for its namespace (`device_netns_inode`); where it cannot be, the process's own
/// namespace stands in for it; where neither can be read (another procfs tree, as in the tests),
/// the descriptor counts. Processes this user may not inspect are skipped.
[[nodiscard]] inline std::vector<Holder> find_holders(std::string_view name,
                                                      const std::filesystem::path& proc = "/proc") {
  namespace fs = std::filesystem;
  auto read_all = [](const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  std::vector<Holder> holders;
  const ino_t ours = netns_inode(proc / "self" / "ns" / "net");
  const bool live = proc == "/proc";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(proc, ec)) {
    const std::string pid_text = entry.path().filename().string();
    if (pid_text.empty() ||
        !std::all_of(pid_text.begin(), pid_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    Holder h;
    h.pid = static_cast<pid_t>(std::stol(pid_text));
    std::error_code fd_ec;
    const ino_t process_ns = netns_inode(entry.path() / "ns" / "net");
    for (const auto& fd : fs::directory_iterator(entry.path() / "fdinfo", fd_ec)) {
      if (!attached_to(read_all(fd.path()), name)) continue;
      ino_t ns = 0;
      const std::string fd_text = fd.path().filename().string();
      if (live && ours != 0 && !fd_text.empty() &&
          std::all_of(fd_text.begin(), fd_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        ns = device_netns_inode(h.pid, std::stoi(fd_text));
      if (ns == 0) ns = process_ns;
      if (ours == 0 || ns == 0 || ns == ours) ++h.queues;
    }
    if (h.queues == 0) continue;
    h.comm = read_all(entry.path() / "comm");
    if (!h.comm.empty() && h.comm.back() == '\n') h.comm.pop_back();
    holders.push_back(std::move(h));
  }
  std::sort(holders.begin(), holders.end(),
            [](const Holder& a, const Holder& b) { return a.pid < b.pid; });
  return holders;
}

/// The TUNSETOFFLOAD flag behind each ethtool feature the tun driver turns on for it
/// (tun_set_offload in drivers/net/tun.c: CSUM is NETIF_F_HW_CSUM, TSO4 NETIF_F_TSO, ...; USO4
/// and USO6 are granted together as NETIF_F_GSO_UDP_L4).
struct FeatureOffload {
  std::string_view feature;  ///< the ethtool name (ETH_SS_FEATURES)
  tunkit::Offloads offloads;
};
inline constexpr FeatureOffload kFeatureOffloads[] = {
    {"tx-checksum-ip-generic", tunkit::Offload::csum},
    {"tx-tcp-segmentation", tunkit::Offload::tso4},
    {"tx-tcp6-segmentation", tunkit::Offload::tso6},
    {"tx-tcp-ecn-segmentation", tunkit::Offload::tso_ecn},
    {"tx-udp-segmentation", tunkit::Offload::uso4 | tunkit::Offload::uso6},
    {"tx-udp_tnl-segmentation", tunkit::Offload::udp_tunnel_gso},
    {"tx-udp_tnl-csum-segmentation", tunkit::Offload::udp_tunnel_gso_csum},
};

/// The offloads the device `name` has now, read from its active ethtool features
/// (SIOCETHTOOL: ETHTOOL_GSSET_INFO, ETHTOOL_GSTRINGS, ETHTOOL_GFEATURES; no privileges needed),
/// or nullopt when they cannot be read. A TUN/TAP device has these features exactly when its
/// last TUNSETOFFLOAD granted them (the driver's fix_features masks the others off).
[[nodiscard]] inline std::optional<tunkit::Offloads> device_offloads(const std::string& name) {
  if (name.size() >= IFNAMSIZ) return std::nullopt;
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return std::nullopt;
  auto ethtool = [&](void* request) {
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.data(), name.size());
    ifr.ifr_data = static_cast<char*>(request);
    return ::ioctl(sock, SIOCETHTOOL, &ifr) == 0;
  };
  std::optional<tunkit::Offloads> result;
  // ETHTOOL_GSSET_INFO: how many features there are. The answer's u32 follows the header.
  std::vector<std::uint32_t> info((sizeof(ethtool_sset_info) + 4 + 3) / 4, 0);
  auto* sset = reinterpret_cast<ethtool_sset_info*>(info.data());
  sset->cmd = ETHTOOL_GSSET_INFO;
  sset->sset_mask = std::uint64_t{1} << ETH_SS_FEATURES;
  if (ethtool(sset) && sset->sset_mask != 0) {
    std::uint32_t count = 0;
    std::memcpy(&count, reinterpret_cast<const char*>(sset) + sizeof(ethtool_sset_info),
                sizeof count);
    std::vector<char> strings(sizeof(ethtool_gstrings) + std::size_t{count} * ETH_GSTRING_LEN);
    auto* names = reinterpret_cast<ethtool_gstrings*>(strings.data());
    names->cmd = ETHTOOL_GSTRINGS;
    names->string_set = ETH_SS_FEATURES;
    names->len = count;
    const std::uint32_t blocks = (count + 31) / 32;
    std::vector<char> features(sizeof(ethtool_gfeatures) +
                               blocks * sizeof(ethtool_get_features_block));
    auto* got = reinterpret_cast<ethtool_gfeatures*>(features.data());
    got->cmd = ETHTOOL_GFEATURES;
    got->size = blocks;
    if (count > 0 && ethtool(names) && ethtool(got)) {
      tunkit::Offloads offloads;
      const char* base = strings.data() + sizeof(ethtool_gstrings);
      const auto* block = reinterpret_cast<const ethtool_get_features_block*>(
          features.data() + sizeof(ethtool_gfeatures));
      for (std::uint32_t i = 0; i < count; ++i) {
        const char* s = base + std::size_t{i} * ETH_GSTRING_LEN;
        const std::string_view feature(s, ::strnlen(s, ETH_GSTRING_LEN));
        if ((block[i / 32].active & (1u << (i % 32))) == 0) continue;
        for (const auto& f : kFeatureOffloads) {
          if (f.feature == feature) offloads = offloads | f.offloads;
        }
      }
      result = offloads;
    }
  }
  ::close(sock);
  return result;
}

}  // namespace tunkit_cli
