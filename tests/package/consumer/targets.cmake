# The consumer's programs, shared by the find_package consumer (CMakeLists.txt here) and the
# add_subdirectory one (../subproject). Built with strict warnings as errors: tunkit's headers
# must compile cleanly in users' builds too.
set(consumer_warnings -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror)
set(consumer_dir ${CMAKE_CURRENT_LIST_DIR})

add_executable(consumer ${consumer_dir}/main.cpp)
target_link_libraries(consumer PRIVATE tunkit::tunkit)
target_compile_options(consumer PRIVATE ${consumer_warnings})

# tunkit::testing is exported too, for users' own unit tests.
add_executable(consumer_testing ${consumer_dir}/testing.cpp)
target_link_libraries(consumer_testing PRIVATE tunkit::testing)
target_compile_options(consumer_testing PRIVATE ${consumer_warnings})

# tunkit::asio where tunkit has it (EXPECT_ASIO: it must).
if(EXPECT_ASIO AND NOT TARGET tunkit::asio)
  message(FATAL_ERROR "tunkit::asio is missing")
endif()
if(TARGET tunkit::asio)
  add_executable(consumer_asio ${consumer_dir}/asio.cpp)
  target_link_libraries(consumer_asio PRIVATE tunkit::asio)
  target_compile_options(consumer_asio PRIVATE ${consumer_warnings})
endif()

# tunkit::boost_asio likewise (EXPECT_BOOST_ASIO).
if(EXPECT_BOOST_ASIO AND NOT TARGET tunkit::boost_asio)
  message(FATAL_ERROR "tunkit::boost_asio is missing")
endif()
if(TARGET tunkit::boost_asio)
  add_executable(consumer_boost_asio ${consumer_dir}/boost_asio.cpp)
  target_link_libraries(consumer_boost_asio PRIVATE tunkit::boost_asio)
  target_compile_options(consumer_boost_asio PRIVATE ${consumer_warnings})
endif()
