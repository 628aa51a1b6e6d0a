// The fake's network namespaces: the initial one ("") and those of add_netns, each thread's
// current one (moved by setns), and the names they open at.
#include "testing/fake_kernel/state.hpp"

#include <sched.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>

namespace tunkit::testing {
namespace {

// Each thread's network namespace, per FakeKernel instance. A thread-local map dies with its
// thread, so a new thread (even one reusing an old thread's id) starts in the initial
// namespace, as a real thread created by a process in the initial namespace would. Instances are
// told apart by a serial number, not their address, which a later fake may reuse.
std::atomic<std::uint64_t> g_next_instance{1};
thread_local std::map<std::uint64_t, std::string> t_netns;

using fake_kernel::FdKind;
using fake_kernel::make_record;

}  // namespace

std::uint64_t fake_kernel::next_instance() noexcept {
  return g_next_instance++;
}

std::string FakeKernel::State::netns() const {
  const auto it = t_netns.find(instance);
  return it == t_netns.end() ? std::string() : it->second;
}

int FakeKernel::setns(int fd, int nstype) noexcept {
  State& s = *state_;
  return s.call<int>(make_record(Call::setns, fd, 0, nstype), [&](CallRecord& c) {
    const State::Fd* f = s.find_fd(fd);
    if (f == nullptr) return -EBADF;
    if (f->kind != FdKind::netns) {
      c.text = "not a namespace";
      return -EINVAL;
    }
    if (nstype != 0 && nstype != CLONE_NEWNET) return -EINVAL;
    if (!s.cap_sys_admin) return -EPERM;
    c.text = f->netns;
    t_netns[s.instance] = f->netns;
    return 0;
  });
}

void FakeKernel::add_netns(std::string_view name) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      !s.namespaces.emplace(name).second) {
    throw std::invalid_argument("FakeKernel::add_netns: invalid or taken name");
  }
}

std::string FakeKernel::current_netns() const {
  std::lock_guard lock(state_->mu);
  return state_->netns();
}

}  // namespace tunkit::testing
