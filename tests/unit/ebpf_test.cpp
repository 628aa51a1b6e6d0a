// tunkit::translate_filter and EbpfFilter (tunkit/ebpf.hpp) without a kernel: the eBPF each
// kind of classic instruction becomes, with jumps relinked; every refusal the kernel's classic
// checker would make; BPF_PROG_LOAD as the fake kernel sees it, every way it fails, and the
// program reaching TUNSETFILTEREBPF. What the programs do on packets is checked against libpcap
// in the kernel (tests/netns/pcap_ebpf_netns_test.cpp) and in tests/unit/pcap_ebpf_test.cpp.
#include "tunkit/ebpf.hpp"

#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_tun.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "forwarding_syscalls.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace {

using tunkit::BpfInstruction;
using tunkit::EbpfFilter;
using tunkit::EbpfInstruction;
using tunkit::errc;
using tunkit::testing::FakeKernel;
using Call = FakeKernel::Call;

constexpr BpfInstruction cbpf(std::uint16_t code, std::uint32_t k, std::uint8_t jt = 0,
                              std::uint8_t jf = 0) {
  return {code, jt, jf, k};
}

constexpr EbpfInstruction ebpf_insn(unsigned code, unsigned dst, unsigned src, int off, int imm) {
  return {static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(dst | (src << 4U)),
          static_cast<std::int16_t>(off), static_cast<std::int32_t>(imm)};
}

// What every translation starts with: r6 = context, A = X = 0.
const std::vector<EbpfInstruction> ebpf_prologue = {
    ebpf_insn(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),
    ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 0),
    ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 7, 0, 0, 0),
};

std::vector<EbpfInstruction> ebpf_after_prologue(const std::vector<EbpfInstruction>& all) {
  REQUIRE(all.size() >= ebpf_prologue.size());
  CHECK(std::vector(all.begin(), all.begin() + 3) == ebpf_prologue);
  return {all.begin() + 3, all.end()};
}

// `ip and udp`-like: the EtherType, one comparison, accept or drop.
const std::vector<BpfInstruction> ebpf_is_ipv4 = {
    cbpf(BPF_LD | BPF_H | BPF_ABS, 12),
    cbpf(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 1),
    cbpf(BPF_RET | BPF_K, 0x40000),
    cbpf(BPF_RET | BPF_K, 0),
};

std::string ebpf_refusal(const std::vector<BpfInstruction>& program) {
  try {
    (void)tunkit::translate_filter(program);
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == errc::invalid_program);
    CHECK(e.code() == std::errc::invalid_argument);
    std::error_code ec;
    CHECK(tunkit::translate_filter(program, ec).empty());
    CHECK(ec == errc::invalid_program);
    return e.what();
  }
  FAIL("translate_filter accepted the program");
  return {};
}

// A fake kernel with /proc/sys/kernel/unprivileged_bpf_disabled readable, holding `value`.
class EbpfSysctlKernel : public test::ForwardingSyscalls {
 public:
  explicit EbpfSysctlKernel(std::string value)
      : test::ForwardingSyscalls(kernel), value_(std::move(value)) {}
  FakeKernel kernel;
  int open(const char* path, int flags) noexcept override {
    if (std::string_view(path) != "/proc/sys/kernel/unprivileged_bpf_disabled")
      return ForwardingSyscalls::open(path, flags);
    opened_ = true;
    return kFd;
  }
  ssize_t read(int fd, void* buf, std::size_t count) noexcept override {
    if (fd != kFd) return ForwardingSyscalls::read(fd, buf, count);
    const std::size_t n = std::min(count, value_.size());
    std::memcpy(buf, value_.data(), n);
    return static_cast<ssize_t>(n);
  }
  int close(int fd) noexcept override {
    if (fd != kFd) return ForwardingSyscalls::close(fd);
    opened_ = false;
    return 0;
  }
  [[nodiscard]] bool still_open() const { return opened_; }

 private:
  static constexpr int kFd = 9999;
  std::string value_;
  bool opened_ = false;
};

}  // namespace

TEST_CASE("translate_filter: loads, a comparison and returns, with the jump relinked", "[ebpf]") {
  const auto out = ebpf_after_prologue(tunkit::translate_filter(ebpf_is_ipv4));
  // jt = 0 falls through on equal: one inverted jump (JNE) to the second return, no JA.
  const std::vector<EbpfInstruction> want = {
      ebpf_insn(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12),
      ebpf_insn(BPF_JMP32 | BPF_JNE | BPF_K, 0, 0, 2, 0x800),
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 0x40000),
      ebpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 0),
      ebpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  CHECK(out == want);
}

TEST_CASE("translate_filter: both jump targets, JSET, comparisons with X, unconditional jumps",
          "[ebpf]") {
  const std::vector<BpfInstruction> program = {
      cbpf(BPF_LDX | BPF_W | BPF_IMM, 5),                  // 0
      cbpf(BPF_JMP | BPF_JGT | BPF_X, 0, 1, 2),            // 1: A > X ? 3 : 4
      cbpf(BPF_RET | BPF_K, 1),                            // 2
      cbpf(BPF_JMP | BPF_JSET | BPF_K, 0x80000000, 0, 1),  // 3: JSET has no inverse
      cbpf(BPF_JMP | BPF_JA, 1),                           // 4: to 6
      cbpf(BPF_RET | BPF_K, 2),                            // 5
      cbpf(BPF_RET | BPF_A, 0),                            // 6
  };
  const auto out = ebpf_after_prologue(tunkit::translate_filter(program));
  const std::vector<EbpfInstruction> want = {
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 7, 0, 0, 5),             // 0
      ebpf_insn(BPF_JMP32 | BPF_JGT | BPF_X, 0, 7, 3, 0),           // 1: to 3 (index 5)
      ebpf_insn(BPF_JMP | BPF_JA, 0, 0, 4, 0),                      //    else to 4 (index 7)
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 1),             // 2
      ebpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                    //
      ebpf_insn(BPF_JMP32 | BPF_JSET | BPF_K, 0, 0, 1, INT32_MIN),  // 3: to 4 (index 7)
      ebpf_insn(BPF_JMP | BPF_JA, 0, 0, 1, 0),                      //    else to 5 (index 8)
      ebpf_insn(BPF_JMP | BPF_JA, 0, 0, 2, 0),                      // 4: to 6 (index 10)
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 2),             // 5
      ebpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                    //
      ebpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                    // 6
  };
  // Index by index, so that a wrong one is named.
  REQUIRE(out.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("instruction " << i);
    CHECK(out[i] == want[i]);
  }
}

TEST_CASE("translate_filter: LDX MSH keeps A; division by X returns 0 when X is 0", "[ebpf]") {
  const std::vector<BpfInstruction> program = {
      cbpf(BPF_LD | BPF_IMM, 7),          cbpf(BPF_LDX | BPF_B | BPF_MSH, 14),
      cbpf(BPF_ALU | BPF_DIV | BPF_X, 0), cbpf(BPF_LD | BPF_B | BPF_IND, 9),
      cbpf(BPF_RET | BPF_A, 0),
  };
  const auto out = ebpf_after_prologue(tunkit::translate_filter(program));
  const std::vector<EbpfInstruction> want = {
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 7),
      // X = 4 * (P[14] & 0xf), A saved in r8 around the load.
      ebpf_insn(BPF_ALU64 | BPF_MOV | BPF_X, 8, 0, 0, 0),
      ebpf_insn(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 14),
      ebpf_insn(BPF_ALU | BPF_AND | BPF_K, 0, 0, 0, 0xf),
      ebpf_insn(BPF_ALU | BPF_LSH | BPF_K, 0, 0, 0, 2),
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_X, 7, 0, 0, 0),
      ebpf_insn(BPF_ALU64 | BPF_MOV | BPF_X, 0, 8, 0, 0),
      // if X != 0 skip the `return 0`.
      ebpf_insn(BPF_JMP32 | BPF_JNE | BPF_K, 7, 0, 2, 0),
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 0),
      ebpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      ebpf_insn(BPF_ALU | BPF_DIV | BPF_X, 0, 7, 0, 0),
      ebpf_insn(BPF_LD | BPF_IND | BPF_B, 0, 7, 0, 9),
      ebpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  CHECK(out == want);
}

TEST_CASE("translate_filter: scratch memory on the stack, zeroed first; length; TAX/TXA",
          "[ebpf]") {
  const std::vector<BpfInstruction> program = {
      cbpf(BPF_LD | BPF_W | BPF_LEN, 0),  cbpf(BPF_ST, 3),
      cbpf(BPF_LDX | BPF_W | BPF_LEN, 0), cbpf(BPF_STX, 15),
      cbpf(BPF_MISC | BPF_TAX, 0),        cbpf(BPF_LD | BPF_MEM, 15),
      cbpf(BPF_LDX | BPF_W | BPF_MEM, 3), cbpf(BPF_MISC | BPF_TXA, 0),
      cbpf(BPF_ALU | BPF_NEG, 0),         cbpf(BPF_ALU | BPF_XOR | BPF_K, 0xffffffff),
      cbpf(BPF_RET | BPF_A, 0),
  };
  const auto out = ebpf_after_prologue(tunkit::translate_filter(program));
  const int m3 = -4 * (16 - 3);
  const int m15 = -4;
  const std::vector<EbpfInstruction> want = {
      ebpf_insn(BPF_ST | BPF_MEM | BPF_W, 10, 0, m3, 0),  // the words used, in order
      ebpf_insn(BPF_ST | BPF_MEM | BPF_W, 10, 0, m15, 0),
      ebpf_insn(BPF_LDX | BPF_MEM | BPF_W, 0, 6, 0, 0),  // __sk_buff.len
      ebpf_insn(BPF_STX | BPF_MEM | BPF_W, 10, 0, m3, 0),
      ebpf_insn(BPF_LDX | BPF_MEM | BPF_W, 7, 6, 0, 0),
      ebpf_insn(BPF_STX | BPF_MEM | BPF_W, 10, 7, m15, 0),
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_X, 7, 0, 0, 0),
      ebpf_insn(BPF_LDX | BPF_MEM | BPF_W, 0, 10, m15, 0),
      ebpf_insn(BPF_LDX | BPF_MEM | BPF_W, 7, 10, m3, 0),
      ebpf_insn(BPF_ALU | BPF_MOV | BPF_X, 0, 7, 0, 0),
      ebpf_insn(BPF_ALU | BPF_NEG, 0, 0, 0, 0),
      ebpf_insn(BPF_ALU | BPF_XOR | BPF_K, 0, 0, 0, -1),
      ebpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  CHECK(out == want);
}

TEST_CASE("translate_filter: refuses what the kernel's classic checker refuses, by instruction",
          "[ebpf]") {
  using V = std::vector<BpfInstruction>;
  const BpfInstruction ret = cbpf(BPF_RET | BPF_K, 0);
  CHECK(ebpf_refusal({}) ==
        "tunkit: translate filter: invalid BPF program (instruction 0: the program is empty)");
  CHECK(ebpf_refusal(V(4097, ret)) ==
        "tunkit: translate filter: invalid BPF program (instruction 4096: more than 4096 "
        "instructions)");
  CHECK(ebpf_refusal({cbpf(BPF_LD | BPF_IMM, 1)}) ==
        "tunkit: translate filter: invalid BPF program (instruction 0: the last instruction is "
        "not a return)");
  CHECK(ebpf_refusal({cbpf(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), ret}) ==
        "tunkit: translate filter: invalid BPF program (instruction 0: jump past the end of the "
        "program)");
  CHECK(ebpf_refusal({cbpf(BPF_JMP | BPF_JA, 1), ret}) ==
        "tunkit: translate filter: invalid BPF program (instruction 0: jump past the end of the "
        "program)");
  CHECK(ebpf_refusal({cbpf(BPF_ALU | BPF_DIV | BPF_K, 0), ret}) ==
        "tunkit: translate filter: invalid BPF program (instruction 0: division by the constant "
        "0)");
  CHECK(ebpf_refusal({cbpf(BPF_ALU | BPF_MOD | BPF_K, 0), ret}).find("division") !=
        std::string::npos);
  CHECK(ebpf_refusal({cbpf(BPF_ALU | BPF_LSH | BPF_K, 32), ret}) ==
        "tunkit: translate filter: invalid BPF program (instruction 0: shift by 32 or more)");
  CHECK(ebpf_refusal({cbpf(BPF_ST, 16), ret}) ==
        "tunkit: translate filter: invalid BPF program (instruction 0: scratch memory index past "
        "M[15])");
  CHECK(ebpf_refusal({cbpf(BPF_LD | BPF_IMM, 1), cbpf(0xff, 0), ret}) ==
        "tunkit: translate filter: invalid BPF program (instruction 1: unknown opcode)");
  CHECK(ebpf_refusal({cbpf(BPF_RET | BPF_X, 0)}).find("unknown opcode") != std::string::npos);
  // SKF_AD_OFF + SKF_AD_PROTOCOL: the kernel's ancillary data, which eBPF loads cannot reach.
  CHECK(
      ebpf_refusal({cbpf(BPF_LD | BPF_H | BPF_ABS, static_cast<std::uint32_t>(SKF_AD_OFF)), ret}) ==
      "tunkit: translate filter: invalid BPF program (instruction 0: an ancillary load "
      "(SKF_AD_OFF), which eBPF has not)");
  // M[2] read where one path has not written it (the jump skips the store).
  CHECK(ebpf_refusal({cbpf(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), cbpf(BPF_ST, 2),
                      cbpf(BPF_LD | BPF_MEM, 2), ret}) ==
        "tunkit: translate filter: invalid BPF program (instruction 2: reads a scratch word no "
        "path has written)");
}

TEST_CASE("translate_filter: the network and link-layer offsets load as in the kernel", "[ebpf]") {
  // SKF_NET_OFF + 9: the IP protocol from the network header, whatever the link layer.
  const auto k = static_cast<std::uint32_t>(SKF_NET_OFF + 9);
  const std::vector<BpfInstruction> program = {cbpf(BPF_LD | BPF_B | BPF_ABS, k),
                                               cbpf(BPF_RET | BPF_A, 0)};
  const auto out = ebpf_after_prologue(tunkit::translate_filter(program));
  REQUIRE(out.size() == 2);
  CHECK(out[0] == ebpf_insn(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, SKF_NET_OFF + 9));
}

TEST_CASE("EbpfFilter::load: one BPF_PROG_LOAD of the translation, owned and closed",
          "[ebpf][fake]") {
  FakeKernel k;
  const auto before = k.open_fd_count();
  {
    auto filter = EbpfFilter::load(ebpf_is_ipv4, k);
    REQUIRE(filter);
    CHECK(filter.size() == tunkit::translate_filter(ebpf_is_ipv4).size());
    CHECK(k.ebpf_program_instructions(filter.fd()) == tunkit::translate_filter(ebpf_is_ipv4));
    const auto loads = test::calls_of(k, Call::bpf);
    REQUIRE(loads.size() == 1);
    CHECK(loads[0].request == BPF_PROG_LOAD);
    CHECK(loads[0].arg == static_cast<std::int64_t>(filter.size()));
    CHECK(loads[0].result == filter.fd());

    // Moving hands the descriptor over; close() releases it once.
    EbpfFilter moved = std::move(filter);
    CHECK_FALSE(filter);  // NOLINT(bugprone-use-after-move): moved-from state is documented
    CHECK(filter.fd() == -1);
    CHECK(moved);
    EbpfFilter other;
    other = std::move(moved);
    CHECK(other);
    CHECK(k.open_fd_count() == before + 1);
  }
  CHECK(k.open_fd_count() == before);
}

TEST_CASE("EbpfFilter: the program reaches TUNSETFILTEREBPF and stays after the object closes",
          "[ebpf][fake]") {
  FakeKernel k;
  tunkit::TunDevice dev({.name = "tfilt0"}, k);
  auto filter = EbpfFilter::load(ebpf_is_ipv4, k);
  dev.set_filter_ebpf(filter.fd());
  CHECK(k.device("tfilt0")->filter_ebpf == filter.fd());
  dev.set_filter_ebpf(-1);
  CHECK(k.device("tfilt0")->filter_ebpf == -1);
}

TEST_CASE("EbpfFilter::load: each refusal names its cause; nothing is left open", "[ebpf][fake]") {
  FakeKernel k;
  const auto before = k.open_fd_count();
  SECTION("EPERM: the capability it needs") {
    k.fail_next(Call::bpf, EPERM);
    const auto e = test::thrown_by([&] { (void)EbpfFilter::load(ebpf_is_ipv4, k); });
    CHECK(e.code() == test::sys(EPERM));
    // The fake has no /proc/sys: the hint says what loading needs.
    CHECK(std::string(e.what()) ==
          "tunkit: BPF_PROG_LOAD: operation not permitted (loading an eBPF program needs CAP_BPF "
          "or CAP_SYS_ADMIN)");
  }
  SECTION("EPERM: the sysctl that decides it, as read") {
    EbpfSysctlKernel sysctl("2\n");
    sysctl.kernel.fail_next(Call::bpf, EPERM);
    const auto e = test::thrown_by([&] { (void)EbpfFilter::load(ebpf_is_ipv4, sysctl); });
    CHECK(std::string(e.what()) ==
          "tunkit: BPF_PROG_LOAD: operation not permitted (kernel.unprivileged_bpf_disabled is 2: "
          "loading needs CAP_BPF or CAP_SYS_ADMIN)");
    CHECK_FALSE(sysctl.still_open());
    EbpfSysctlKernel open_to_all("0\n");
    open_to_all.kernel.fail_next(Call::bpf, EPERM);
    const auto other = test::thrown_by([&] { (void)EbpfFilter::load(ebpf_is_ipv4, open_to_all); });
    CHECK(std::string(other.what()) ==
          "tunkit: BPF_PROG_LOAD: operation not permitted (kernel.unprivileged_bpf_disabled is 0: "
          "a security module or seccomp refused it)");
  }
  SECTION("EINVAL: the load is tried again with the verifier's log") {
    k.fail_next(Call::bpf, EINVAL);
    k.fail_next(Call::bpf, EINVAL);
    const auto e = test::thrown_by([&] { (void)EbpfFilter::load(ebpf_is_ipv4, k); });
    CHECK(e.code() == test::sys(EINVAL));
    CHECK(test::calls_of(k, Call::bpf).size() == 2);
    // The fake writes no log: no verifier words to quote.
    CHECK(std::string(e.what()) == "tunkit: BPF_PROG_LOAD: invalid argument");
  }
  SECTION("EINVAL once: the second load, with the log, succeeds") {
    k.fail_next(Call::bpf, EINVAL);
    auto filter = EbpfFilter::load(ebpf_is_ipv4, k);
    CHECK(filter);
  }
  SECTION("EAGAIN is retried") {
    k.fail_next(Call::bpf, EAGAIN);
    k.fail_next(Call::bpf, EAGAIN);
    auto filter = EbpfFilter::load(ebpf_is_ipv4, k);
    CHECK(filter);
    CHECK(test::calls_of(k, Call::bpf).size() == 3);
  }
  SECTION("ENOSYS: a kernel without bpf(2)") {
    k.fail_next(Call::bpf, ENOSYS);
    const auto e = test::thrown_by([&] { (void)EbpfFilter::load(ebpf_is_ipv4, k); });
    CHECK(std::string(e.what()) ==
          "tunkit: BPF_PROG_LOAD: function not implemented (the kernel has no bpf(2) "
          "(CONFIG_BPF_SYSCALL))");
  }
  SECTION("the non-throwing form") {
    std::error_code ec;
    k.fail_next(Call::bpf, EPERM);
    auto filter = EbpfFilter::load(ebpf_is_ipv4, ec, k);
    CHECK(ec == test::sys(EPERM));
    CHECK_FALSE(filter);
    auto bad = EbpfFilter::load({}, ec, k);
    CHECK(ec == errc::invalid_program);
    CHECK_FALSE(bad);
  }
  SECTION("an invalid program never reaches the kernel") {
    const std::vector<BpfInstruction> no_return = {cbpf(BPF_LD | BPF_IMM, 1)};
    const auto e = test::thrown_by([&] { (void)EbpfFilter::load(no_return, k); });
    CHECK(e.code() == errc::invalid_program);
    CHECK(test::calls_of(k, Call::bpf).empty());
  }
  CHECK(k.open_fd_count() == before);
}
