// MPI start-up shared by the example programs: a dist::Session for main(), or the error
// line "PROGRAM: error: ..." when the program cannot start (run by mpirun from a build
// without MPI).
#pragma once

#include <memory>

#include "qtorch/dist/communicator.h"

namespace qtorch::examples {

/// The program's MPI session (one process when not started by mpirun); null after
/// printing the error on stderr.
std::unique_ptr<dist::Session> start_mpi(int* argc, char*** argv, const char* program);

}  // namespace qtorch::examples
