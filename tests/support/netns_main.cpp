// Before the namespace tests run: decides once whether network namespaces can be made here.
// When they cannot, every test reports itself skipped with the reason (exit 77, CTest's
// SKIP_RETURN_CODE), except under CI=true, where a skip is a failure. After them: a program in
// which a test skipped part of itself for a missing privilege (privilege_skip.hpp) and nothing
// failed exits 77 too.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "privilege_skip.hpp"
#include "test_main.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

int tunkit_test::before_tests(int argc, char** argv) {
  using tunkit::testing::NetNsSandbox;
  // Listing tests (CTest discovery) needs no namespace.
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--list", 6) == 0) return -1;
  }
  // A run named rootless that is not (root in the initial user namespace) would let privilege
  // skips through where none may happen.
  if (rootless_run() && ::geteuid() == 0) {
    std::fprintf(stderr,
                 "FAILED: TUNKIT_TEST_ROOTLESS=1 but running as root: the rootless run "
                 "must run as an unprivileged user (./dev test --rootless)\n");
    return 1;
  }
  auto why = NetNsSandbox::prepare_process();
  if (!why) why = NetNsSandbox::unavailable_reason();
  if (!why) return -1;
  if (env_is("CI", "true")) {
    std::fprintf(stderr, "FAILED: namespace tests cannot run under CI: %s\n", why->c_str());
    return 1;
  }
  std::printf("skipped: %s\n", why->c_str());
  log_skip(argc > 1 ? argv[1] : "every namespace test", *why);
  return 77;
}

int tunkit_test::after_tests(int status) {
  return status == 0 && skipped_something() ? 77 : status;
}

#if TUNKIT_CATCH2_V3
// With v3 the program has its own main() (catch_impl.cpp is v2's).
#include <catch2/catch_session.hpp>

int main(int argc, char** argv) {
  if (const int rc = tunkit_test::before_tests(argc, argv); rc >= 0) return rc;
  return tunkit_test::after_tests(Catch::Session().run(argc, argv));
}
#endif
