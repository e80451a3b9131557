// dist::Communicator: the processes of a data-parallel run and the collective operations
// training needs (gather, all-reduce, broadcast). Built on MPI when qtorch is configured
// with QTORCH_MPI and the program runs under mpirun; otherwise a single process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace qtorch::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process's index, from 0, and the number of processes.
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Every process's `mine` (any length each), in rank order; the same on every rank.
  virtual std::vector<std::vector<uint8_t>> all_gather(const std::vector<uint8_t>& mine) = 0;
  /// Element-wise sums over the ranks, in place, the same bits on every rank.
  virtual void all_reduce_sum(float* data, size_t n) = 0;
  virtual void all_reduce_sum(double* data, size_t n) = 0;
  /// Rank `root`'s bytes to every rank.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
};

/// One process: rank 0 of 1; the collectives return their input.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::vector<std::vector<uint8_t>> all_gather(const std::vector<uint8_t>& mine) override { return {mine}; }
  void all_reduce_sum(float*, size_t) override {}
  void all_reduce_sum(double*, size_t) override {}
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
};

/// True when qtorch was built with MPI (QTORCH_MPI).
bool mpi_built();

/// Started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK).
bool launched_by_mpi();

/// MPI for the lifetime of this object: create one in main() before any collective. Under
/// an MPI launcher (and with MPI built) it initialises MPI and world() becomes every
/// process of the launch; otherwise world() is a SingleProcess. A program started by
/// mpirun from a build without MPI throws qtorch::Error saying so (its processes would
/// each train alone). Finalises MPI when destroyed.
class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

/// The processes of this run: MPI_COMM_WORLD inside a Session under mpirun, else one process.
std::shared_ptr<Communicator> world();

/// Ends every process of the run with exit status `code` (MPI_Abort) when world() has more
/// than one process; returns `code` otherwise. For a process that fails on its own (an
/// error only it met): returning from main would finalise MPI while the others wait in a
/// collective for it, and the run would hang.
int end_run_on_error(int code);

}  // namespace qtorch::dist
