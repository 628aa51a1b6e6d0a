# Catch2 for tunkit's tests: v3 where find_package finds it, else v2 (Debian 12 ships only v2).
# Sets TUNKIT_CATCH2_V3 (1 or 0, also the compile definition that tests/support/catch.hpp
# switches on) and TUNKIT_CATCH2_MAIN: the target that provides main() to the unit tests
# (Catch2::Catch2WithMain with v3; empty with v2, whose main is tests/support/unit_main.cpp).
# Includes Catch, for catch_discover_tests. tests/catch2_v3 checks the v3 path by configure.
find_package(Catch2 3 QUIET)
if(Catch2_FOUND)
  set(TUNKIT_CATCH2_V3 1)
  set(TUNKIT_CATCH2_MAIN Catch2::Catch2WithMain)
else()
  find_package(Catch2 2.13 REQUIRED)
  set(TUNKIT_CATCH2_V3 0)
  set(TUNKIT_CATCH2_MAIN "")
endif()
message(STATUS "tunkit: testing with Catch2 ${Catch2_VERSION}")
include(Catch)
