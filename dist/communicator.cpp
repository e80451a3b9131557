// The MPI communicator, and the single-process fallback when MPI is not built or not launched.
#include "qtorch/dist/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

#include "qtorch/core/error.h"

#ifdef QTORCH_WITH_MPI
#include <mpi.h>
#endif

namespace qtorch::dist {
namespace {

std::shared_ptr<Communicator>& world_slot() {
  static std::shared_ptr<Communicator> world = std::make_shared<SingleProcess>();
  return world;
}

#ifdef QTORCH_WITH_MPI
void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  QTORCH_FAIL("MPI: {} failed: {}", what, std::string(text, static_cast<size_t>(length)));
}

int as_count(size_t n, const char* what) {
  QTORCH_CHECK(n <= static_cast<size_t>(std::numeric_limits<int>::max()),
               "MPI: {}: expected at most {} elements in one call, got {}", what,
               std::numeric_limits<int>::max(), n);
  return static_cast<int>(n);
}

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::vector<std::vector<uint8_t>> all_gather(const std::vector<uint8_t>& mine) override {
    int count = as_count(mine.size(), "all_gather");
    std::vector<int> counts(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    check_mpi(MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    size_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<size_t>(r)] = as_count(total, "all_gather");
      total += static_cast<size_t>(counts[static_cast<size_t>(r)]);
    }
    std::vector<uint8_t> all(total);
    check_mpi(MPI_Allgatherv(mine.data(), count, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE,
                             MPI_COMM_WORLD),
              "MPI_Allgatherv");
    std::vector<std::vector<uint8_t>> out(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      auto begin = all.begin() + offsets[static_cast<size_t>(r)];
      out[static_cast<size_t>(r)].assign(begin, begin + counts[static_cast<size_t>(r)]);
    }
    return out;
  }
  // MPI_Allreduce: Open MPI's algorithms compute each element's sum once and share it
  // (ring, or commutative pairwise exchanges), so every rank holds the same bits; the
  // data-parallel tests check that the ranks' weights stay identical.
  void all_reduce_sum(float* data, size_t n) override {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, as_count(n, "all_reduce_sum"), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
  }
  void all_reduce_sum(double* data, size_t n) override {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, as_count(n, "all_reduce_sum"), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
  }
  void broadcast(void* data, size_t bytes, int root) override {
    QTORCH_CHECK(root >= 0 && root < size_, "broadcast: expected a root rank in [0, {}), got {}", size_, root);
    check_mpi(MPI_Bcast(data, as_count(bytes, "broadcast"), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void barrier() override { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

 private:
  int rank_ = 0, size_ = 1;
};

bool initialised_by_us = false;
#endif

}  // namespace

bool mpi_built() {
#ifdef QTORCH_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

Session::Session(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
#ifdef QTORCH_WITH_MPI
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) {
    int provided = 0;
    check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    initialised_by_us = true;
  }
  world_slot() = std::make_shared<MpiWorld>();
#else
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (size != nullptr && std::string(size) == "1") return;  // one process: nothing to share
  QTORCH_FAIL("started by an MPI launcher (mpirun), but this qtorch was built without MPI: every process "
              "would train alone. Install libopenmpi-dev (scripts/install-deps.sh) and rebuild with "
              "-DQTORCH_MPI=ON");
#endif
}

Session::~Session() {
  world_slot() = std::make_shared<SingleProcess>();
#ifdef QTORCH_WITH_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (initialised_by_us && !finalized) MPI_Finalize();
  initialised_by_us = false;
#endif
}

std::shared_ptr<Communicator> world() { return world_slot(); }

int end_run_on_error(int code) {
#ifdef QTORCH_WITH_MPI
  if (world_slot()->size() > 1) {
    std::fflush(nullptr);  // the error line first
    MPI_Abort(MPI_COMM_WORLD, code);
  }
#endif
  return code;
}

}  // namespace qtorch::dist
