#pragma once
// One include for Catch2 v2 (Debian 12) and v3 (where find_package(Catch2 3) finds it). Tests
// are written against v3's names; where v2 spells a name differently, a shim below gives it the
// v3 name.
#if TUNKIT_CATCH2_V3
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/interfaces/catch_interfaces_capture.hpp>  // getResultCapture(): the test's name
#include <catch2/matchers/catch_matchers_string.hpp>
#else
#include <catch2/catch.hpp>

#include <string>

namespace Catch::Matchers {
// v3's name for v2's Contains (string matcher).
inline StdString::ContainsMatcher ContainsSubstring(const std::string& text,
                                                    CaseSensitive::Choice cs = CaseSensitive::Yes) {
  return Contains(text, cs);
}
}  // namespace Catch::Matchers
#endif
