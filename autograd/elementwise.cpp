// Differentiable elementwise ops: each forward next to its backward.
#include "autograd/elementwise.h"

#include "autograd/node.h"
#include "core/error.h"
#include "core/ops.h"

namespace qtorch {
namespace {

Tensor scalar_like(float v, const Tensor& like) { return full({}, v, like.device()); }

// ---- binary arithmetic ----
struct AddNode final : Node {
  std::string name() const override { return "add"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g, g}; }
};
struct SubNode final : Node {
  std::string name() const override { return "sub"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    return {g, needs_input_grad(1) ? ops::unary(UnaryOp::Neg, g) : Tensor()};
  }
};
struct MulNode final : Node {
  Tensor a, b;
  std::string name() const override { return "mul"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    return {needs_input_grad(0) ? g * b : Tensor(), needs_input_grad(1) ? g * a : Tensor()};
  }
  void release() override { a = b = Tensor(); }
};
struct DivNode final : Node {
  Tensor a, b;
  std::string name() const override { return "div"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor ga = needs_input_grad(0) ? g / b : Tensor();
    Tensor gb = needs_input_grad(1) ? -(g * a) / (b * b) : Tensor();
    return {ga, gb};
  }
  void release() override { a = b = Tensor(); }
};
struct PowNode final : Node {
  Tensor x, exponent, out;
  std::string name() const override { return "pow"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor gx = needs_input_grad(0) ? g * exponent * pow(x, exponent - 1.0f) : Tensor();
    Tensor ge = needs_input_grad(1) ? g * out * log(x) : Tensor();
    return {gx, ge};
  }
  void release() override { x = exponent = out = Tensor(); }
};
struct MaxMinNode final : Node {
  Tensor a, b;
  bool is_max = true;
  std::string name() const override { return is_max ? "maximum" : "minimum"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    // Ties split the gradient evenly, as PyTorch does.
    Tensor half_eq = ops::unary(UnaryOp::MulScalar, ops::binary(BinaryOp::Eq, a, b, "maximum"), 0.5f);
    Tensor a_wins = ops::binary(is_max ? BinaryOp::Gt : BinaryOp::Lt, a, b, "maximum");
    Tensor b_wins = ops::binary(is_max ? BinaryOp::Lt : BinaryOp::Gt, a, b, "maximum");
    return {g * (a_wins + half_eq), g * (b_wins + half_eq)};
  }
  void release() override { a = b = Tensor(); }
};
struct WhereNode final : Node {
  Tensor cond;
  std::string name() const override { return "where"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor zero = scalar_like(0.0f, g);
    return {Tensor(), needs_input_grad(1) ? ops::where(cond, g, zero) : Tensor(),
            needs_input_grad(2) ? ops::where(cond, zero, g) : Tensor()};
  }
  void release() override { cond = Tensor(); }
};

// ---- unary ----
struct ScaleNode final : Node {  // x * s and x + s (s = 0 grad scale 1), neg (s = -1)
  float scale = 1.0f;
  std::string op;
  std::string name() const override { return op; }
  std::vector<Tensor> backward(const Tensor& g) override {
    return {scale == 1.0f ? g : ops::unary(UnaryOp::MulScalar, g, scale)};
  }
};
struct ExpNode final : Node {
  Tensor out;
  std::string name() const override { return "exp"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g * out}; }
  void release() override { out = Tensor(); }
};
struct LogNode final : Node {
  Tensor x;
  std::string name() const override { return "log"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g / x}; }
  void release() override { x = Tensor(); }
};
struct SqrtNode final : Node {
  Tensor out;
  std::string name() const override { return "sqrt"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g * 0.5f / out}; }
  void release() override { out = Tensor(); }
};
struct AbsNode final : Node {
  Tensor x;
  std::string name() const override { return "abs"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g * ops::unary(UnaryOp::Sign, x)}; }
  void release() override { x = Tensor(); }
};
struct PowScalarNode final : Node {
  Tensor x;
  float exponent = 1.0f;
  std::string name() const override { return "pow"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    if (exponent == 0.0f) return {zeros_like(g)};
    return {g * (exponent * ops::unary(UnaryOp::PowScalar, x, exponent - 1.0f))};
  }
  void release() override { x = Tensor(); }
};
struct RDivNode final : Node {  // s / x
  Tensor x, out;
  std::string name() const override { return "rdiv"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {-(g * out) / x}; }
  void release() override { x = out = Tensor(); }
};
struct ClampNode final : Node {
  Tensor x;
  float lo = 0.0f, hi = 0.0f;
  std::string name() const override { return "clamp"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    // 1 where lo <= x <= hi, as PyTorch.
    Tensor below_hi = ops::unary(UnaryOp::RSubScalar, ops::unary(UnaryOp::GtScalar, x, hi), 1.0f);
    return {g * (ops::unary(UnaryOp::GeScalar, x, lo) * below_hi)};
  }
  void release() override { x = Tensor(); }
};

template <class N>
Tensor record(Tensor out, std::shared_ptr<N> node, std::vector<Tensor> inputs) {
  return attach_node(std::move(out), std::move(node), std::move(inputs));
}

Tensor scale_op(const Tensor& x, Tensor out, float scale, const char* op) {
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<ScaleNode>();
  node->scale = scale;
  node->op = op;
  return record(out, node, {x});
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::Add, a, b, "add");
  if (!any_requires_grad({&a, &b})) return out;
  return record(out, std::make_shared<AddNode>(), {a, b});
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::Sub, a, b, "sub");
  if (!any_requires_grad({&a, &b})) return out;
  return record(out, std::make_shared<SubNode>(), {a, b});
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::Mul, a, b, "mul");
  if (!any_requires_grad({&a, &b})) return out;
  auto node = std::make_shared<MulNode>();
  node->a = a.detach();
  node->b = b.detach();
  return record(out, node, {a, b});
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::Div, a, b, "div");
  if (!any_requires_grad({&a, &b})) return out;
  auto node = std::make_shared<DivNode>();
  node->a = a.detach();
  node->b = b.detach();
  return record(out, node, {a, b});
}

Tensor add(const Tensor& a, float b) { return scale_op(a, ops::unary(UnaryOp::AddScalar, a, b), 1.0f, "add"); }
Tensor mul(const Tensor& a, float b) { return scale_op(a, ops::unary(UnaryOp::MulScalar, a, b), b, "mul"); }
Tensor neg(const Tensor& x) { return scale_op(x, ops::unary(UnaryOp::Neg, x), -1.0f, "neg"); }

Tensor exp(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Exp, x);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<ExpNode>();
  node->out = out.detach();
  return record(out, node, {x});
}

Tensor log(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Log, x);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<LogNode>();
  node->x = x.detach();
  return record(out, node, {x});
}

Tensor sqrt(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Sqrt, x);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<SqrtNode>();
  node->out = out.detach();
  return record(out, node, {x});
}

Tensor abs(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Abs, x);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<AbsNode>();
  node->x = x.detach();
  return record(out, node, {x});
}

Tensor pow(const Tensor& x, float exponent) {
  Tensor out = ops::unary(UnaryOp::PowScalar, x, exponent);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<PowScalarNode>();
  node->x = x.detach();
  node->exponent = exponent;
  return record(out, node, {x});
}

Tensor pow(const Tensor& x, const Tensor& exponent) {
  Tensor out = ops::binary(BinaryOp::Pow, x, exponent, "pow");
  if (!any_requires_grad({&x, &exponent})) return out;
  auto node = std::make_shared<PowNode>();
  node->x = x.detach();
  node->exponent = exponent.detach();
  node->out = out.detach();
  return record(out, node, {x, exponent});
}

Tensor clamp(const Tensor& x, float lo, float hi) {
  QTORCH_CHECK(lo <= hi, "clamp: expected lo <= hi, got {} and {}", lo, hi);
  Tensor out = ops::unary(UnaryOp::Clamp, x, lo, hi);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<ClampNode>();
  node->x = x.detach();
  node->lo = lo;
  node->hi = hi;
  return record(out, node, {x});
}

namespace {
Tensor max_min(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor out = ops::binary(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b, is_max ? "maximum" : "minimum");
  if (!any_requires_grad({&a, &b})) return out;
  auto node = std::make_shared<MaxMinNode>();
  node->a = a.detach();
  node->b = b.detach();
  node->is_max = is_max;
  return record(out, node, {a, b});
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return max_min(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return max_min(a, b, false); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = ops::where(cond, a, b);
  if (!any_requires_grad({&a, &b})) return out;
  auto node = std::make_shared<WhereNode>();
  node->cond = cond.detach();
  return record(out, node, {cond.detach(), a, b});
}

Tensor eq(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Ge, a, b, "ge"); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, float b) { return add(a, b); }
Tensor operator+(float a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, float b) { return add(a, -b); }
Tensor operator-(float a, const Tensor& b) {
  return scale_op(b, ops::unary(UnaryOp::RSubScalar, b, a), -1.0f, "rsub");
}
Tensor operator*(const Tensor& a, float b) { return mul(a, b); }
Tensor operator*(float a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, float b) { return div(a, scalar_like(b, a)); }
Tensor operator/(float a, const Tensor& b) {
  Tensor out = ops::unary(UnaryOp::RDivScalar, b, a);
  if (!any_requires_grad({&b})) return out;
  auto node = std::make_shared<RDivNode>();
  node->x = b.detach();
  node->out = out.detach();
  return record(out, node, {b});
}

}  // namespace qtorch
