// make_low_precision: quantizers inserted after the chosen layer kinds, original intact.
#include <gtest/gtest.h>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/core/error.h"
#include "qtorch/nn/nn.h"

using namespace qtorch;

namespace {

// A stand-in for nn::Quantizer: doubles its input so its presence shows in the output.
class Twice : public nn::Cloneable<Twice> {
 public:
  Tensor forward(const Tensor& x) override { return x * 2.0f; }
  std::string type_name() const override { return "Q"; }
};

class Net : public nn::Cloneable<Net> {
 public:
  Net() {
    register_module("fc", std::make_shared<nn::Linear>(2, 2));
    register_module("act", std::make_shared<nn::ReLU>());
  }
  Tensor forward(const Tensor& x) override {
    return named_children()[1].second->forward(named_children()[0].second->forward(x));
  }
  std::string type_name() const override { return "Net"; }
};

}  // namespace

TEST(Lower, InsertsAfterChosenKindsInSequential) {
  auto model = nn::sequential({std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::ReLU>(),
                               std::make_shared<nn::Linear>(4, 2)});
  std::string before = model->repr();
  int made = 0;
  auto lp = nn::make_low_precision(*model, {nn::LayerKind::Linear}, [&] {
    ++made;
    return std::make_shared<Twice>();
  });
  EXPECT_EQ(made, 2);
  EXPECT_EQ(lp->repr(), "Sequential(Linear(3 -> 4), Q(), ReLU(), Linear(4 -> 2), Q())");
  EXPECT_EQ(model->repr(), before);
  // Same weights, separate storage: training the copy leaves the original alone.
  auto p0 = model->parameters(), p1 = lp->parameters();
  ASSERT_EQ(p0.size(), p1.size());
  for (size_t i = 0; i < p0.size(); ++i) {
    EXPECT_EQ(p0[i].to_vector(), p1[i].to_vector());
    EXPECT_NE(p0[i].data_ptr(), p1[i].data_ptr());
  }
  Tensor x = ones({1, 3});
  std::vector<float> b = lp->forward(x).to_vector();
  auto l0 = std::dynamic_pointer_cast<nn::Linear>((*model)[0]);
  auto l2 = std::dynamic_pointer_cast<nn::Linear>((*model)[2]);
  Tensor expect = l2->forward(nn::ReLU().forward(l0->forward(x) * 2.0f)) * 2.0f;
  EXPECT_EQ(b, expect.to_vector());
}

TEST(Lower, ActivationsAndNestedModules) {
  auto net = std::make_shared<Net>();
  auto lp = nn::make_low_precision(*net, {nn::LayerKind::Activation, nn::LayerKind::Pooling},
                                   [] { return std::make_shared<Twice>(); });
  EXPECT_EQ(lp->repr(), "Net(Linear(2 -> 2), Sequential(ReLU(), Q()))");
  EXPECT_EQ(net->repr(), "Net(Linear(2 -> 2), ReLU())");
  auto single = nn::make_low_precision(nn::Linear(2, 2), {nn::LayerKind::Linear},
                                       [] { return std::make_shared<Twice>(); });
  EXPECT_EQ(single->repr(), "Sequential(Linear(2 -> 2), Q())");
}

// A user's layer that says it is a linear layer, so recipes put a quantizer after it.
class Dense : public nn::Cloneable<Dense> {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Dense"; }
  std::optional<nn::LayerKind> layer_kind() const override { return nn::LayerKind::Linear; }
};

TEST(Lower, ALayerAtTwoPlacesIsLoweredOnce) {
  auto lin = std::make_shared<nn::Linear>(2, 2);
  auto inner = nn::sequential({lin});
  auto model = nn::sequential({inner, std::make_shared<nn::ReLU>(), inner});
  int made = 0;
  auto lp = nn::make_low_precision(*model, {nn::LayerKind::Linear}, [&] {
    ++made;
    return std::make_shared<Twice>();
  });
  EXPECT_EQ(made, 1);  // the shared Sequential is lowered once: one quantizer after its Linear
  EXPECT_EQ(lp->repr(), "Sequential(Sequential(Linear(2 -> 2), Q()), ReLU(), Sequential(Linear(2 -> 2), Q()))");
  EXPECT_EQ(lp->parameters().size(), 2u);
  const auto& seq = dynamic_cast<const nn::Sequential&>(*lp);
  EXPECT_EQ(seq[0], seq[2]);
}

TEST(Lower, KindsAndErrors) {
  EXPECT_EQ(nn::Linear(1, 1).layer_kind(), nn::LayerKind::Linear);
  EXPECT_EQ(nn::Conv2d(1, 1, 1).layer_kind(), nn::LayerKind::Conv);
  EXPECT_EQ(nn::ReLU().layer_kind(), nn::LayerKind::Activation);
  EXPECT_EQ(nn::Sigmoid().layer_kind(), nn::LayerKind::Activation);
  EXPECT_EQ(nn::Tanh().layer_kind(), nn::LayerKind::Activation);
  EXPECT_EQ(nn::MaxPool2d(2).layer_kind(), nn::LayerKind::Pooling);
  EXPECT_EQ(nn::AvgPool2d(2).layer_kind(), nn::LayerKind::Pooling);
  EXPECT_EQ(nn::BatchNorm1d(1).layer_kind(), nn::LayerKind::Normalization);
  EXPECT_EQ(nn::BatchNorm2d(1).layer_kind(), nn::LayerKind::Normalization);
  EXPECT_FALSE(nn::Flatten().layer_kind().has_value());
  EXPECT_FALSE(nn::Sequential().layer_kind().has_value());
  for (nn::LayerKind kind : nn::kLayerKinds) EXPECT_EQ(nn::parse_layer_kind(nn::layer_kind_name(kind)), kind);
  EXPECT_EQ(nn::parse_layer_kind("conv"), nn::LayerKind::Conv);
  try {
    nn::parse_layer_kind("dense");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected linear, conv, normalization, activation or pooling, got 'dense'"),
              std::string::npos)
        << e.what();
  }
  auto lowered = nn::make_low_precision(*nn::sequential({std::make_shared<Dense>(), std::make_shared<nn::ReLU>()}),
                                        {nn::LayerKind::Linear}, [] { return std::make_shared<Twice>(); });
  EXPECT_EQ(lowered->repr(), "Sequential(Dense(), Q(), ReLU())");
  auto model = nn::sequential({std::make_shared<nn::ReLU>()});
  EXPECT_THROW(nn::make_low_precision(*model, {nn::LayerKind::Activation}, nullptr), Error);
}
