# A CPU-only process must load a CUDA build of qtorch where no CUDA library is installed:
# the library's dynamic dependencies (readelf -d NEEDED) name no CUDA runtime, driver or
# cuBLAS. Run by ctest with -DLIBRARY=<path of libqtorch.so>.
execute_process(COMMAND readelf -d ${LIBRARY} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf -d ${LIBRARY} failed (${rc})")
endif()
string(REGEX MATCHALL "NEEDED[^\n]*" needed "${dynamic}")
foreach(line ${needed})
  if(line MATCHES "libcudart|libcuda\\.so|libcublas")
    message(FATAL_ERROR "${LIBRARY} needs a CUDA library at load time: ${line}")
  endif()
endforeach()
message(STATUS "${LIBRARY} needs: ${needed}")
