// The tunkit tool's text handling: numbers from the command line, and device names (any bytes
// but '/', ':', white space and NUL: dev_valid_name() in net/core/dev.c) printed safely in text
// and in JSON. Header-only so that tests/unit/tunkit_cli_text_test.cpp checks it directly.
#pragma once

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace tunkit_cli {

/// A decimal number from 0 to `max`: digits only (no sign, no space, no "0x"), or nullopt.
/// std::from_chars into 64 bits reports an overflow instead of wrapping, whatever the width of
/// `unsigned long` (32 bits on some targets: 4294967296 must not become 0).
[[nodiscard]] inline std::optional<std::uint64_t> parse_decimal(std::string_view text,
                                                                std::uint64_t max) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, 10);
  if (ec != std::errc{} || ptr != end || v > max) return std::nullopt;
  return v;
}

/// A number from 0 to `max`, decimal or hexadecimal with "0x" (as `ethtool msglvl 0x7` takes
/// it): digits only after the prefix (no sign, no space), or nullopt. Overflow is refused as in
/// parse_decimal.
[[nodiscard]] inline std::optional<std::uint64_t> parse_decimal_or_hex(std::string_view text,
                                                                       std::uint64_t max) {
  if (!text.starts_with("0x") && !text.starts_with("0X")) return parse_decimal(text, max);
  const std::string_view digits = text.substr(2);
  if (digits.empty() || std::isxdigit(static_cast<unsigned char>(digits.front())) == 0) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  const char* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, v, 16);
  if (ec != std::errc{} || ptr != end || v > max) return std::nullopt;
  return v;
}

/// The kernel's white space in names (isspace() of lib/ctype.c): ASCII white space and the
/// Latin-1 no-break space 0xA0.
[[nodiscard]] constexpr bool is_kernel_space(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u == ' ' || (u >= '\t' && u <= '\r') || u == 0xA0;
}

/// What is wrong with `name` as the name of a device (the kernel's dev_valid_name() and
/// dev_alloc_name() rules), or an empty string when nothing is. With `template_ok` (create's
/// --name) one "%d" after a prefix is allowed ("vpn%d"); elsewhere a template names no device.
/// The tool refuses, as usage errors, two names the kernel would take: "" (tunkit create would
/// quietly make tun0) and a template without a prefix ("%d" would make a device named "0").
[[nodiscard]] inline std::string name_problem(std::string_view name, bool template_ok) {
  if (name.empty()) {
    return template_ok ? "an empty name is not a name (leave out --name for the kernel's "
                         "tun%d or tap%d)"
                       : "an empty name is not a name";
  }
  if (name.size() > 15) {
    return fmt::format("\"{}\" is {} bytes long: a device name has at most 15", name, name.size());
  }
  if (name == "." || name == "..") return fmt::format("\"{}\" is not a device name", name);
  const std::size_t percent = name.find('%');
  for (const char c : name) {
    if (c == '/' || c == ':' || is_kernel_space(c)) {
      return fmt::format("\"{}\": a device name has no '/', ':' or white space", name);
    }
  }
  if (percent == std::string_view::npos) return {};
  if (!template_ok) return fmt::format("\"{}\" is a template, not a device name", name);
  if (name.substr(percent, 2) != "%d" || name.find('%', percent + 1) != std::string_view::npos) {
    return fmt::format("\"{}\": a template has one %d and no other '%'", name);
  }
  if (percent == 0) {
    return fmt::format(
        "\"{}\": a template needs a prefix before %d, e.g. vpn%d (the kernel "
        "would name the device with the number alone)",
        name);
  }
  return {};
}

/// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4), or 0 when it is not
/// one (a stray continuation byte, a truncated sequence, an overlong form, a surrogate, a code
/// point above U+10FFFF). `cp` gets the code point.
[[nodiscard]] inline std::size_t utf8_sequence(std::string_view s, char32_t& cp) noexcept {
  if (s.empty()) return 0;
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  std::size_t n = 0;
  char32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1Fu;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0Fu;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07u;
    min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

/// A code point a terminal may act on instead of showing: C0 controls, DEL, C1 controls.
[[nodiscard]] constexpr bool is_control(char32_t cp) noexcept {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/// `s` with every byte a terminal could act on written as `\xNN`: control characters (also C1
/// controls in UTF-8) and bytes that are not well-formed UTF-8. With `quoting`, backslash and
/// single quote are escaped too (`\\`, `\'`), for the inside of a $'...' string.
[[nodiscard]] inline std::string escape_bytes(std::string_view s, bool quoting = false) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t at = 0; at < s.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_sequence(s.substr(at), cp);
    if (n == 0 || is_control(cp)) {
      const std::size_t bad = n == 0 ? 1 : n;
      for (std::size_t i = 0; i < bad; ++i) {
        fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned char>(s[at + i]));
      }
      at += bad;
      continue;
    }
    if (quoting && (cp == '\\' || cp == '\'')) out += '\\';
    out.append(s.substr(at, n));
    at += n;
  }
  return out;
}

/// A device name (or any other word from the system) for text output: as it is when every byte
/// prints as itself, else in the shell's $'...' quoting with `\xNN` for the other bytes, so that
/// it can be pasted back into a command: `tunkit show $'u\xff\xfe'`.
[[nodiscard]] inline std::string shown(std::string_view name) {
  const std::string plain = escape_bytes(name);
  if (plain == name) return plain;
  return "$'" + escape_bytes(name, true) + "'";
}

/// `s` as a JSON string (RFC 8259), quotes included. JSON text is Unicode: well-formed UTF-8
/// passes through; control characters (C0, DEL, C1) become `\u00XX`; each byte that is not part
/// of well-formed UTF-8 becomes U+FFFD, the replacement character, since a JSON string cannot
/// carry raw bytes (the text output shows them exactly, as `\xNN`).
[[nodiscard]] inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (std::size_t at = 0; at < s.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_sequence(s.substr(at), cp);
    if (n == 0) {
      out += "\\ufffd";
      ++at;
      continue;
    }
    if (cp == '"' || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (is_control(cp)) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(cp));
    } else {
      out.append(s.substr(at, n));
    }
    at += n;
  }
  out += '"';
  return out;
}

}  // namespace tunkit_cli
