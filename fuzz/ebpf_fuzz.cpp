// Fuzzes translate_filter (tunkit/ebpf.hpp): random classic BPF programs, run on a random packet
// by a classic BPF interpreter and, translated, by an interpreter of the eBPF the translation
// emits; both must return the same. The eBPF interpreter also checks what the verifier would:
// jumps inside the program, registers set before they are read (r1..r5 are clobbered after each
// packet load), stack words written before they are read, and an exit at the end of every path.
//
// Input: byte 0 the packet length (0..64), then the packet, then 7 bytes per instruction (an
// index into the opcodes below, jt, jf, k). Jump offsets are folded into the program, and the
// last instruction is made a return, so that most inputs are programs the kernel would take.

#include <linux/bpf.h>
#include <linux/filter.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

#include "tunkit/ebpf.hpp"
#include "tunkit/error.hpp"

#include "fuzz_check.hpp"

namespace {

using tunkit::BpfInstruction;
using tunkit::EbpfInstruction;

constexpr std::array<std::uint16_t, 52> kOpcodes = {
    BPF_LD | BPF_W | BPF_ABS,
    BPF_LD | BPF_H | BPF_ABS,
    BPF_LD | BPF_B | BPF_ABS,
    BPF_LD | BPF_W | BPF_IND,
    BPF_LD | BPF_H | BPF_IND,
    BPF_LD | BPF_B | BPF_IND,
    BPF_LD | BPF_W | BPF_LEN,
    BPF_LD | BPF_IMM,
    BPF_LD | BPF_MEM,
    BPF_LDX | BPF_W | BPF_IMM,
    BPF_LDX | BPF_W | BPF_MEM,
    BPF_LDX | BPF_W | BPF_LEN,
    BPF_LDX | BPF_B | BPF_MSH,
    BPF_ST,
    BPF_STX,
    BPF_ALU | BPF_ADD | BPF_K,
    BPF_ALU | BPF_ADD | BPF_X,
    BPF_ALU | BPF_SUB | BPF_K,
    BPF_ALU | BPF_SUB | BPF_X,
    BPF_ALU | BPF_MUL | BPF_K,
    BPF_ALU | BPF_MUL | BPF_X,
    BPF_ALU | BPF_DIV | BPF_K,
    BPF_ALU | BPF_DIV | BPF_X,
    BPF_ALU | BPF_MOD | BPF_K,
    BPF_ALU | BPF_MOD | BPF_X,
    BPF_ALU | BPF_AND | BPF_K,
    BPF_ALU | BPF_AND | BPF_X,
    BPF_ALU | BPF_OR | BPF_K,
    BPF_ALU | BPF_OR | BPF_X,
    BPF_ALU | BPF_XOR | BPF_K,
    BPF_ALU | BPF_XOR | BPF_X,
    BPF_ALU | BPF_LSH | BPF_K,
    BPF_ALU | BPF_LSH | BPF_X,
    BPF_ALU | BPF_RSH | BPF_K,
    BPF_ALU | BPF_RSH | BPF_X,
    BPF_ALU | BPF_NEG,
    BPF_JMP | BPF_JA,
    BPF_JMP | BPF_JEQ | BPF_K,
    BPF_JMP | BPF_JEQ | BPF_X,
    BPF_JMP | BPF_JGT | BPF_K,
    BPF_JMP | BPF_JGT | BPF_X,
    BPF_JMP | BPF_JGE | BPF_K,
    BPF_JMP | BPF_JGE | BPF_X,
    BPF_JMP | BPF_JSET | BPF_K,
    BPF_JMP | BPF_JSET | BPF_X,
    BPF_RET | BPF_K,
    BPF_RET | BPF_A,
    BPF_MISC | BPF_TAX,
    BPF_MISC | BPF_TXA,
    0xff,  // an opcode that is none: the translation refuses it
    BPF_LD | BPF_H | BPF_ABS,
    BPF_JMP | BPF_JEQ | BPF_K,
};

// Reads `size` bytes at `off` big-endian; nullopt when they are not all in the packet.
std::optional<std::uint32_t> packet_load(std::span<const std::uint8_t> p, std::uint64_t off,
                                         unsigned size) {
  if (off + size > p.size()) return std::nullopt;
  std::uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i)
    v = (v << 8U) | p[off + i];
  return v;
}

unsigned size_of(unsigned code) {
  switch (BPF_SIZE(code)) {
    case BPF_W:
      return 4;
    case BPF_H:
      return 2;
    default:
      return 1;
  }
}

std::uint32_t alu32(unsigned op, std::uint32_t a, std::uint32_t b) {
  switch (op) {
    case BPF_ADD:
      return a + b;
    case BPF_SUB:
      return a - b;
    case BPF_MUL:
      return a * b;
    case BPF_DIV:
      return b == 0 ? 0 : a / b;  // eBPF's answer; classic never gets here with 0
    case BPF_MOD:
      return b == 0 ? a : a % b;
    case BPF_OR:
      return a | b;
    case BPF_AND:
      return a & b;
    case BPF_XOR:
      return a ^ b;
    case BPF_LSH:
      return a << (b & 31U);  // as the x86 JIT; both interpreters alike
    case BPF_RSH:
      return a >> (b & 31U);
    case BPF_NEG:
      return 0U - a;
    case BPF_MOV:
      return b;
    default:
      TUNKIT_FUZZ_CHECK(false && "unexpected ALU op");
      return 0;
  }
}

// Classic BPF as the kernel and libpcap run it (the program is one the translation took).
std::uint32_t run_classic(std::span<const BpfInstruction> prog, std::span<const std::uint8_t> p) {
  std::uint32_t a = 0;
  std::uint32_t x = 0;
  std::array<std::uint32_t, 16> mem{};
  for (std::size_t pc = 0; pc < prog.size(); ++pc) {
    const BpfInstruction& in = prog[pc];
    const unsigned c = in.code;
    switch (BPF_CLASS(c)) {
      case BPF_LD:
        if (BPF_MODE(c) == BPF_ABS || BPF_MODE(c) == BPF_IND) {
          const std::uint64_t off =
              BPF_MODE(c) == BPF_IND ? static_cast<std::uint32_t>(x + in.k) : in.k;
          const auto v = packet_load(p, off, size_of(c));
          if (!v) return 0;
          a = *v;
        } else if (BPF_MODE(c) == BPF_LEN) {
          a = static_cast<std::uint32_t>(p.size());
        } else if (BPF_MODE(c) == BPF_IMM) {
          a = in.k;
        } else {
          a = mem[in.k];
        }
        break;
      case BPF_LDX:
        if (BPF_MODE(c) == BPF_MSH) {
          const auto v = packet_load(p, in.k, 1);
          if (!v) return 0;
          x = 4 * (*v & 0xfU);
        } else if (BPF_MODE(c) == BPF_LEN) {
          x = static_cast<std::uint32_t>(p.size());
        } else if (BPF_MODE(c) == BPF_IMM) {
          x = in.k;
        } else {
          x = mem[in.k];
        }
        break;
      case BPF_ST:
        mem[in.k] = a;
        break;
      case BPF_STX:
        mem[in.k] = x;
        break;
      case BPF_ALU: {
        const std::uint32_t b = BPF_SRC(c) == BPF_X ? x : in.k;
        if ((BPF_OP(c) == BPF_DIV || BPF_OP(c) == BPF_MOD) && b == 0) return 0;
        a = alu32(BPF_OP(c), a, b);
        break;
      }
      case BPF_JMP: {
        if (BPF_OP(c) == BPF_JA) {
          pc += in.k;
          break;
        }
        const std::uint32_t b = BPF_SRC(c) == BPF_X ? x : in.k;
        bool taken = false;
        switch (BPF_OP(c)) {
          case BPF_JEQ:
            taken = a == b;
            break;
          case BPF_JGT:
            taken = a > b;
            break;
          case BPF_JGE:
            taken = a >= b;
            break;
          default:
            taken = (a & b) != 0;
            break;
        }
        pc += taken ? in.jt : in.jf;
        break;
      }
      case BPF_RET:
        return BPF_RVAL(c) == BPF_A ? a : in.k;
      default:  // BPF_MISC
        if (BPF_MISCOP(c) == BPF_TAX)
          x = a;
        else
          a = x;
        break;
    }
  }
  TUNKIT_FUZZ_CHECK(false && "classic program ran off its end");
  return 0;
}

// The eBPF the translation emits, run with the verifier's bookkeeping.
struct EbpfMachine {
  std::array<std::uint64_t, 11> r{};
  std::array<bool, 11> set{};
  std::array<std::uint8_t, 512> stack{};
  std::array<bool, 512> stack_set{};

  std::uint64_t get(unsigned reg) {
    TUNKIT_FUZZ_CHECK(reg <= 10);
    TUNKIT_FUZZ_CHECK(set[reg] && "register read before it was set");
    return r[reg];
  }
  void put(unsigned reg, std::uint64_t v) {
    TUNKIT_FUZZ_CHECK(reg <= 9);
    r[reg] = v;
    set[reg] = true;
  }
  std::size_t slot(std::int16_t off) {
    TUNKIT_FUZZ_CHECK(off < 0 && off >= -512 && off % 4 == 0);
    return static_cast<std::size_t>(512 + off);
  }
};

constexpr std::uint64_t kCtx = 0xC7C7C7C7C7C7C7C7ULL;  // stands for the context pointer
constexpr std::uint64_t kFp = 0xF0F0F0F0F0F0F0F0ULL;   // stands for the frame pointer

std::uint32_t run_ebpf(std::span<const EbpfInstruction> prog, std::span<const std::uint8_t> p) {
  EbpfMachine m;
  m.put(1, kCtx);
  m.r[10] = kFp;
  m.set[10] = true;
  for (std::size_t pc = 0; pc < prog.size(); ++pc) {
    const EbpfInstruction& in = prog[pc];
    const unsigned c = in.code;
    const unsigned cls = BPF_CLASS(c);
    if (cls == BPF_ALU || cls == BPF_ALU64) {
      const unsigned op = BPF_OP(c);
      if (cls == BPF_ALU64) {
        TUNKIT_FUZZ_CHECK(op == BPF_MOV && BPF_SRC(c) == BPF_X);
        m.put(in.dst(), m.get(in.src()));
        continue;
      }
      const std::uint32_t b = op == BPF_NEG         ? 0
                              : BPF_SRC(c) == BPF_X ? static_cast<std::uint32_t>(m.get(in.src()))
                                                    : static_cast<std::uint32_t>(in.imm);
      if (BPF_SRC(c) == BPF_K && (op == BPF_DIV || op == BPF_MOD))
        TUNKIT_FUZZ_CHECK(in.imm != 0 && "the verifier refuses a division by the constant 0");
      if (BPF_SRC(c) == BPF_K && (op == BPF_LSH || op == BPF_RSH))
        TUNKIT_FUZZ_CHECK(in.imm >= 0 && in.imm < 32 && "the verifier refuses this shift");
      const std::uint32_t a = op == BPF_MOV ? 0 : static_cast<std::uint32_t>(m.get(in.dst()));
      m.put(in.dst(), alu32(op, a, b));
      continue;
    }
    if (cls == BPF_JMP || cls == BPF_JMP32) {
      const unsigned op = BPF_OP(c);
      if (c == (BPF_JMP | BPF_EXIT)) return static_cast<std::uint32_t>(m.get(0));
      std::size_t target = pc;
      bool taken = true;
      if (op != BPF_JA) {
        TUNKIT_FUZZ_CHECK(cls == BPF_JMP32);
        const auto a = static_cast<std::uint32_t>(m.get(in.dst()));
        const std::uint32_t b = BPF_SRC(c) == BPF_X ? static_cast<std::uint32_t>(m.get(in.src()))
                                                    : static_cast<std::uint32_t>(in.imm);
        switch (op) {
          case BPF_JEQ:
            taken = a == b;
            break;
          case BPF_JNE:
            taken = a != b;
            break;
          case BPF_JGT:
            taken = a > b;
            break;
          case BPF_JGE:
            taken = a >= b;
            break;
          case BPF_JLT:
            taken = a < b;
            break;
          case BPF_JLE:
            taken = a <= b;
            break;
          case BPF_JSET:
            taken = (a & b) != 0;
            break;
          default:
            TUNKIT_FUZZ_CHECK(false && "unexpected jump");
        }
      } else {
        TUNKIT_FUZZ_CHECK(cls == BPF_JMP && in.regs == 0 && in.imm == 0);
      }
      if (taken) {
        TUNKIT_FUZZ_CHECK(in.off >= 0 && "classic programs jump forward only");
        target = pc + static_cast<std::size_t>(in.off);
        TUNKIT_FUZZ_CHECK(target + 1 < prog.size() && "jump out of the program");
        pc = target;
      }
      continue;
    }
    if (cls == BPF_LD) {
      TUNKIT_FUZZ_CHECK(BPF_MODE(c) == BPF_ABS || BPF_MODE(c) == BPF_IND);
      TUNKIT_FUZZ_CHECK(m.get(6) == kCtx && "packet loads need the context in r6");
      std::uint32_t off = static_cast<std::uint32_t>(in.imm);
      if (BPF_MODE(c) == BPF_IND) off += static_cast<std::uint32_t>(m.get(in.src()));
      const auto v = packet_load(p, off, size_of(c));
      if (!v) return 0;  // the kernel ends the program with 0
      for (unsigned reg = 1; reg <= 5; ++reg)
        m.set[reg] = false;  // clobbered
      m.put(0, *v);
      continue;
    }
    if (cls == BPF_LDX) {
      TUNKIT_FUZZ_CHECK(c == (BPF_LDX | BPF_MEM | BPF_W));
      const std::uint64_t base = m.get(in.src());
      if (base == kCtx) {
        TUNKIT_FUZZ_CHECK(in.off == 0);  // __sk_buff.len
        m.put(in.dst(), p.size());
      } else {
        TUNKIT_FUZZ_CHECK(base == kFp);
        const std::size_t s = m.slot(in.off);
        TUNKIT_FUZZ_CHECK(m.stack_set[s] && "stack read before it was written");
        std::uint32_t v = 0;
        std::memcpy(&v, &m.stack[s], 4);
        m.put(in.dst(), v);
      }
      continue;
    }
    TUNKIT_FUZZ_CHECK((cls == BPF_ST || cls == BPF_STX) && BPF_MODE(c) == BPF_MEM &&
                      BPF_SIZE(c) == BPF_W);
    TUNKIT_FUZZ_CHECK(m.get(in.dst()) == kFp);
    const std::size_t s = m.slot(in.off);
    const auto v = cls == BPF_ST ? static_cast<std::uint32_t>(in.imm)
                                 : static_cast<std::uint32_t>(m.get(in.src()));
    std::memcpy(&m.stack[s], &v, 4);
    for (std::size_t i = 0; i < 4; ++i)
      m.stack_set[s + i] = true;
  }
  TUNKIT_FUZZ_CHECK(false && "eBPF program ran off its end");
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t len = std::min<std::size_t>(data[0] % 65U, size - 1);
  const std::span<const std::uint8_t> packet(data + 1, len);
  std::span<const std::uint8_t> rest(data + 1 + len, size - 1 - len);
  std::vector<BpfInstruction> prog;
  while (rest.size() >= 7 && prog.size() < 256) {
    BpfInstruction in;
    in.code = kOpcodes[rest[0] % kOpcodes.size()];
    in.jt = rest[1];
    in.jf = rest[2];
    in.k = static_cast<std::uint32_t>(rest[3]) | (static_cast<std::uint32_t>(rest[4]) << 8U) |
           (static_cast<std::uint32_t>(rest[5]) << 16U) |
           (static_cast<std::uint32_t>(rest[6]) << 24U);
    // Mostly small constants: offsets into the packet, scratch words, shift counts.
    if ((rest[6] & 0x80U) == 0) in.k %= 80;
    prog.push_back(in);
    rest = rest.subspan(7);
  }
  if (prog.empty()) return 0;
  // Jumps folded into the program; a return at the end.
  for (std::size_t pc = 0; pc < prog.size(); ++pc) {
    BpfInstruction& in = prog[pc];
    const std::size_t room = prog.size() - pc - 1;
    if (BPF_CLASS(in.code) != BPF_JMP || room == 0) continue;
    if (BPF_OP(in.code) == BPF_JA) {
      in.k %= static_cast<std::uint32_t>(room);
    } else {
      in.jt = static_cast<std::uint8_t>(in.jt % std::min<std::size_t>(room, 256));
      in.jf = static_cast<std::uint8_t>(in.jf % std::min<std::size_t>(room, 256));
    }
  }
  if (BPF_CLASS(prog.back().code) != BPF_RET) prog.back().code = BPF_RET | BPF_A;

  std::error_code ec;
  const auto ebpf = tunkit::translate_filter(prog, ec);
  if (ec) {
    TUNKIT_FUZZ_CHECK(ec == tunkit::errc::invalid_program && ebpf.empty());
    return 0;
  }
  const std::uint32_t want = run_classic(prog, packet);
  const std::uint32_t got = run_ebpf(ebpf, packet);
  if (want != got) {
    std::fprintf(stderr, "classic %u, eBPF %u\n", want, got);
    TUNKIT_FUZZ_CHECK(false && "the translation answers otherwise");
  }
  return 0;
}
