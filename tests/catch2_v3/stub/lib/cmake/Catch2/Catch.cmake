# The stand-in's Catch module: catch_discover_tests registers the whole executable as one test.
function(catch_discover_tests target)
  add_test(NAME ${target} COMMAND ${target})
endfunction()
