// nn::Module: registration order, recursion, modes, zero_grad, state dicts, deep copies.
#include <gtest/gtest.h>

#include <sstream>

#include "qtorch/autograd/reduce.h"
#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/linalg.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/nn.h"
#include "qtorch/optim/sgd.h"

using namespace qtorch;

namespace {

// A user-defined module: two children and a parameter/buffer of its own.
class Net : public nn::Cloneable<Net> {
 public:
  Net() {
    register_parameter("scale", ones({1}));
    register_buffer("count", zeros({1}));
    register_module("fc1", std::make_shared<nn::Linear>(3, 4));
    register_module("act", std::make_shared<nn::ReLU>());
    register_module("fc2", std::make_shared<nn::Linear>(4, 2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (auto& c : children()) h = c->forward(h);
    return h * parameter("scale");
  }
  std::string type_name() const override { return "Net"; }
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& items) {
  std::vector<std::string> out;
  for (auto& [n, t] : items) out.push_back(n);
  return out;
}

}  // namespace

TEST(Module, NamedParametersAreRecursiveInRegistrationOrder) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(names_of(net->named_parameters()),
            (std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(names_of(net->named_parameters(false)), (std::vector<std::string>{"scale"}));
  EXPECT_EQ(net->parameters().size(), 5u);
  EXPECT_EQ(names_of(net->named_buffers()), (std::vector<std::string>{"count"}));
  for (auto& p : net->parameters()) EXPECT_TRUE(p.requires_grad());
  auto modules = net->named_modules();
  ASSERT_EQ(modules.size(), 4u);
  EXPECT_EQ(modules[0].first, "");
  EXPECT_EQ(modules[3].first, "fc2");
}

TEST(Module, RegisterReturnsWhatItStoredAndRejectsDuplicates) {
  nn::Module m;
  Tensor p = m.register_parameter("w", zeros({2}));
  EXPECT_TRUE(p.is_same(m.parameter("w")));
  EXPECT_TRUE(p.requires_grad());
  auto child = std::make_shared<nn::ReLU>();
  EXPECT_EQ(m.register_module("r", child), child);
  EXPECT_THROW(m.register_parameter("w", zeros({2})), Error);
  EXPECT_THROW(m.register_buffer("r", zeros({2})), Error);
  EXPECT_THROW(m.register_parameter("a.b", zeros({2})), Error);
  EXPECT_THROW(m.forward(zeros({2})), Error);
}

TEST(Module, TrainEvalReachesEveryDescendant) {
  auto net = std::make_shared<Net>();
  EXPECT_TRUE(net->is_training());
  net->eval();
  for (auto& [n, m] : net->named_modules()) EXPECT_FALSE(m->is_training()) << n;
  net->train();
  for (auto& [n, m] : net->named_modules()) EXPECT_TRUE(m->is_training()) << n;
}

TEST(Module, ZeroGradDropsGradients) {
  auto net = std::make_shared<Net>();
  sum(net->forward(ones({2, 3}))).backward();
  for (auto& p : net->parameters()) EXPECT_TRUE(p.grad().defined());
  net->zero_grad();
  for (auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, StateDictRoundTrip) {
  manual_seed(1);
  auto a = std::make_shared<Net>();
  auto b = std::make_shared<Net>();
  a->buffer("count").fill_(7);
  nn::StateDict sd = a->state_dict();
  EXPECT_EQ(sd.size(), 6u);
  EXPECT_TRUE(sd.contains("fc1.weight"));
  EXPECT_TRUE(sd.contains("count"));
  b->load_state_dict(sd);
  for (auto& [name, t] : a->state_dict())
    EXPECT_EQ(t.to_vector(), b->state_dict().at(name).to_vector()) << name;
  // Loading copies values: the handles stay distinct.
  EXPECT_FALSE(a->parameter("scale").is_same(b->parameter("scale")));
}

TEST(Module, LoadStateDictMismatchLeavesModuleUntouched) {
  auto a = std::make_shared<Net>();
  auto before = a->state_dict();
  std::vector<std::vector<float>> values;
  for (auto& [n, t] : before) values.push_back(t.to_vector());

  nn::StateDict bad;
  for (auto& [n, t] : before) bad.insert(n, zeros(t.shape()));
  bad.at("fc2.weight") = zeros({3, 3});  // wrong shape, after fc1 in order
  EXPECT_THROW(a->load_state_dict(bad), Error);
  nn::StateDict missing;
  missing.insert("scale", zeros({1}));
  EXPECT_THROW(a->load_state_dict(missing), Error);
  nn::StateDict extra;
  for (auto& [n, t] : before) extra.insert(n, zeros(t.shape()));
  extra.insert("fc3.weight", zeros({1}));
  EXPECT_THROW(a->load_state_dict(extra), Error);

  size_t i = 0;
  for (auto& [n, t] : a->state_dict()) EXPECT_EQ(t.to_vector(), values[i++]) << n;
  // Non-strict loading ignores missing and unknown names.
  a->load_state_dict(missing, false);
  EXPECT_EQ(a->parameter("scale").item(), 0.0f);
}

TEST(Module, CloneIsDeep) {
  auto net = std::make_shared<Net>();
  net->eval();
  auto copy = std::dynamic_pointer_cast<Net>(net->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_FALSE(copy->is_training());
  auto pa = net->parameters(), pb = copy->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].to_vector(), pb[i].to_vector());
    EXPECT_NE(pa[i].data_ptr(), pb[i].data_ptr());
    EXPECT_TRUE(pb[i].requires_grad());
  }
  pb[1].fill_(5);
  EXPECT_NE(pa[1].to_vector(), pb[1].to_vector());
  EXPECT_NE(net->named_children()[0].second, copy->named_children()[0].second);
}

TEST(Module, CloneSharesWhatTheOriginalShares) {
  auto lin = std::make_shared<nn::Linear>(2, 2);
  auto inner = nn::sequential({lin, std::make_shared<nn::ReLU>()});
  auto model = nn::sequential({inner, lin, inner});
  ASSERT_EQ(model->parameters().size(), 2u);
  auto copy = model->clone();
  ASSERT_EQ(copy->parameters().size(), 2u);
  const auto& seq = dynamic_cast<const nn::Sequential&>(*copy);
  const auto& copied_inner = dynamic_cast<const nn::Sequential&>(*seq[0]);
  EXPECT_EQ(seq[0], seq[2]);
  EXPECT_EQ(copied_inner[0], seq[1]);
  EXPECT_NE(seq[1], lin);
  EXPECT_FALSE(seq[1]->parameters()[0].is_same(lin->weight()));
  EXPECT_EQ(copy->state_dict().size(), model->state_dict().size());
}

TEST(Module, ToDeviceKeepsHandles) {
  auto net = std::make_shared<Net>();
  Tensor w = net->parameter("scale");
  net->to(Device::cpu());
  EXPECT_TRUE(w.is_same(net->parameter("scale")));
  if (!cuda_is_available()) GTEST_SKIP() << "no GPU";
  net->to(Device::cuda());
  EXPECT_TRUE(w.device().is_cuda());
  for (auto& t : net->buffers()) EXPECT_TRUE(t.device().is_cuda());
}

TEST(Module, Printing) {
  auto model = nn::sequential({std::make_shared<nn::Linear>(784, 256), std::make_shared<nn::ReLU>(),
                               std::make_shared<nn::Linear>(256, 10)});
  EXPECT_EQ(model->repr(), "Sequential(Linear(784 -> 256), ReLU(), Linear(256 -> 10))");
  std::ostringstream os;
  os << *model;
  EXPECT_EQ(os.str(), model->repr());
  EXPECT_EQ(model->pretty(),
            "Sequential(\n  (0): Linear(784 -> 256)\n  (1): ReLU()\n  (2): Linear(256 -> 10)\n)");
  auto cnn = nn::sequential(
      {std::make_shared<nn::Conv2d>(1, 8, 3, nn::Conv2dOptions{.padding = 1}),
       std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::MaxPool2d>(2),
       std::make_shared<nn::Flatten>(), std::make_shared<nn::Dropout>(0.25f),
       std::make_shared<nn::Linear>(8, 2, nn::LinearOptions{.bias = false})});
  EXPECT_EQ(cnn->repr(),
            "Sequential(Conv2d(1 -> 8, k=3, stride=1, padding=1), BatchNorm2d(8, eps=1e-05, "
            "momentum=0.1), MaxPool2d(k=2, stride=2), Flatten(), Dropout(p=0.25), "
            "Linear(8 -> 2, bias=false))");
}

TEST(Sequential, IndexingAndForward) {
  auto model = nn::sequential({std::make_shared<nn::ReLU>(), std::make_shared<nn::Tanh>()});
  EXPECT_EQ(model->size(), 2u);
  EXPECT_EQ((*model)[1]->type_name(), "Tanh");
  EXPECT_THROW((*model)[2], Error);
  Tensor y = model->forward(Tensor::from_vector({-1, 0.5f}, {2}));
  EXPECT_FLOAT_EQ(y.to_vector()[0], 0.0f);
  EXPECT_NEAR(y.to_vector()[1], std::tanh(0.5f), 1e-6);
}

// A layer used twice (tied weights) holds its parameters once: an optimizer given them twice
// applied every update twice (PyTorch's parameters() gives each tensor once). state_dict()
// keeps both names, as PyTorch's does.
TEST(Module, SharedLayerGivesItsParametersOnce) {
  manual_seed(3);
  auto lin = std::make_shared<nn::Linear>(2, 2);
  auto model = nn::sequential({lin, std::make_shared<nn::ReLU>(), lin});
  const auto named = model->named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "0.weight");
  EXPECT_EQ(named[1].first, "0.bias");
  EXPECT_EQ(model->parameters().size(), 2u);
  EXPECT_EQ(model->state_dict().size(), 4u);
  EXPECT_TRUE(model->state_dict().contains("2.weight"));
  EXPECT_EQ(model->named_modules().size(), 3u);  // the model, the linear layer, the ReLU
  // One SGD step with lr 1 moves each weight by its (summed) gradient once.
  Tensor x = Tensor::from_vector({1.0f, 2.0f}, {1, 2});
  Tensor loss = sum((*model)(x));
  loss.backward();
  const std::vector<float> w = lin->parameter("weight").to_vector();
  const std::vector<float> g = lin->parameter("weight").grad().to_vector();
  optim::SGD sgd(model->parameters(), {.lr = 1.0});
  sgd.step();
  const std::vector<float> after = lin->parameter("weight").to_vector();
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(after[i], w[i] - g[i]) << i;
  // Loading its own state dict (both names, the same values) works.
  EXPECT_NO_THROW(model->load_state_dict(model->state_dict()));
}

TEST(Module, ATreeWithACycleIsRefused) {
  // parameters() and every other walk never ended (a stack overflow).
  auto s = std::make_shared<nn::Sequential>();
  EXPECT_THROW(s->register_module<nn::Module>("self", s), Error);
  auto inner = std::make_shared<nn::Sequential>();
  s->register_module<nn::Module>("inner", inner);
  try {
    inner->register_module<nn::Module>("outer", s);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a module tree cannot hold a cycle"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(s->parameters().empty());
  // The same module twice (not a cycle) is fine.
  auto leaf = std::make_shared<nn::Linear>(2, 2);
  inner->register_module<nn::Module>("a", leaf);
  inner->register_module<nn::Module>("b", leaf);
  EXPECT_EQ(s->parameters().size(), 2u);
}

TEST(Module, ReplaceModuleRefusesACycle) {
  // replace_module("0", self) was accepted, and the next parameters() overflowed the stack.
  auto s = nn::sequential({std::make_shared<nn::ReLU>()});
  auto outer = nn::sequential({s});
  EXPECT_THROW(s->replace_module("0", s), Error);
  try {
    s->replace_module("0", outer);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("replace_module: '0'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot hold a cycle"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(outer->parameters().empty());
  s->replace_module("0", std::make_shared<nn::Linear>(2, 2));
  EXPECT_EQ(outer->parameters().size(), 2u);
}

// PyTorch's order, module by module (depth first), each module's parameters then its buffers:
// what torch.nn.Sequential(Linear(3, 4), BatchNorm1d(4), Linear(4, 2)).state_dict() lists.
TEST(Module, StateDictIsInPyTorchsOrder) {
  auto model = nn::sequential({std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::BatchNorm1d>(4),
                               std::make_shared<nn::Linear>(4, 2)});
  std::vector<std::string> names;
  for (const auto& [n, t] : model->state_dict()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                             "1.running_var", "1.num_batches_tracked", "2.weight", "2.bias"}));
  // A module with its own parameter and buffer before its children.
  names.clear();
  for (const auto& [n, t] : std::make_shared<Net>()->state_dict()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "count", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
}

TEST(Module, NonStrictLoadSaysWhatItLeftOut) {
  auto a = std::make_shared<Net>();
  nn::StateDict partial;
  partial.insert("scale", full({1}, 3.0f));
  partial.insert("fc9.weight", zeros({1}));
  const nn::Module::LoadResult r = a->load_state_dict(partial, false);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"count", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"fc9.weight"}));
  EXPECT_EQ(a->parameter("scale").item(), 3.0f);
  const nn::Module::LoadResult strict = a->load_state_dict(a->state_dict());
  EXPECT_TRUE(strict.missing.empty() && strict.unexpected.empty());
}

namespace {

// A subclass of a built-in layer with its own forward: copies itself through Cloneable<Self, Base>.
class Doubling : public nn::Cloneable<Doubling, nn::Linear> {
 public:
  using Cloneable::Cloneable;
  Tensor forward(const Tensor& x) override { return nn::Linear::forward(x) * 2.0f; }
};

// The same without: Linear's copy would be a plain Linear.
class Halving : public nn::Linear {
 public:
  using nn::Linear::Linear;
  Tensor forward(const Tensor& x) override { return nn::Linear::forward(x) * 0.5f; }
};

}  // namespace

TEST(Module, CloneOfASubclassKeepsItsForwardOrNamesIt) {
  manual_seed(4);
  const Tensor x = Tensor::from_vector({1.0f, -2.0f, 0.5f}, {1, 3});
  auto doubling = nn::sequential({std::make_shared<nn::ReLU>(), std::make_shared<Doubling>(3, 2)});
  auto copy = doubling->clone();
  EXPECT_NE(dynamic_cast<Doubling*>((*std::dynamic_pointer_cast<nn::Sequential>(copy))[1].get()), nullptr);
  EXPECT_EQ((*copy)(x).to_vector(), (*doubling)(x).to_vector());
  // Halving's copy was a Linear that computed twice Halving's output, silently.
  auto halving = nn::sequential({std::make_shared<nn::ReLU>(), nn::sequential({std::make_shared<Halving>(3, 2)})});
  try {
    halving->clone();
    FAIL() << "a subclass was copied as its base";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("the module '1.0', a (anonymous namespace)::Halving"), std::string::npos) << what;
    EXPECT_NE(what.find("got a qtorch::nn::Linear"), std::string::npos) << what;
    EXPECT_NE(what.find("nn::Cloneable<"), std::string::npos) << what;
  }
}

// register_parameter of another module's parameter ties the two, as PyTorch's
// `m2.weight = m1.weight`: one tensor, one gradient (the sum of both uses), one entry in
// parameters(). Before, it stored a detached copy sharing storage: two gradients, so an
// optimizer applied weight decay twice and Adam about twice the step.
namespace {

class Holder : public nn::Cloneable<Holder> {};

}  // namespace

TEST(Module, RegisteringAnotherModulesParameterTiesThem) {
  manual_seed(5);
  auto first = std::make_shared<nn::Linear>(2, 2, nn::LinearOptions{.bias = false});
  auto second = std::make_shared<Holder>();
  Tensor tied = second->register_parameter("weight", first->parameter("weight"));
  EXPECT_TRUE(tied.is_same(first->parameter("weight")));
  auto outer = std::make_shared<Holder>();
  outer->register_module("a", first);
  outer->register_module("b", second);
  ASSERT_EQ(outer->parameters().size(), 1u);
  EXPECT_EQ(outer->state_dict().size(), 2u);  // both names, as PyTorch's
  // y = W x + W z: dL/dW for L = sum(y) is ones (x + z)^T, one gradient on the one tensor.
  const Tensor x = Tensor::from_vector({1.0f, 2.0f}, {1, 2}), z = Tensor::from_vector({3.0f, -5.0f}, {1, 2});
  sum((*first)(x) + matmul(z, second->parameter("weight").t())).backward();
  EXPECT_EQ(first->parameter("weight").grad().to_vector(), (std::vector<float>{4.0f, -3.0f, 4.0f, -3.0f}));
  // A copy keeps them tied.
  auto copy = outer->clone();
  EXPECT_EQ(copy->parameters().size(), 1u);
  // A leaf with the other requires_grad, or a computed tensor, is still stored detached.
  nn::Module m;
  Tensor frozen = m.register_parameter("frozen", first->parameter("weight"), false);
  EXPECT_FALSE(frozen.is_same(first->parameter("weight")));
  EXPECT_FALSE(frozen.requires_grad());
  Tensor computed = m.register_parameter("computed", first->parameter("weight") * 2.0f);
  EXPECT_TRUE(computed.is_leaf());
  EXPECT_TRUE(computed.requires_grad());
}
