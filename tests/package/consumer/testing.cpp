// Links tunkit::testing from the installed package.
#include <tunkit/testing/netns_sandbox.hpp>

int main() {
  // Only proves the symbol resolves; the namespace tests exercise it for real.
  auto* probe = &tunkit::testing::NetNsSandbox::unavailable_reason;
  return probe == nullptr ? 1 : 0;
}
