// The communication-format study: paired arms that differ only in the format gradients
// are exchanged in (float32, 8-bit block with stochastic rounding, 4-bit block without and
// with error feedback), trained data-parallel over the MPI processes on the same seeds,
// and criteria that test the known effect (Seide et al. 2014; Karimireddy et al. 2019).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qcomm {

struct StudyOptions {
  int64_t seed_base = 0;
  int64_t seeds = 5;
  int64_t epochs = 2;
  int64_t limit_train = 20000;  ///< first N training images
  int64_t batch_per_rank = 64;
  bool quick = false;           ///< smoke size; judges only the byte counts
  std::string data_dir;
  std::string command;          ///< for the provenance
};

/// One arm: the recipe text of its communication (e.g. "comm=block:8:0 stochastic").
struct Arm {
  std::string name, comm;
};
const std::vector<Arm>& arms();

/// Trains every arm on every seed over dist::world()'s processes; prints the tables and
/// criteria on rank 0 and returns the JSON report (the same on every rank). `passed` is
/// set to whether every criterion held.
nlohmann::ordered_json run_study(const StudyOptions& options, bool& passed);

}  // namespace qcomm
