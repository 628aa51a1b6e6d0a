// tunkit::pcap filters: tcpdump expressions compiled by libpcap into the kernel's classic BPF.
#include <pcap/pcap.h>

#include <fmt/format.h>

#include <mutex>
#include <string>
#include <utility>

#include "tunkit/error.hpp"
#include "tunkit/pcap.hpp"

namespace tunkit::pcap {
namespace {

// pcap_compile was not reentrant before libpcap 1.8 (a global lexer and parser), and a program
// may link another libpcap than the one tunkit was built with: every compile of tunkit's is
// serialised here.
std::mutex& pcap_compile_mutex() {
  static std::mutex m;
  return m;
}

// The DLT_ value pcap_open_dead wants for a link type (DLT_RAW is 12 on Linux, not 101).
int dlt_of(LinkType link) noexcept {
  switch (link) {
    case LinkType::ethernet:
      return DLT_EN10MB;
    case LinkType::raw:
      return DLT_RAW;
  }
  return -1;
}

// The outcome of one compile: the program, or the code and the text for the message.
struct Compiled {
  std::vector<BpfInstruction> program;
  std::error_code ec;
  std::string text;  // libpcap's words when ec is set
};

Compiled compile(std::string_view expression, LinkType link, std::uint32_t snaplen) {
  Compiled out;
  const int dlt = dlt_of(link);
  if (dlt < 0) {
    out.ec = errc::invalid_filter;
    out.text = fmt::format("link type {} not supported (ethernet or raw)",
                           static_cast<std::uint32_t>(link));
    return out;
  }
  const std::string expr(expression);  // NUL-terminated for libpcap
  const std::lock_guard lock(pcap_compile_mutex());
  pcap_t* p = pcap_open_dead(dlt, static_cast<int>(std::min<std::uint32_t>(snaplen, 0x7fffffff)));
  if (p == nullptr) {
    out.ec = std::make_error_code(std::errc::not_enough_memory);
    out.text = "out of memory";
    return out;
  }
  bpf_program prog{};
  if (pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    out.ec = errc::invalid_filter;
    out.text = pcap_geterr(p);
    pcap_close(p);
    return out;
  }
  out.program.reserve(prog.bf_len);
  for (unsigned i = 0; i < prog.bf_len; ++i) {
    const bpf_insn& in = prog.bf_insns[i];
    out.program.push_back({in.code, in.jt, in.jf, in.k});
  }
  pcap_freecode(&prog);
  pcap_close(p);
  return out;
}

}  // namespace

std::vector<BpfInstruction> compile_filter(std::string_view expression, LinkType link,
                                           std::uint32_t snaplen) {
  Compiled c = compile(expression, link, snaplen);
  if (c.ec) {
    throw Error(c.ec, fmt::format("tunkit: compile filter \"{}\": {}", expression, c.text));
  }
  return std::move(c.program);
}

std::vector<BpfInstruction> compile_filter(std::string_view expression, LinkType link,
                                           std::uint32_t snaplen, std::error_code& ec) noexcept {
  try {
    Compiled c = compile(expression, link, snaplen);
    ec = c.ec;
    return std::move(c.program);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

std::uint32_t run_filter(std::span<const BpfInstruction> program,
                         std::span<const std::byte> packet) noexcept {
  if (program.empty()) return 0;
  // BpfInstruction is laid out as struct sock_filter, which is libpcap's struct bpf_insn.
  static_assert(sizeof(BpfInstruction) == sizeof(bpf_insn));
  std::vector<bpf_insn> insns;
  try {
    insns.reserve(program.size());
  } catch (const std::bad_alloc&) {
    return 0;
  }
  for (const BpfInstruction& i : program)
    insns.push_back({i.code, i.jt, i.jf, i.k});
  bpf_program prog{static_cast<unsigned>(insns.size()), insns.data()};
  if (bpf_validate(prog.bf_insns, static_cast<int>(prog.bf_len)) == 0) return 0;
  const auto len = static_cast<unsigned>(packet.size());
  return bpf_filter(prog.bf_insns, reinterpret_cast<const u_char*>(packet.data()), len, len);
}

bool matches(std::span<const BpfInstruction> program, std::span<const std::byte> packet) noexcept {
  return run_filter(program, packet) != 0;
}

}  // namespace tunkit::pcap
