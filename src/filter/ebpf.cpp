// Classic BPF programs translated into eBPF socket filters, and loaded (tunkit/ebpf.hpp).
//
// The translation keeps classic BPF's machine: A lives in w0 (where eBPF's packet loads put
// their result, which is what A = P[k] means), X in w7 and the context (the socket buffer) in r6,
// both kept across packet loads, which clobber r1..r5; M[0..15] are 4-byte stack slots. Every
// operation is 32 bits wide, as classic BPF's are: ALU32 for arithmetic, JMP32 for comparisons
// (JMP would sign-extend a constant of 2^31 or more).
#include "tunkit/ebpf.hpp"

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "detail/eintr.hpp"
#include "tunkit/error.hpp"

namespace tunkit {
namespace {

constexpr std::uint8_t kRegA = BPF_REG_0;
constexpr std::uint8_t kRegCtx = BPF_REG_6;
constexpr std::uint8_t kRegX = BPF_REG_7;
constexpr std::uint8_t kRegSaved = BPF_REG_8;  // A while LDX MSH loads a byte
constexpr std::uint8_t kRegFp = BPF_REG_10;
constexpr std::size_t kMaxClassic = BPF_MAXINSNS;
constexpr std::uint32_t kScratchWords = BPF_MEMWORDS;
// Loads at these offsets read the kernel's ancillary data (protocol, ifindex, ...), not the
// packet: classic BPF only. SKF_NET_OFF and SKF_LL_OFF lie below and are eBPF's too.
constexpr std::int32_t kAncillaryFirst = SKF_AD_OFF;

EbpfInstruction ebpf(unsigned code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
                     std::int32_t imm) noexcept {
  return {static_cast<std::uint8_t>(code),
          static_cast<std::uint8_t>((dst & 0x0fU) | ((src & 0x0fU) << 4U)), off, imm};
}

std::int16_t scratch_slot(std::uint32_t k) noexcept {
  return static_cast<std::int16_t>(-4 * static_cast<int>(kScratchWords - k));
}

bool is_ancillary(std::uint32_t k) noexcept {
  const auto offset = static_cast<std::int32_t>(k);
  return offset >= kAncillaryFirst && offset < 0;
}

// Why the kernel (or the translation) refuses a program, and at which instruction.
struct Refusal {
  std::size_t index = 0;
  std::string_view why;
};

bool valid_alu(std::uint16_t code) noexcept {
  switch (BPF_OP(code)) {
    case BPF_ADD:
    case BPF_SUB:
    case BPF_MUL:
    case BPF_DIV:
    case BPF_OR:
    case BPF_AND:
    case BPF_LSH:
    case BPF_RSH:
    case BPF_MOD:
    case BPF_XOR:
      return (code & ~(BPF_CLASS(0xff) | BPF_OP(0xff) | BPF_SRC(0xff))) == 0;
    case BPF_NEG:
      return code == (BPF_ALU | BPF_NEG);
    default:
      return false;
  }
}

// One instruction, as the kernel's classic checker sees it alone.
std::optional<std::string_view> check_one(const BpfInstruction& in, std::size_t pc,
                                          std::size_t len) {
  const std::uint16_t c = in.code;
  switch (BPF_CLASS(c)) {
    case BPF_ALU:
      if (!valid_alu(c)) return "unknown opcode";
      if (BPF_SRC(c) == BPF_K && (BPF_OP(c) == BPF_DIV || BPF_OP(c) == BPF_MOD) && in.k == 0)
        return "division by the constant 0";
      if (BPF_SRC(c) == BPF_K && (BPF_OP(c) == BPF_LSH || BPF_OP(c) == BPF_RSH) && in.k >= 32)
        return "shift by 32 or more";
      return std::nullopt;
    case BPF_JMP:
      if (c == (BPF_JMP | BPF_JA)) {
        if (in.k >= len - pc - 1) return "jump past the end of the program";
        return std::nullopt;
      }
      switch (c & ~BPF_SRC(0xff)) {
        case BPF_JMP | BPF_JEQ:
        case BPF_JMP | BPF_JGT:
        case BPF_JMP | BPF_JGE:
        case BPF_JMP | BPF_JSET:
          if (pc + in.jt + 1 >= len || pc + in.jf + 1 >= len)
            return "jump past the end of the program";
          return std::nullopt;
        default:
          return "unknown opcode";
      }
    case BPF_LD:
      switch (c) {
        case BPF_LD | BPF_W | BPF_ABS:
        case BPF_LD | BPF_H | BPF_ABS:
        case BPF_LD | BPF_B | BPF_ABS:
          if (is_ancillary(in.k)) return "an ancillary load (SKF_AD_OFF), which eBPF has not";
          return std::nullopt;
        case BPF_LD | BPF_W | BPF_IND:
        case BPF_LD | BPF_H | BPF_IND:
        case BPF_LD | BPF_B | BPF_IND:
        case BPF_LD | BPF_W | BPF_LEN:
        case BPF_LD | BPF_IMM:
          return std::nullopt;
        case BPF_LD | BPF_MEM:
          if (in.k >= kScratchWords) return "scratch memory index past M[15]";
          return std::nullopt;
        default:
          return "unknown opcode";
      }
    case BPF_LDX:
      switch (c) {
        case BPF_LDX | BPF_W | BPF_IMM:
        case BPF_LDX | BPF_W | BPF_LEN:
          return std::nullopt;
        case BPF_LDX | BPF_B | BPF_MSH:
          if (is_ancillary(in.k)) return "an ancillary load (SKF_AD_OFF), which eBPF has not";
          return std::nullopt;
        case BPF_LDX | BPF_W | BPF_MEM:
          if (in.k >= kScratchWords) return "scratch memory index past M[15]";
          return std::nullopt;
        default:
          return "unknown opcode";
      }
    case BPF_ST:
    case BPF_STX:
      if (c != BPF_ST && c != BPF_STX) return "unknown opcode";
      if (in.k >= kScratchWords) return "scratch memory index past M[15]";
      return std::nullopt;
    case BPF_RET:
      if (c != (BPF_RET | BPF_K) && c != (BPF_RET | BPF_A)) return "unknown opcode";
      return std::nullopt;
    case BPF_MISC:
      if (c != (BPF_MISC | BPF_TAX) && c != (BPF_MISC | BPF_TXA)) return "unknown opcode";
      return std::nullopt;
    default:
      return "unknown opcode";
  }
}

// The kernel's classic checker: every instruction, the last one a return, and no scratch word
// read on a path where it was not written first.
std::optional<Refusal> check_classic(std::span<const BpfInstruction> p) {
  if (p.empty()) return Refusal{0, "the program is empty"};
  if (p.size() > kMaxClassic) return Refusal{kMaxClassic, "more than 4096 instructions"};
  for (std::size_t pc = 0; pc < p.size(); ++pc) {
    if (auto why = check_one(p[pc], pc, p.size())) return Refusal{pc, *why};
  }
  const std::uint16_t last = p.back().code;
  if (last != (BPF_RET | BPF_K) && last != (BPF_RET | BPF_A))
    return Refusal{p.size() - 1, "the last instruction is not a return"};
  // Which words are written on every path into each instruction.
  std::vector<std::uint16_t> written_on_entry(p.size(), 0xffff);
  std::uint16_t written = 0;
  for (std::size_t pc = 0; pc < p.size(); ++pc) {
    written &= written_on_entry[pc];
    const BpfInstruction& in = p[pc];
    switch (in.code) {
      case BPF_ST:
      case BPF_STX:
        written |= static_cast<std::uint16_t>(1U << in.k);
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_W | BPF_MEM:
        if ((written & (1U << in.k)) == 0)
          return Refusal{pc, "reads a scratch word no path has written"};
        break;
      case BPF_JMP | BPF_JA:
        written_on_entry[pc + 1 + in.k] &= written;
        written = 0xffff;
        break;
      default:
        if (BPF_CLASS(in.code) == BPF_JMP) {
          written_on_entry[pc + 1 + in.jt] &= written;
          written_on_entry[pc + 1 + in.jf] &= written;
          written = 0xffff;
        }
        break;
    }
  }
  return std::nullopt;
}

unsigned inverse_jump(unsigned op) noexcept {
  switch (op) {
    case BPF_JEQ:
      return BPF_JNE;
    case BPF_JGT:
      return BPF_JLE;
    default:  // BPF_JGE
      return BPF_JLT;
  }
}

// Translates a program check_classic accepted.
class Translator {
 public:
  explicit Translator(std::span<const BpfInstruction> p) : p_(p), start_(p.size() + 1, 0) {}

  std::optional<Refusal> run(std::vector<EbpfInstruction>& out) {
    out_ = &out;
    prologue();
    for (std::size_t pc = 0; pc < p_.size(); ++pc) {
      start_[pc] = out.size();
      emit(pc, p_[pc]);
    }
    start_[p_.size()] = out.size();
    for (const Fixup& f : fixups_) {
      const auto off =
          static_cast<std::ptrdiff_t>(start_[f.target]) - static_cast<std::ptrdiff_t>(f.at + 1);
      if (off > INT16_MAX) return Refusal{f.pc, "a jump too long for eBPF"};
      out[f.at].off = static_cast<std::int16_t>(off);
    }
    return std::nullopt;
  }

 private:
  struct Fixup {
    std::size_t at;      // the eBPF jump
    std::size_t target;  // the classic instruction it goes to
    std::size_t pc;      // the classic jump
  };

  void put(EbpfInstruction i) { out_->push_back(i); }
  void jump_to(unsigned code, std::uint8_t src, std::int32_t imm, std::size_t target,
               std::size_t pc) {
    fixups_.push_back({out_->size(), target, pc});
    put(ebpf(code, kRegA, src, 0, imm));
  }

  // r6 = the context; A = X = 0 (classic BPF starts so; the verifier reads no unset register);
  // the scratch words the program uses = 0 (the verifier reads no unset stack either).
  void prologue() {
    put(ebpf(BPF_ALU64 | BPF_MOV | BPF_X, kRegCtx, BPF_REG_1, 0, 0));
    put(ebpf(BPF_ALU | BPF_MOV | BPF_K, kRegA, 0, 0, 0));
    put(ebpf(BPF_ALU | BPF_MOV | BPF_K, kRegX, 0, 0, 0));
    std::uint32_t used = 0;
    for (const BpfInstruction& in : p_) {
      if (in.code == BPF_ST || in.code == BPF_STX || in.code == (BPF_LD | BPF_MEM) ||
          in.code == (BPF_LDX | BPF_W | BPF_MEM))
        used |= 1U << in.k;
    }
    for (std::uint32_t k = 0; k < kScratchWords; ++k) {
      if ((used & (1U << k)) != 0)
        put(ebpf(BPF_ST | BPF_MEM | BPF_W, kRegFp, 0, scratch_slot(k), 0));
    }
  }

  void emit(std::size_t pc, const BpfInstruction& in) {
    const auto k = static_cast<std::int32_t>(in.k);
    const std::uint16_t c = in.code;
    switch (BPF_CLASS(c)) {
      case BPF_ALU:
        return alu(c, k);
      case BPF_JMP:
        return jump(pc, in);
      case BPF_RET:
        if (c == (BPF_RET | BPF_K)) put(ebpf(BPF_ALU | BPF_MOV | BPF_K, kRegA, 0, 0, k));
        put(ebpf(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        return;
      case BPF_MISC:
        if (c == (BPF_MISC | BPF_TAX))
          put(ebpf(BPF_ALU | BPF_MOV | BPF_X, kRegX, kRegA, 0, 0));
        else
          put(ebpf(BPF_ALU | BPF_MOV | BPF_X, kRegA, kRegX, 0, 0));
        return;
      case BPF_ST:
        put(ebpf(BPF_STX | BPF_MEM | BPF_W, kRegFp, kRegA, scratch_slot(in.k), 0));
        return;
      case BPF_STX:
        put(ebpf(BPF_STX | BPF_MEM | BPF_W, kRegFp, kRegX, scratch_slot(in.k), 0));
        return;
      default:
        return load(c, in.k, k);
    }
  }

  void alu(std::uint16_t c, std::int32_t k) {
    const unsigned op = BPF_OP(c);
    if (op == BPF_NEG) return put(ebpf(BPF_ALU | BPF_NEG, kRegA, 0, 0, 0));
    if (BPF_SRC(c) == BPF_K) return put(ebpf(BPF_ALU | op | BPF_K, kRegA, 0, 0, k));
    if (op == BPF_DIV || op == BPF_MOD) {
      // Classic BPF returns 0 on a division by X = 0; eBPF would go on with 0 or A.
      put(ebpf(BPF_JMP32 | BPF_JNE | BPF_K, kRegX, 0, 2, 0));
      put(ebpf(BPF_ALU | BPF_MOV | BPF_K, kRegA, 0, 0, 0));
      put(ebpf(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    }
    put(ebpf(BPF_ALU | op | BPF_X, kRegA, kRegX, 0, 0));
  }

  void jump(std::size_t pc, const BpfInstruction& in) {
    if (in.code == (BPF_JMP | BPF_JA)) {
      jump_to(BPF_JMP | BPF_JA, 0, 0, pc + 1 + in.k, pc);
      return;
    }
    const unsigned op = BPF_OP(in.code);
    const bool x = BPF_SRC(in.code) == BPF_X;
    const std::uint8_t src = x ? kRegX : 0;
    const std::int32_t imm = x ? 0 : static_cast<std::int32_t>(in.k);
    const unsigned kind = x ? BPF_X : BPF_K;
    const std::size_t on_true = pc + 1 + in.jt;
    const std::size_t on_false = pc + 1 + in.jf;
    if (on_true == on_false) {
      if (on_true != pc + 1) jump_to(BPF_JMP | BPF_JA, 0, 0, on_true, pc);
    } else if (in.jt == 0 && op != BPF_JSET) {
      jump_to(BPF_JMP32 | inverse_jump(op) | kind, src, imm, on_false, pc);
    } else {
      jump_to(BPF_JMP32 | op | kind, src, imm, on_true, pc);
      if (in.jf != 0) jump_to(BPF_JMP | BPF_JA, 0, 0, on_false, pc);
    }
  }

  void load(std::uint16_t c, std::uint32_t uk, std::int32_t k) {
    constexpr std::int16_t kLenOffset = offsetof(__sk_buff, len);
    switch (c) {
      case BPF_LD | BPF_IMM:
        return put(ebpf(BPF_ALU | BPF_MOV | BPF_K, kRegA, 0, 0, k));
      case BPF_LDX | BPF_W | BPF_IMM:
        return put(ebpf(BPF_ALU | BPF_MOV | BPF_K, kRegX, 0, 0, k));
      case BPF_LD | BPF_MEM:
        return put(ebpf(BPF_LDX | BPF_MEM | BPF_W, kRegA, kRegFp, scratch_slot(uk), 0));
      case BPF_LDX | BPF_W | BPF_MEM:
        return put(ebpf(BPF_LDX | BPF_MEM | BPF_W, kRegX, kRegFp, scratch_slot(uk), 0));
      case BPF_LD | BPF_W | BPF_LEN:
        return put(ebpf(BPF_LDX | BPF_MEM | BPF_W, kRegA, kRegCtx, kLenOffset, 0));
      case BPF_LDX | BPF_W | BPF_LEN:
        return put(ebpf(BPF_LDX | BPF_MEM | BPF_W, kRegX, kRegCtx, kLenOffset, 0));
      case BPF_LDX | BPF_B | BPF_MSH:
        // X = 4 * (P[k] & 0xf), A unchanged.
        put(ebpf(BPF_ALU64 | BPF_MOV | BPF_X, kRegSaved, kRegA, 0, 0));
        put(ebpf(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, k));
        put(ebpf(BPF_ALU | BPF_AND | BPF_K, kRegA, 0, 0, 0xf));
        put(ebpf(BPF_ALU | BPF_LSH | BPF_K, kRegA, 0, 0, 2));
        put(ebpf(BPF_ALU | BPF_MOV | BPF_X, kRegX, kRegA, 0, 0));
        put(ebpf(BPF_ALU64 | BPF_MOV | BPF_X, kRegA, kRegSaved, 0, 0));
        return;
      default:
        // LD ABS / IND of W, H or B: eBPF's packet loads (network byte order to host, the
        // program ends with 0 when the load is out of bounds), with the same opcodes.
        put(ebpf(c, 0, BPF_MODE(c) == BPF_IND ? kRegX : 0, 0, k));
        return;
    }
  }

  std::span<const BpfInstruction> p_;
  std::vector<std::size_t> start_;  // the first eBPF instruction of each classic one
  std::vector<Fixup> fixups_;
  std::vector<EbpfInstruction>* out_ = nullptr;
};

std::optional<Refusal> translate(std::span<const BpfInstruction> program,
                                 std::vector<EbpfInstruction>& out) {
  if (auto refusal = check_classic(program)) return refusal;
  out.reserve(program.size() * 2 + 8);
  return Translator(program).run(out);
}

[[noreturn]] void refuse(const Refusal& r) {
  throw make_error(errc::invalid_program, "translate filter", {},
                   fmt::format("instruction {}: {}", r.index, r.why));
}

// One BPF_PROG_LOAD; the verifier's log into `log` when it is not empty.
long prog_load(const std::vector<EbpfInstruction>& insns, sys::Syscalls& sys,
               std::span<char> log) noexcept {
  static constexpr char kLicense[] = "MIT";
  static_assert(sizeof(EbpfInstruction) == sizeof(bpf_insn));
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insns = reinterpret_cast<std::uintptr_t>(insns.data());
  attr.insn_cnt = static_cast<std::uint32_t>(insns.size());
  attr.license = reinterpret_cast<std::uintptr_t>(kLicense);
  std::memcpy(attr.prog_name, "tunkit_filter", sizeof "tunkit_filter");
  if (!log.empty()) {
    log[0] = '\0';
    attr.log_buf = reinterpret_cast<std::uintptr_t>(log.data());
    attr.log_size = static_cast<std::uint32_t>(log.size());
    attr.log_level = 1;
  }
  long r = -EAGAIN;
  // The kernel may answer EAGAIN when the verifier was interrupted; libbpf retries too.
  for (int attempt = 0; attempt < 5 && (r == -EAGAIN || r == -EINTR); ++attempt)
    r = sys.bpf(BPF_PROG_LOAD, &attr, sizeof attr);
  return r;
}

// The value of kernel.unprivileged_bpf_disabled, read through the seam; empty when unreadable.
std::string unprivileged_bpf_disabled(sys::Syscalls& sys) {
  const int fd = sys.open("/proc/sys/kernel/unprivileged_bpf_disabled", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::array<char, 16> buf{};
  const ssize_t n = sys.read(fd, buf.data(), buf.size() - 1);
  sys.close(fd);
  if (n <= 0) return {};
  std::string value(buf.data(), static_cast<std::size_t>(n));
  while (!value.empty() && (value.back() == '\n' || value.back() == ' '))
    value.pop_back();
  return value;
}

// The last line the verifier wrote that says something.
std::string last_words(std::string_view log) {
  while (!log.empty() && (log.back() == '\n' || log.back() == '\0' || log.back() == ' '))
    log.remove_suffix(1);
  const std::size_t nl = log.rfind('\n');
  return std::string(nl == std::string_view::npos ? log : log.substr(nl + 1));
}

// The cause of a failed load in words, from what tunkit can observe.
std::string load_hint(std::error_code ec, sys::Syscalls& sys, std::string_view verifier) {
  if (detail::is_errno(ec, EPERM)) {
    const std::string disabled = unprivileged_bpf_disabled(sys);
    if (disabled.empty()) return "loading an eBPF program needs CAP_BPF or CAP_SYS_ADMIN";
    if (disabled == "0")
      return "kernel.unprivileged_bpf_disabled is 0: a security module or seccomp refused it";
    return fmt::format(
        "kernel.unprivileged_bpf_disabled is {}: loading needs CAP_BPF or CAP_SYS_ADMIN", disabled);
  }
  if (detail::is_errno(ec, ENOSYS)) return "the kernel has no bpf(2) (CONFIG_BPF_SYSCALL)";
  if ((detail::is_errno(ec, EINVAL) || detail::is_errno(ec, EACCES)) && !verifier.empty())
    return fmt::format("the verifier refused it: {}", verifier);
  return {};
}

}  // namespace

std::vector<EbpfInstruction> translate_filter(std::span<const BpfInstruction> program) {
  std::vector<EbpfInstruction> out;
  if (auto refusal = translate(program, out)) refuse(*refusal);
  return out;
}

std::vector<EbpfInstruction> translate_filter(std::span<const BpfInstruction> program,
                                              std::error_code& ec) noexcept {
  ec.clear();
  try {
    std::vector<EbpfInstruction> out;
    if (translate(program, out)) {
      ec = errc::invalid_program;
      return {};
    }
    return out;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

EbpfFilter EbpfFilter::load(std::span<const BpfInstruction> program, sys::Syscalls& sys) {
  const std::vector<EbpfInstruction> insns = translate_filter(program);
  const long fd = prog_load(insns, sys, {});
  if (fd >= 0) return EbpfFilter(static_cast<int>(fd), insns.size(), sys);
  const std::error_code ec(static_cast<int>(-fd), std::system_category());
  std::string verifier;
  if (detail::is_errno(ec, EINVAL) || detail::is_errno(ec, EACCES)) {
    // Once more with the verifier's log, for its words.
    std::vector<char> log(64 * 1024);
    const long again = prog_load(insns, sys, log);
    if (again >= 0) return EbpfFilter(static_cast<int>(again), insns.size(), sys);
    verifier = last_words(std::string_view(log.data(), strnlen(log.data(), log.size())));
  }
  throw make_error(ec, "BPF_PROG_LOAD", {}, load_hint(ec, sys, verifier));
}

EbpfFilter EbpfFilter::load(std::span<const BpfInstruction> program, std::error_code& ec,
                            sys::Syscalls& sys) noexcept {
  const std::vector<EbpfInstruction> insns = translate_filter(program, ec);
  if (ec) return {};
  const long fd = prog_load(insns, sys, {});
  if (fd < 0) {
    ec.assign(static_cast<int>(-fd), std::system_category());
    return {};
  }
  return EbpfFilter(static_cast<int>(fd), insns.size(), sys);
}

EbpfFilter::EbpfFilter(EbpfFilter&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      size_(std::exchange(other.size_, 0)),
      sys_(std::exchange(other.sys_, nullptr)) {}

EbpfFilter& EbpfFilter::operator=(EbpfFilter&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    size_ = std::exchange(other.size_, 0);
    sys_ = std::exchange(other.sys_, nullptr);
  }
  return *this;
}

EbpfFilter::~EbpfFilter() {
  close();
}

void EbpfFilter::close() noexcept {
  if (fd_ >= 0 && sys_ != nullptr) sys_->close(fd_);
  fd_ = -1;
  size_ = 0;
}

}  // namespace tunkit
