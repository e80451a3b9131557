# Writes OUT (a header defining QREPRO_BUILD_COMMIT) with the commit of SOURCE_DIR's tree as it
# is built, "-dirty" when tracked files differ from it; rewritten only when that changes, so a
# build recompiles provenance.cpp exactly when the commit or the dirty flag moved.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse HEAD OUTPUT_VARIABLE sha
                RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT rc EQUAL 0 OR sha STREQUAL "")
  set(sha "unknown")
else()
  execute_process(COMMAND git -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE changes RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT rc EQUAL 0)
    set(sha "${sha}-unknown-state")
  elseif(NOT changes STREQUAL "")
    set(sha "${sha}-dirty")
  endif()
endif()
set(content "#define QREPRO_BUILD_COMMIT \"${sha}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUT}" "${content}")
endif()
