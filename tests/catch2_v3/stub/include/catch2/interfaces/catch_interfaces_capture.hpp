#pragma once
// Stand-in for Catch2 v3's header of that name (see lib/cmake/Catch2/Catch2Config.cmake).
#include <catch2/catch.hpp>
