// MPI start-up for the example programs.
#include "examples/common/mpi_start.h"

#include <cstdio>
#include <exception>

namespace qtorch::examples {

std::unique_ptr<dist::Session> start_mpi(int* argc, char*** argv, const char* program) {
  try {
    return std::make_unique<dist::Session>(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return nullptr;
  }
}

}  // namespace qtorch::examples
