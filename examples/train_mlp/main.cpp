// train_mlp [FASHION_MNIST_DIR [CHECKPOINT]]: trains the MLP 784-256-256-10 on Fashion-MNIST
// for one epoch in the block8 recipe with the library's trainer, prints the test accuracy and
// saves a checkpoint that Trainer::resume continues from (model, optimizer, generator, recipe).
#include <cstdio>
#include <exception>
#include <string>

#include <qtorch/qtorch.h>

int main(int argc, char** argv) {
  using namespace qtorch;
  const char* usage = "usage: train_mlp [FASHION_MNIST_DIR [CHECKPOINT]]\n";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "train_mlp: error: unknown option '%s' (it takes none but --help)\n%s", argv[i], usage);
      return 2;
    }
  }
  if (argc > 3) {
    std::fprintf(stderr, "train_mlp: error: expected at most 2 arguments, got %d\n%s", argc - 1, usage);
    return 2;
  }
  try {
    const std::string dir = argc > 1 ? argv[1] : data::kFashionMnistDir;
    const data::Dataset train_set = data::load_mnist(dir, data::Split::Train);
    const data::Dataset test_set = data::load_mnist(dir, data::Split::Test);

    manual_seed(0);  // initial weights and stochastic rounding
    train::TrainerOptions options;
    options.epochs = 1;
    options.batch_size = 128;
    options.optimizer = {.lr = 0.05, .momentum = 0.9};
    train::Trainer trainer(train::models::mlp({784, 256, 256, 10}), train::preset("block8"), options);
    const train::TrainResult result = trainer.fit(train_set, test_set, {
        .on_epoch = [](const train::EpochMetrics& m) {
          std::printf("epoch %lld: train loss %.4f, test loss %.4f\n", (long long)m.epoch, m.train_loss,
                      m.test_loss);
        }});
    std::printf("test accuracy %.4f\n", result.test.accuracy);
    std::fflush(stdout);
    if (argc > 2) trainer.save_checkpoint(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_mlp: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
