# Small helpers so every component's CMakeLists.txt reads the same way:
#   kvc_cc_library(NAME kvc_common SRCS a.cc b.cc DEPS absl::status PUBLIC_DEPS ...)
#   kvc_cc_binary(NAME kvc-master SRCS main.cc DEPS kvc_store)
#   kvc_cc_test(NAME config_test SRCS config_test.cc DEPS kvc_common [LABELS unit])

set(KVC_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter)

function(kvc_apply_project_flags target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${KVC_WARNINGS}>)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR})
  if(KVC_SANITIZE)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${KVC_SANITIZE} -fno-omit-frame-pointer>)
    target_link_options(${target} PUBLIC -fsanitize=${KVC_SANITIZE})
    if(KVC_SANITIZE MATCHES "thread")
      # gcc warns that TSan does not model std::atomic_thread_fence (Boost.Asio's
      # fenced blocks use it); the warning is about the tool, not our code.
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-tsan>)
    endif()
  endif()
endfunction()

function(kvc_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  kvc_apply_project_flags(${A_NAME})
  target_link_libraries(${A_NAME} PUBLIC ${A_PUBLIC_DEPS} PRIVATE ${A_DEPS})
endfunction()

function(kvc_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  kvc_apply_project_flags(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
endfunction()

# Unit tests: one executable per test file, each gtest case its own ctest test.
function(kvc_cc_test)
  if(NOT KVC_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  # A sanitizer build holds only the unit tests (scripts/test.sh builds target
  # kvc_unit_tests there); multi-process tests run in the normal build.
  if(KVC_SANITIZE AND NOT "unit" IN_LIST A_LABELS)
    return()
  endif()
  if("unit" IN_LIST A_LABELS)
    set_property(GLOBAL APPEND PROPERTY KVC_UNIT_TEST_TARGETS ${A_NAME})
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  kvc_apply_project_flags(${A_NAME})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gmock GTest::gtest_main)
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # DISCOVERY_TIMEOUT: listing the tests of a binary that links cuBLAS first maps
  # hundreds of MiB of CUDA libraries; from a cold page cache that took 17 s here
  # (the default 5 s failed a fresh-clone run before any test ran).
  gtest_discover_tests(${A_NAME}
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 120
    PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
               ENVIRONMENT "KVC_BIN_DIR=${CMAKE_BINARY_DIR}/bin")
endfunction()
