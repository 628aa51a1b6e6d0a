// Before the namespace tests run: decides once whether network namespaces can be made here.
// When they cannot, every test reports itself skipped with the reason (exit 77, CTest's
// SKIP_RETURN_CODE), except under CI=true, where a skip is a failure.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "test_main.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

int tunkit_test::before_tests(int argc, char** argv) {
  using tunkit::testing::NetNsSandbox;
  // Listing tests (CTest discovery) needs no namespace.
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--list", 6) == 0) return -1;
  }
  auto why = NetNsSandbox::prepare_process();
  if (!why) why = NetNsSandbox::unavailable_reason();
  if (!why) return -1;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::strcmp(ci, "true") == 0) {
    std::fprintf(stderr, "FAILED: namespace tests cannot run under CI: %s\n", why->c_str());
    return 1;
  }
  std::printf("skipped: %s\n", why->c_str());
  return 77;
}

#if TUNKIT_CATCH2_V3
// With v3 the program has its own main() (catch_impl.cpp is v2's).
#include <catch2/catch_session.hpp>

int main(int argc, char** argv) {
  if (const int rc = tunkit_test::before_tests(argc, argv); rc >= 0) return rc;
  return Catch::Session().run(argc, argv);
}
#endif
