#pragma once
// Small eBPF programs for the namespace tests, built from instruction arrays and loaded with the
// bpf(2) syscall: tunkit does not compile programs, and the tests need no compiler for BPF.
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

namespace tunkit::test {

inline bpf_insn bpf_instruction(std::uint8_t code, std::uint8_t dst, std::uint8_t src,
                                std::int16_t off, std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xFU;
  i.src_reg = src & 0xFU;
  i.off = off;
  i.imm = imm;
  return i;
}

// `return action;`: XDP_DROP, XDP_PASS, ...
inline std::vector<bpf_insn> xdp_return(std::int32_t action) {
  return {bpf_instruction(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, action),
          bpf_instruction(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)};
}

// Loads `program` as `type`; the descriptor (close it), or throws with the verifier's log.
inline int load_bpf_program(const std::vector<bpf_insn>& program,
                            bpf_prog_type type = BPF_PROG_TYPE_XDP) {
  static constexpr char kLicense[] = "MIT";
  std::vector<char> log(8192);
  bpf_attr attr{};
  attr.prog_type = type;
  attr.insns = reinterpret_cast<std::uintptr_t>(program.data());
  attr.insn_cnt = static_cast<std::uint32_t>(program.size());
  attr.license = reinterpret_cast<std::uintptr_t>(kLicense);
  attr.log_buf = reinterpret_cast<std::uintptr_t>(log.data());
  attr.log_size = static_cast<std::uint32_t>(log.size());
  attr.log_level = 1;
  const long fd = ::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(),
                            std::string("BPF_PROG_LOAD: ") + log.data());
  }
  return static_cast<int>(fd);
}

// The id the kernel gave the program behind `fd` (bpf_prog_info.id), as IFLA_XDP reports it.
inline std::uint32_t bpf_program_id(int fd) {
  bpf_prog_info info{};
  bpf_attr attr{};
  attr.info.bpf_fd = static_cast<std::uint32_t>(fd);
  attr.info.info_len = sizeof info;
  attr.info.info = reinterpret_cast<std::uintptr_t>(&info);
  if (::syscall(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof attr) != 0) return 0;
  return info.id;
}

// Whether this process may load BPF programs: false when bpf(2) answers EPERM (no CAP_BPF in
// the initial user namespace, as in a rootless run); the caller then skips what needs it.
inline bool may_load_bpf() {
  try {
    const int fd = load_bpf_program(xdp_return(2));
    ::close(fd);
    return true;
  } catch (const std::system_error& e) {
    if (e.code().value() == EPERM) return false;
    throw;
  }
}

}  // namespace tunkit::test
