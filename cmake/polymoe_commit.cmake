# Writes OUT, a C header defining POLYMOE_COMMIT as `git describe --always --dirty` of the
# source tree SRC, or "unknown" when SRC is not a git checkout (a tarball) or git is missing
# (run with cmake -P at every build). The header is rewritten only when the text changes, so
# an unchanged commit rebuilds nothing.
set(commit unknown)
if(EXISTS "${SRC}/.git")
  execute_process(COMMAND git describe --always --dirty WORKING_DIRECTORY "${SRC}"
                  OUTPUT_VARIABLE described RESULT_VARIABLE rc ERROR_QUIET
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0 AND NOT described STREQUAL "")
    set(commit "${described}")
  endif()
endif()
file(CONFIGURE OUTPUT "${OUT}" CONTENT "#define POLYMOE_COMMIT \"${commit}\"\n" @ONLY)
