// Checkpoints: resuming gives bit-identical weights to an uninterrupted run; truncated,
// corrupt, foreign and mismatched files raise qtorch::Error and change nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/nn.h"
#include "qtorch/optim/optim.h"

using namespace qtorch;
namespace fs = std::filesystem;

namespace {

optim::QuantFn grid(float step) {
  return [step](const Tensor& x) {
    std::vector<float> v = x.to_vector();
    for (float& e : v) e = std::round(e / step) * step;
    return Tensor::from_vector(v, x.shape(), x.device());
  };
}

// Everything a low-precision training run carries between steps.
struct TrainRun {
  std::shared_ptr<nn::Sequential> model;
  std::shared_ptr<optim::SGD> sgd;
  std::shared_ptr<optim::OptimLP> opt;
  optim::LossScaler scaler{{.init_scale = 256, .growth_interval = 2}};
  std::unique_ptr<optim::StepLR> sched;
  std::unique_ptr<optim::SWA> swa;
  int64_t step = 0;

  explicit TrainRun(uint64_t init_seed, int64_t hidden = 8) {
    manual_seed(init_seed);
    model = nn::sequential({std::make_shared<nn::Linear>(4, hidden), std::make_shared<nn::ReLU>(),
                            std::make_shared<nn::Dropout>(0.2f),
                            std::make_shared<nn::Linear>(hidden, 3)});
    sgd = std::make_shared<optim::SGD>(model->parameters(),
                                       optim::SGDOptions{.lr = 0.2, .momentum = 0.9, .weight_decay = 1e-3});
    opt = std::make_shared<optim::OptimLP>(sgd, grid(1.0f / 256), 1.0, grid(1.0f / 4096),
                                           grid(1.0f / 1024), grid(1.0f / 65536));
    sched = std::make_unique<optim::StepLR>(*opt, 2, 0.5);
    swa = std::make_unique<optim::SWA>(model, 2);
  }

  optim::TrainingState state() {
    return {.model = model.get(), .optimizer = opt.get(), .scaler = &scaler,
            .scheduler = sched.get(), .swa = swa.get(), .step = &step};
  }

  void train(const Tensor& x, const Tensor& y, int steps) {
    nn::CrossEntropyLoss loss_fn;
    for (int k = 0; k < steps; ++k) {
      opt->zero_grad();
      scaler.scale(loss_fn(model->forward(x), y)).backward();
      scaler.step(*opt);
      sched->step();
      swa->update(step);
      ++step;
    }
  }
};

std::vector<std::vector<float>> values_of(const nn::Module& m) {
  std::vector<std::vector<float>> out;
  for (const auto& [n, t] : m.state_dict()) out.push_back(t.to_vector());
  return out;
}

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qtorch_ckpt_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    manual_seed(99);
    x_ = randn({8, 4});
    y_ = Tensor::from_vector({0, 1, 2, 0, 1, 2, 0, 1}, {8});
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A valid checkpoint of a run after 3 steps.
  std::string saved() {
    TrainRun run(1);
    manual_seed(42);
    run.train(x_, y_, 3);
    std::string p = path("run.ckpt");
    optim::save_checkpoint(p, run.state());
    return p;
  }

  void expect_load_fails(const std::string& file, const std::string& what) {
    TrainRun fresh(5);
    auto before = values_of(*fresh.model);
    double lr = fresh.opt->lr();
    try {
      optim::load_checkpoint(file, fresh.state());
      ADD_FAILURE() << "expected qtorch::Error mentioning '" << what << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
    EXPECT_EQ(values_of(*fresh.model), before);
    EXPECT_EQ(fresh.opt->lr(), lr);
    EXPECT_EQ(fresh.opt->step_count(), 0);
    EXPECT_EQ(fresh.step, 0);
  }

  fs::path dir_;
  Tensor x_, y_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_F(Checkpoint, ResumeIsBitIdenticalToAnUninterruptedRun) {
  TrainRun straight(1);
  manual_seed(42);
  straight.train(x_, y_, 6);

  {
    TrainRun first(1);
    manual_seed(42);
    first.train(x_, y_, 3);
    optim::save_checkpoint(path("mid.ckpt"), first.state());
  }
  TrainRun resumed(7);  // different initial weights and generator state
  manual_seed(12345);
  optim::load_checkpoint(path("mid.ckpt"), resumed.state());
  EXPECT_EQ(resumed.step, 3);
  resumed.train(x_, y_, 3);

  EXPECT_EQ(values_of(*resumed.model), values_of(*straight.model));
  EXPECT_EQ(values_of(*resumed.swa->averaged_model()), values_of(*straight.swa->averaged_model()));
  for (size_t i = 0; i < straight.model->parameters().size(); ++i)
    EXPECT_EQ(resumed.opt->accumulator(i).to_vector(), straight.opt->accumulator(i).to_vector());
  std::vector<std::vector<float>> ms, mr;
  straight.opt->for_each_state([&](Tensor& t) { ms.push_back(t.to_vector()); });
  resumed.opt->for_each_state([&](Tensor& t) { mr.push_back(t.to_vector()); });
  EXPECT_EQ(ms, mr);
  EXPECT_EQ(resumed.scaler.get_scale(), straight.scaler.get_scale());
  EXPECT_EQ(resumed.opt->lr(), straight.opt->lr());
  EXPECT_EQ(resumed.opt->step_count(), straight.opt->step_count());
  EXPECT_EQ(default_generator().offset(), [&] {
    TrainRun again(1);
    manual_seed(42);
    again.train(x_, y_, 6);
    return default_generator().offset();
  }());
}

TEST_F(Checkpoint, RawRoundTripAndAtomicWrite) {
  optim::CheckpointData data;
  data.tensors.insert("a", Tensor::from_vector({1.5f, -2, 3e-38f, 7}, {2, 2}));
  data.tensors.insert("empty", zeros({0, 3}));
  data.scalars["lr"] = 0.1;
  data.integers["big"] = -(int64_t{1} << 62);
  optim::write_checkpoint(path("raw.ckpt"), data);
  optim::write_checkpoint(path("raw.ckpt"), data);  // overwriting works too
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename(), "raw.ckpt");  // no temporary left behind
  optim::CheckpointData back = optim::read_checkpoint(path("raw.ckpt"));
  EXPECT_EQ(back.tensors.at("a").shape(), (Shape{2, 2}));
  EXPECT_EQ(back.tensors.at("a").to_vector(), data.tensors.at("a").to_vector());
  EXPECT_EQ(back.tensors.at("empty").shape(), (Shape{0, 3}));
  EXPECT_EQ(back.scalars.at("lr"), 0.1);
  EXPECT_EQ(back.integers.at("big"), -(int64_t{1} << 62));
  EXPECT_THROW(optim::write_checkpoint(path("no/such/dir/x.ckpt"), data), Error);
}

TEST_F(Checkpoint, MissingFile) { expect_load_fails(path("absent.ckpt"), "readable"); }

TEST_F(Checkpoint, TruncatedFile) {
  std::string bytes = read_bytes(saved());
  write_bytes(path("cut.ckpt"), bytes.substr(0, bytes.size() / 2));
  expect_load_fails(path("cut.ckpt"), "truncated");
  write_bytes(path("header.ckpt"), bytes.substr(0, 12));
  expect_load_fails(path("header.ckpt"), "truncated");
  write_bytes(path("empty.ckpt"), "");
  expect_load_fails(path("empty.ckpt"), "truncated");
}

TEST_F(Checkpoint, CorruptFile) {
  std::string bytes = read_bytes(saved());
  bytes[bytes.size() - 5] ^= 0x10;
  write_bytes(path("flip.ckpt"), bytes);
  expect_load_fails(path("flip.ckpt"), "checksum");
}

TEST_F(Checkpoint, ForeignFileAndOtherVersion) {
  write_bytes(path("foreign.ckpt"), "PK\x03\x04 this is a zip file, not a checkpoint at all");
  expect_load_fails(path("foreign.ckpt"), "foreign");
  std::string bytes = read_bytes(saved());
  bytes[8] = 99;
  write_bytes(path("v99.ckpt"), bytes);
  expect_load_fails(path("v99.ckpt"), "version");
}

TEST_F(Checkpoint, ShapeMismatchLeavesEverythingUntouched) {
  std::string file = saved();
  TrainRun wide(5, /*hidden=*/16);
  auto before = values_of(*wide.model);
  try {
    optim::load_checkpoint(file, wide.state());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
  EXPECT_EQ(values_of(*wide.model), before);
  EXPECT_EQ(wide.step, 0);
}

TEST_F(Checkpoint, MissingPartIsAnError) {
  TrainRun run(1);
  optim::save_checkpoint(path("model_only.ckpt"), {.model = run.model.get()});
  expect_load_fails(path("model_only.ckpt"), "optimizer");
  // Loading just the model from it works.
  TrainRun other(3);
  optim::load_checkpoint(path("model_only.ckpt"), {.model = other.model.get(), .rng = false});
  EXPECT_EQ(values_of(*other.model), values_of(*run.model));
}

// A checkpoint with a valid checksum but impossible values is rejected when loaded, naming
// the file and the entry, and changes nothing.
TEST_F(Checkpoint, ImpossibleValuesAreRejectedNamingTheEntry) {
  const optim::CheckpointData good = optim::read_checkpoint(saved());
  auto expect_rejected = [&](const std::string& name, const std::function<void(optim::CheckpointData&)>& edit,
                             const std::string& entry) {
    optim::CheckpointData data = good;
    edit(data);
    optim::write_checkpoint(path(name), data);
    expect_load_fails(path(name), "'" + path(name) + "': entry '" + entry);
  };
  expect_rejected("step.ckpt", [](auto& d) { d.integers["step"] = -5; }, "step");
  expect_rejected("swa.ckpt", [](auto& d) { d.integers["swa/count"] = -3; }, "swa/count");
  expect_rejected("sched.ckpt", [](auto& d) { d.integers["scheduler/epoch"] = -7; }, "scheduler/epoch");
  expect_rejected("skipped.ckpt", [](auto& d) { d.integers["scaler/skipped"] = -1; }, "scaler/skipped");
  expect_rejected("inf.ckpt", [](auto& d) { d.scalars["scaler/scale"] = INFINITY; }, "scaler/scale");
  expect_rejected("nan.ckpt", [](auto& d) { d.scalars["scaler/scale"] = NAN; }, "scaler/scale");
  expect_rejected("zero.ckpt", [](auto& d) { d.scalars["scaler/scale"] = 0; }, "scaler/scale");
  expect_rejected("count.ckpt", [](auto& d) { d.scalars["optim/step_count"] = 1e300; }, "optim/step_count");
  expect_rejected("frac.ckpt", [](auto& d) { d.scalars["optim/step_count"] = 2.5; }, "optim/step_count");
  for (double lr : {-1.0, double(NAN)}) {  // learning rates set_lr refuses
    optim::CheckpointData data = good;
    data.scalars.at("optim/inner.lr.0") = lr;
    optim::write_checkpoint(path("bad_lr.ckpt"), data);
    expect_load_fails(path("bad_lr.ckpt"), std::isnan(lr)
                                               ? "entry 'optim/inner.lr.0': expected a finite number, got nan"
                                               : "' does not fit the optimizer: SGD.load_state_dict: expected 'lr.0' >= 0");
  }
  for (const std::string prefix : {"model/", "optim/", "swa/"}) {
    expect_rejected(
        "nan_tensor.ckpt",
        [&](auto& d) {
          for (const auto& [k, t] : good.tensors)
            if (k.rfind(prefix, 0) == 0) {
              std::vector<float> v = t.to_vector();
              v.back() = NAN;
              d.tensors.at(k) = Tensor::from_vector(v, t.shape());
              return;
            }
          FAIL() << "no tensor under " << prefix;
        },
        prefix);
  }
}

// Found by an audit: hand-edited checkpoints with a valid checksum that loaded and changed
// the run silently. A momentum buffer missing for one parameter (it restarted from zero), a
// name used twice (the later entry won), a negative generator offset.
TEST_F(Checkpoint, AStateThatAResumeWouldRefuseIsNotWritten) {
  // An inf in the optimizer's state (or a buffer) with finite weights was written over the
  // last good checkpoint, which then could not be resumed (the session-24 audit).
  auto model = std::make_shared<nn::Linear>(2, 2);
  optim::SGD sgd(model->parameters(), {.lr = 0.1, .momentum = 0.9});
  sum(model->forward(ones({1, 2}))).backward();
  sgd.step();
  const std::string file = path("good.ckpt");
  optim::save_checkpoint(file, {.model = model.get(), .optimizer = &sgd});
  const optim::CheckpointData before = optim::read_checkpoint(file);
  sgd.for_each_state([](Tensor& t) { t.fill_(INFINITY); });
  try {
    optim::save_checkpoint(file, {.model = model.get(), .optimizer = &sgd});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("save_checkpoint: entry 'optim/"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("is not written"), std::string::npos) << e.what();
  }
  EXPECT_EQ(optim::read_checkpoint(file).tensors.size(), before.tensors.size());
  optim::load_checkpoint(file, {.model = model.get(), .optimizer = &sgd});  // the good one resumes
  EXPECT_EQ(optim::first_non_finite_entry(optim::checkpoint_data({.model = model.get(), .optimizer = &sgd})), "");
}

TEST_F(Checkpoint, IncompleteOrDuplicatedEntriesAreRejected) {
  const optim::CheckpointData good = optim::read_checkpoint(saved());
  std::string buffer;
  for (const auto& [k, t] : good.tensors)
    if (buffer.empty() && k.rfind("optim/", 0) == 0 && k.find("momentum_buffer") != std::string::npos) buffer = k;
  ASSERT_FALSE(buffer.empty());
  optim::CheckpointData missing = good;
  missing.tensors = nn::StateDict();
  for (const auto& [k, t] : good.tensors)
    if (k != buffer) missing.tensors.insert(k, t);
  optim::write_checkpoint(path("missing.ckpt"), missing);
  ASSERT_EQ(buffer, "optim/inner.0.momentum_buffer");  // the SGD inside OptimLP, its parameter 0
  expect_load_fails(path("missing.ckpt"), "SGD.load_state_dict: expected an entry '0.momentum_buffer' (parameter 0 "
                                          "has taken 3 steps), got none");

  optim::CheckpointData twice = good;
  twice.integers["model/0.weight"] = 1;  // the name of a tensor, again as an integer
  optim::write_checkpoint(path("twice.ckpt"), twice);
  expect_load_fails(path("twice.ckpt"), "entry 'model/0.weight' appears twice");

  optim::CheckpointData offset = good;
  offset.integers["rng/offset"] = -1;
  optim::write_checkpoint(path("offset.ckpt"), offset);
  expect_load_fails(path("offset.ckpt"), "'" + path("offset.ckpt") + "': entry 'rng/offset': expected an integer >= 0");
  optim::CheckpointData seed = good;
  seed.integers["rng/seed"] = -1;  // the seed 2^64 - 1, stored as its int64 bits: valid
  optim::write_checkpoint(path("seed.ckpt"), seed);
  TrainRun fresh(5);
  EXPECT_NO_THROW(optim::load_checkpoint(path("seed.ckpt"), fresh.state()));
}

// Texts (kind 4, format version 2) round-trip; version 1 files, which have none, still load.
TEST_F(Checkpoint, TextsRoundTripAndVersion1FilesStillLoad) {
  TrainRun run(1);
  const std::map<std::string, std::string> texts = {{"app/model", "mlp"}, {"app/note", "it's \"quoted\""}};
  optim::TrainingState state = run.state();
  state.texts = &texts;
  optim::save_checkpoint(path("texts.ckpt"), state);
  EXPECT_EQ(optim::read_checkpoint(path("texts.ckpt")).texts, texts);
  TrainRun fresh(5);
  EXPECT_NO_THROW(optim::load_checkpoint(path("texts.ckpt"), fresh.state()));

  std::string bytes = read_bytes(saved());  // no texts: the same bytes as version 1 wrote
  bytes[8] = 1;
  write_bytes(path("v1.ckpt"), bytes);
  TrainRun old(5);
  EXPECT_NO_THROW(optim::load_checkpoint(path("v1.ckpt"), old.state()));
  EXPECT_EQ(old.step, 3);
}
