// Fuzzes checkpoints (optim/checkpoint.h): the reader, and what a checkpoint is for, the
// restore into a training state.
// - Each input is read twice: as it is, and with the header's payload size and CRC32 made to
//   match the payload, so that the entry parser behind the checksum is reached too.
// - An input that reads is restored into a small training state with every kind of entry: a
//   model with a BatchNorm (buffers), Adam inside OptimLP (moments, step count), a loss
//   scaler, a step schedule, SWA (its average and count), a step counter and the generator.
//   A restore that throws must leave all of that exactly as it was (load_checkpoint's
//   "checks everything before changing anything"); one that succeeds must leave a state
//   that trains a step.
// Only qtorch::Error may escape.
//
// `checkpoint_fuzz --write-seed FILE` writes a checkpoint of that training state after two
// steps (tests/fuzz/corpus/checkpoint/restore_valid), so that mutations start from a file
// whose every entry matches and probe one check at a time.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/nn.h"
#include "qtorch/optim/optim.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace qtorch;

struct SmallRun {
  std::shared_ptr<nn::Sequential> model;
  std::shared_ptr<optim::OptimLP> optimizer;
  optim::LossScaler scaler{{.init_scale = 256, .growth_interval = 2}};
  std::unique_ptr<optim::StepLR> schedule;
  std::unique_ptr<optim::SWA> swa;
  int64_t step = 0;

  SmallRun() {
    manual_seed(1);
    model = nn::sequential({std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::ReLU>(),
                            std::make_shared<nn::BatchNorm1d>(4), std::make_shared<nn::Linear>(4, 2)});
    auto adam = std::make_shared<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 0.01});
    optimizer = std::make_shared<optim::OptimLP>(adam, optim::quant_fn(FixedPoint{8, 6}, Rounding::Nearest));
    schedule = std::make_unique<optim::StepLR>(*optimizer, 2, 0.5);
    swa = std::make_unique<optim::SWA>(model, 1);
  }
  optim::TrainingState state() {
    return {.model = model.get(), .optimizer = optimizer.get(), .scaler = &scaler, .scheduler = schedule.get(),
            .swa = swa.get(), .step = &step};
  }
  void train_step() {
    const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
    optimizer->zero_grad();
    Tensor y = (*model)(x);
    scaler.scale(sum(y * y)).backward();
    scaler.step(*optimizer);
    schedule->step();
    swa->update(step++);
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  return std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

// Every entry the state would save, compared bit for bit (NaN payloads and -0 included).
bool same_state(const optim::CheckpointData& a, const optim::CheckpointData& b) {
  if (a.tensors.size() != b.tensors.size() || a.integers != b.integers || a.texts != b.texts ||
      a.scalars.size() != b.scalars.size())
    return false;
  for (auto ia = a.tensors.begin(), ib = b.tensors.begin(); ia != a.tensors.end(); ++ia, ++ib)
    if (ia->first != ib->first || !same_bits(ia->second, ib->second)) return false;
  for (auto ia = a.scalars.begin(), ib = b.scalars.begin(); ia != a.scalars.end(); ++ia, ++ib)
    if (ia->first != ib->first || std::memcmp(&ia->second, &ib->second, sizeof(double)) != 0) return false;
  return true;
}

void restore(const optim::CheckpointData& data, const std::string& path) {
  SmallRun run;
  const optim::CheckpointData before = optim::checkpoint_data(run.state());
  try {
    optim::restore_checkpoint(data, path, run.state());
  } catch (const Error&) {
    qtorch_fuzz::require(same_state(before, optim::checkpoint_data(run.state())),
                         "a restore that failed changed the training state");
    return;
  }
  try {
    run.train_step();
  } catch (const Error&) {
  }
}

void read_and_restore(const uint8_t* data, size_t size) {
  qtorch_fuzz::MemFile file(data, size);
  optim::CheckpointData c;
  try {
    c = optim::read_checkpoint(file.path());
  } catch (const Error&) {
    return;
  }
  for (const auto& [name, t] : c.tensors) (void)t.numel();
  restore(c, file.path());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (*argc == 3 && std::string((*argv)[1]) == "--write-seed") {
    SmallRun run;
    for (int k = 0; k < 2; ++k) run.train_step();
    optim::save_checkpoint((*argv)[2], run.state());
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  read_and_restore(data, size);
  // Header: magic (8), version (4), reserved (4), payload size (8), CRC32 (4).
  constexpr size_t kHeader = 28;
  if (size >= kHeader) {
    std::vector<uint8_t> fixed(data, data + size);
    std::memcpy(fixed.data(), "QTORCHCK", 8);
    uint64_t payload = size - kHeader;
    std::memcpy(fixed.data() + 16, &payload, 8);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, fixed.data() + kHeader, static_cast<uInt>(payload));
    uint32_t crc32v = static_cast<uint32_t>(crc);
    std::memcpy(fixed.data() + 24, &crc32v, 4);
    read_and_restore(fixed.data(), fixed.size());
  }
  return 0;
}
