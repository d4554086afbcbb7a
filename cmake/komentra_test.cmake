# komentra_test(NAME name SOURCES a.test.cpp ... LIBS lib ...)
# One CAF unit-test binary per component; its main() comes from caf_test_main.
function(komentra_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE caf_test_main ${T_LIBS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  # -v 4: a failing binary's output (ctest --output-on-failure) shows every check with its line.
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} -n -v 4 -r ${T_TIMEOUT})
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()
