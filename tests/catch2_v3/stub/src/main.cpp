// Stand-in for Catch2 v3's Catch2WithMain (see lib/cmake/Catch2/Catch2Config.cmake).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
