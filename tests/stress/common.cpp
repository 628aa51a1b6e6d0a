// tunkit_stress: the helpers every part uses (stress.hpp).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "stress.hpp"
#include "tunkit/error.hpp"
#include "tunkit/tun_info.hpp"

extern char** environ;

namespace tunkit::stress {

void Report::count(const std::string& what, std::uint64_t n) {
  const std::lock_guard lock(mutex_);
  auto [it, inserted] = counts_.try_emplace(what, 0);
  if (inserted) order_.push_back(what);
  it->second += n;
}

void Report::merge(const std::map<std::string, std::uint64_t>& counts) {
  for (const auto& [what, n] : counts)
    count(what, n);
}

std::uint64_t Report::get(const std::string& what) const {
  const std::lock_guard lock(mutex_);
  const auto it = counts_.find(what);
  return it == counts_.end() ? 0 : it->second;
}

void Report::fail(const std::string& what) {
  std::size_t n = 0;
  {
    const std::lock_guard lock(mutex_);
    n = ++failures_;
  }
  if (n <= 20) {
    std::printf("%s: FAIL: %s\n", part_.c_str(), what.c_str());
  } else if (n == 21) {
    std::printf("%s: FAIL: (more failures not printed)\n", part_.c_str());
  }
  std::fflush(stdout);
}

void Report::note(const std::string& text) const {
  std::printf("%s: %s\n", part_.c_str(), text.c_str());
  std::fflush(stdout);
}

void Report::print_counts(std::string_view title, std::string_view prefix) const {
  std::string line;
  {
    const std::lock_guard lock(mutex_);
    for (const std::string& what : order_) {
      if (!what.starts_with(prefix)) continue;
      if (!line.empty()) line += ", ";
      line += fmt::format("{} {}", what.substr(prefix.size()), counts_.at(what));
    }
  }
  note(fmt::format("{}: {}", title, line.empty() ? "none" : line));
}

std::size_t Report::failures() const {
  const std::lock_guard lock(mutex_);
  return failures_;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

std::set<std::string> tun_devices() {
  std::set<std::string> names;
  for (const TunDeviceInfo& d : list_tun_devices())
    names.insert(d.link.name);
  return names;
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

Baseline Baseline::take() {
  return Baseline{open_fds(), tun_devices()};
}

bool Baseline::check_same(Report& report, std::string_view when) const {
  const Baseline now = take();
  bool same = true;
  if (now.fds != fds) {
    report.fail(fmt::format("descriptor leak {}: {} open, {} before", when, now.fds, fds));
    same = false;
  }
  if (now.devices != devices) {
    std::string extra;
    std::string gone;
    for (const std::string& d : now.devices) {
      if (!devices.contains(d)) extra += " " + d;
    }
    for (const std::string& d : devices) {
      if (!now.devices.contains(d)) gone += " " + d;
    }
    report.fail(
        fmt::format("TUN/TAP devices differ {}: left behind [{}], gone [{}]", when, extra, gone));
    same = false;
  }
  return same;
}

int run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string capture(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
      out.append(buf.data(), n);
    ::pclose(p);
  }
  return out;
}

std::string error_name(const std::error_code& ec) {
  if (!ec) return "ok";
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    if (const char* name = ::strerrorname_np(ec.value())) return name;
    return fmt::format("errno {}", ec.value());
  }
  if (ec.category() == tunkit::error_category()) return "tunkit: " + ec.message();
  // Another library's category (Asio's "asio.system" carries errno values too).
  const char* name = ::strerrorname_np(ec.value());
  return fmt::format("{} {}", ec.category().name(), name != nullptr ? name : ec.message());
}

bool turn_around_udp4(std::span<std::byte> p) {
  if (p.size() < 28 || (std::to_integer<unsigned>(p[0]) >> 4U) != 4) return false;
  const std::size_t ihl = (std::to_integer<std::size_t>(p[0]) & 0x0FU) * 4;
  if (ihl < 20 || p.size() < ihl + 8 || std::to_integer<unsigned>(p[9]) != 17) return false;
  std::array<std::byte, 4> a{};
  std::memcpy(a.data(), p.data() + 12, 4);
  std::memcpy(p.data() + 12, p.data() + 16, 4);
  std::memcpy(p.data() + 16, a.data(), 4);
  std::array<std::byte, 2> port{};
  std::memcpy(port.data(), p.data() + ihl, 2);
  std::memcpy(p.data() + ihl, p.data() + ihl + 2, 2);
  std::memcpy(p.data() + ihl + 2, port.data(), 2);
  return true;
}

std::string Latencies::summary() const {
  if (us.empty()) return "none";
  std::vector<double> v = us;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))] / 1000.0;
  };
  return fmt::format("n {}, p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms", v.size(), at(0.5),
                     at(0.99), v.back() / 1000.0);
}

double Latencies::worst_ms() const {
  return us.empty() ? 0.0 : *std::max_element(us.begin(), us.end()) / 1000.0;
}

}  // namespace tunkit::stress
