// The descriptor table: numbers, open (the paths the fake knows), close, fcntl, eventfd, and the
// eBPF program descriptors of add_ebpf_program.
#include "testing/fake_kernel/state.hpp"

#include <linux/bpf.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tunkit::testing {
namespace {

using fake_kernel::FdKind;
using fake_kernel::make_record;

constexpr int kFirstFd = 1000;
constexpr int kSettableStatusFlags = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
constexpr std::string_view kNamedNetns = "/run/netns/";

}  // namespace

FakeKernel::State::Fd* FakeKernel::State::find_fd(int fd) {
  auto it = fds.find(fd);
  return it == fds.end() ? nullptr : &it->second;
}

int FakeKernel::State::allocate_fd(Fd f) {
  int fd = kFirstFd;
  for (const auto& [number, unused] : fds) {  // lowest free number, as the kernel allocates
    if (number != fd) break;
    ++fd;
  }
  fds.emplace(fd, std::move(f));
  return fd;
}

int FakeKernel::open(const char* path, int flags) noexcept {
  State& s = *state_;
  CallRecord rec = make_record(Call::open, -1, 0, flags);
  rec.text = path != nullptr ? path : "";
  return s.call<int>(std::move(rec), [&](CallRecord& c) {
    if (path == nullptr) return -EFAULT;
    const std::string_view p(path);
    State::Fd f;
    f.status = flags & ~(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
    f.cloexec = (flags & O_CLOEXEC) != 0;
    if (p == "/dev/net/tun") {
      f.kind = FdKind::tun;
      f.netns = s.netns();
    } else if (p == "/proc/thread-self/ns/net") {
      f.kind = FdKind::netns;
      f.netns = s.netns();
    } else if (p == "/proc/self/ns/net") {
      f.kind = FdKind::netns;
    } else if (p.starts_with(kNamedNetns) && s.namespaces.contains(p.substr(kNamedNetns.size()))) {
      f.kind = FdKind::netns;
      f.netns = std::string(p.substr(kNamedNetns.size()));
    } else {
      return -ENOENT;
    }
    c.fd = s.allocate_fd(std::move(f));
    return c.fd;
  });
}

int FakeKernel::close(int fd) noexcept {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  const int err = s.scripted(Call::close);
  return s.run<int>(make_record(Call::close, fd), 0, [&](CallRecord&) {
    auto it = s.fds.find(fd);
    if (it == s.fds.end()) return err != 0 ? -err : -EBADF;
    // Released even when a failure is scripted: Linux frees the descriptor before reporting
    // EINTR or EIO from close(2), which is why it must never be retried.
    switch (it->second.kind) {
      case FdKind::tun:
        s.detach(fd, it->second);
        break;
      case FdKind::netlink:
        s.rtnl.close_socket(fd);
        break;
      case FdKind::event:
      case FdKind::inet:
      case FdKind::netns:
      case FdKind::ebpf:
        break;
    }
    s.fds.erase(fd);
    return err != 0 ? -err : 0;
  });
}

int FakeKernel::fcntl(int fd, int cmd, int arg) noexcept {
  State& s = *state_;
  return s.call<int>(
      make_record(Call::fcntl, fd, static_cast<unsigned long>(cmd), arg), [&](CallRecord&) {
        State::Fd* f = s.find_fd(fd);
        if (f == nullptr) return -EBADF;
        switch (cmd) {
          case F_GETFL:
            return f->status;
          case F_SETFL: {
            const bool async_on = (arg & O_ASYNC) != 0 && (f->status & O_ASYNC) == 0;
            f->status = (f->status & ~kSettableStatusFlags) | (arg & kSettableStatusFlags);
            if (async_on && f->kind == FdKind::tun && f->owner == 0) {
              // tun_chr_fasync: __f_setown(file, task_pid(current), PIDTYPE_TGID, 0), which
              // sets the caller's process only when there is no owner (measured on 6.18).
              f->owner_type = F_OWNER_PID;
              f->owner = ::getpid();
            }
            return 0;
          }
          case F_GETSIG:
            return f->fasync_signal;
          case F_SETSIG:
            if (arg < 0 || arg > 64) return -EINVAL;  // valid_signal(): 0..64
            f->fasync_signal = arg;
            return 0;
          case F_GETFD:
            return f->cloexec ? FD_CLOEXEC : 0;
          case F_SETFD:
            f->cloexec = (arg & FD_CLOEXEC) != 0;
            return 0;
          case F_DUPFD:
          case F_DUPFD_CLOEXEC: {
            if (f->kind != FdKind::netns) return -EINVAL;  // not simulated for other kinds
            State::Fd copy = *f;
            copy.cloexec = cmd == F_DUPFD_CLOEXEC;
            return s.allocate_fd(std::move(copy));
          }
          default:
            return -EINVAL;
        }
      });
}

int FakeKernel::fcntl_ptr(int fd, int cmd, void* arg) noexcept {
  State& s = *state_;
  return s.call<int>(
      make_record(Call::fcntl_ptr, fd, static_cast<unsigned long>(cmd)), [&](CallRecord&) {
        State::Fd* f = s.find_fd(fd);
        if (f == nullptr) return -EBADF;
        if (arg == nullptr) return -EFAULT;
        auto* owner = static_cast<f_owner_ex*>(arg);
        switch (cmd) {
          case F_GETOWN_EX:
            owner->type = static_cast<decltype(owner->type)>(f->owner_type == 0 ? F_OWNER_PID
                                                                                : f->owner_type);
            owner->pid = f->owner;
            return 0;
          case F_SETOWN_EX:
            if (owner->type != F_OWNER_TID && owner->type != F_OWNER_PID &&
                owner->type != F_OWNER_PGRP) {
              return -EINVAL;
            }
            if (owner->pid != 0 && std::find(s.missing_owners.begin(), s.missing_owners.end(),
                                             owner->pid) != s.missing_owners.end()) {
              return -ESRCH;
            }
            f->owner_type = owner->type;
            f->owner = owner->pid;
            return 0;
          default:
            return -EINVAL;
        }
      });
}

void FakeKernel::set_missing_owner(pid_t id) {
  std::lock_guard lock(state_->mu);
  state_->missing_owners.push_back(id);
}

std::size_t FakeKernel::signals_raised(int fd) const {
  std::lock_guard lock(state_->mu);
  const State::Fd* f = state_->find_fd(fd);
  return f == nullptr ? 0 : f->signals_raised;
}

FakeKernel::SignalState FakeKernel::signal_state(int fd) const {
  std::lock_guard lock(state_->mu);
  const State::Fd* f = state_->find_fd(fd);
  if (f == nullptr) return {};
  return {f->fasync_signal, f->owner_type, f->owner};
}

int FakeKernel::fstat(int fd, struct stat* st) noexcept {
  State& s = *state_;
  return s.call<int>(make_record(Call::fstat, fd), [&](CallRecord&) {
    const State::Fd* f = s.find_fd(fd);
    if (f == nullptr) return -EBADF;
    if (st == nullptr) return -EFAULT;
    *st = {};
    switch (f->kind) {
      case FdKind::tun:
        st->st_mode = S_IFCHR | 0600;
        st->st_rdev = makedev(10, 200);  // MISC_MAJOR, TUN_MINOR
        break;
      case FdKind::inet:
      case FdKind::netlink:
        st->st_mode = S_IFSOCK | 0777;
        break;
      case FdKind::netns:
        st->st_mode = S_IFREG | 0444;
        break;
      case FdKind::event:
      case FdKind::ebpf:
        st->st_mode = 0600;  // an anonymous inode: no file type
        break;
    }
    return 0;
  });
}

int FakeKernel::getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept {
  State& s = *state_;
  return s.call<int>(make_record(Call::getsockopt, fd, static_cast<unsigned long>(level), name),
                     [&](CallRecord&) {
                       const State::Fd* f = s.find_fd(fd);
                       if (f == nullptr) return -EBADF;
                       if (f->kind != FdKind::inet && f->kind != FdKind::netlink) {
                         return -ENOTSOCK;
                       }
                       if (level != SOL_SOCKET || name != SO_TYPE) return -ENOPROTOOPT;
                       if (value == nullptr || len == nullptr || *len < sizeof(int)) {
                         return -EINVAL;
                       }
                       const int type = f->kind == FdKind::inet ? SOCK_DGRAM : SOCK_RAW;
                       std::memcpy(value, &type, sizeof type);
                       *len = sizeof type;
                       return 0;
                     });
}

int FakeKernel::eventfd(unsigned int initval, int flags) noexcept {
  State& s = *state_;
  return s.call<int>(make_record(Call::eventfd, -1, 0, flags), [&](CallRecord& c) {
    if ((flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) != 0) return -EINVAL;
    State::Fd f;
    f.kind = FdKind::event;
    f.status = O_RDWR | (flags & EFD_NONBLOCK);
    f.cloexec = (flags & EFD_CLOEXEC) != 0;
    f.counter = initval;
    f.semaphore = (flags & EFD_SEMAPHORE) != 0;
    c.fd = s.allocate_fd(std::move(f));
    return c.fd;
  });
}

int FakeKernel::add_ebpf_program(bool socket_filter) {
  return add_ebpf_program(socket_filter ? EbpfProgramType::socket_filter : EbpfProgramType::other);
}

int FakeKernel::add_ebpf_program(EbpfProgramType type) {
  std::lock_guard lock(state_->mu);
  State::Fd f;
  f.kind = FdKind::ebpf;
  f.cloexec = true;  // bpf(2) descriptors are O_CLOEXEC
  f.socket_filter_program = type == EbpfProgramType::socket_filter;
  f.xdp_program = type == EbpfProgramType::xdp;
  f.ebpf_prog_id = state_->next_ebpf_prog_id++;
  return state_->allocate_fd(std::move(f));
}

std::uint32_t FakeKernel::ebpf_program_id(int fd) const {
  std::lock_guard lock(state_->mu);
  const State::Fd* f = state_->find_fd(fd);
  return f != nullptr && f->kind == FdKind::ebpf ? f->ebpf_prog_id : 0;
}

std::vector<EbpfInstruction> FakeKernel::ebpf_program_instructions(int fd) const {
  std::lock_guard lock(state_->mu);
  const State::Fd* f = state_->find_fd(fd);
  return f != nullptr && f->kind == FdKind::ebpf ? f->ebpf_insns : std::vector<EbpfInstruction>{};
}

long FakeKernel::bpf(int cmd, void* attr, unsigned int size) noexcept {
  State& s = *state_;
  const auto* a = static_cast<const bpf_attr*>(attr);
  const std::int64_t count = a != nullptr && cmd == BPF_PROG_LOAD ? a->insn_cnt : 0;
  return s.call<long>(
      make_record(Call::bpf, -1, static_cast<unsigned long>(cmd), count),
      [&](CallRecord& c) -> long {
        if (a == nullptr) return -EFAULT;
        if (cmd != BPF_PROG_LOAD || size < offsetof(bpf_attr, prog_name)) return -EINVAL;
        if (a->prog_type != BPF_PROG_TYPE_SOCKET_FILTER) return -EINVAL;
        if (a->insn_cnt == 0 || a->insn_cnt > 1'000'000 || a->insns == 0 || a->license == 0)
          return -EINVAL;
        State::Fd f;
        f.kind = FdKind::ebpf;
        f.cloexec = true;
        f.socket_filter_program = true;
        f.ebpf_prog_id = s.next_ebpf_prog_id++;
        const auto* insns =
            reinterpret_cast<const EbpfInstruction*>(static_cast<std::uintptr_t>(a->insns));
        f.ebpf_insns.assign(insns, insns + a->insn_cnt);
        c.fd = s.allocate_fd(std::move(f));
        return c.fd;
      });
}

std::size_t FakeKernel::open_fd_count() const {
  std::lock_guard lock(state_->mu);
  return state_->fds.size();
}

std::vector<int> FakeKernel::open_fds() const {
  std::lock_guard lock(state_->mu);
  std::vector<int> out;
  out.reserve(state_->fds.size());
  for (const auto& [fd, unused] : state_->fds)
    out.push_back(fd);
  return out;
}

}  // namespace tunkit::testing
