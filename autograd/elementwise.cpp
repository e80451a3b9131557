// Differentiable elementwise ops: each forward next to its backward.
#include "qtorch/autograd/elementwise.h"

#include "qtorch/autograd/node.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"

namespace qtorch {
namespace {

Tensor scalar_like(float v, const Tensor& like) { return full({}, v, like.device()); }

// x * s, x + s (grad scale 1), neg and s - x (grad scale -1): the gradient scaled.
Tensor scale_op(const Tensor& x, Tensor out, float scale, const char* op) {
  return record(op, std::move(out), {x}, [scale](const Tensor& g, const Node&) -> Grads {
    return {scale == 1.0f ? g : ops::unary(UnaryOp::MulScalar, g, scale)};
  });
}

Tensor max_min(const Tensor& a, const Tensor& b, bool is_max) {
  const char* op = is_max ? "maximum" : "minimum";
  Tensor out = ops::binary(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b, op);
  return record(op, out, {a, b}, [&] {
    return [saved_a = save(a), saved_b = save(b), is_max, op](const Tensor& g, const Node&) -> Grads {
      const Tensor& a = saved_a.get();
      const Tensor& b = saved_b.get();
      // As PyTorch: ties split the gradient evenly, and the side that loses gets +0
      // (where(a == b, g / 2, g).masked_fill(a < b, 0) for maximum's a); a NaN, which
      // neither wins nor ties, passes g to both.
      const Tensor zero = zeros({}, g.device());
      Tensor shared = ops::where(ops::binary(BinaryOp::Eq, a, b, op), ops::unary(UnaryOp::MulScalar, g, 0.5f), g);
      Tensor a_loses = ops::binary(is_max ? BinaryOp::Lt : BinaryOp::Gt, a, b, op);
      Tensor b_loses = ops::binary(is_max ? BinaryOp::Gt : BinaryOp::Lt, a, b, op);
      return {ops::where(a_loses, zero, shared), ops::where(b_loses, zero, shared)};
    };
  });
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return record("add", ops::binary(BinaryOp::Add, a, b, "add"), {a, b},
                [](const Tensor& g, const Node&) -> Grads { return {g, g}; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record("sub", ops::binary(BinaryOp::Sub, a, b, "sub"), {a, b},
                [](const Tensor& g, const Node& n) -> Grads {
                  return {g, n.needs_input_grad(1) ? ops::unary(UnaryOp::Neg, g) : Tensor()};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return record("mul", ops::binary(BinaryOp::Mul, a, b, "mul"), {a, b}, [&] {
    return [a = save(a), b = save(b)](const Tensor& g, const Node& n) -> Grads {
      return {n.needs_input_grad(0) ? g * b.get() : Tensor(), n.needs_input_grad(1) ? g * a.get() : Tensor()};
    };
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::Div, a, b, "div");
  return record("div", out, {a, b}, [&] {
    // d(a / b)/db as PyTorch forms it, -g ((a / b) / b): no overflow or underflow of g a or
    // b b where the quotient itself is finite.
    return [b = save(b), out = save(out)](const Tensor& g, const Node& n) -> Grads {
      return {n.needs_input_grad(0) ? g / b.get() : Tensor(),
              n.needs_input_grad(1) ? -g * (out.get() / b.get()) : Tensor()};
    };
  });
}

Tensor add(const Tensor& a, float b) { return scale_op(a, ops::unary(UnaryOp::AddScalar, a, b), 1.0f, "add"); }
Tensor mul(const Tensor& a, float b) { return scale_op(a, ops::unary(UnaryOp::MulScalar, a, b), b, "mul"); }
Tensor neg(const Tensor& x) { return scale_op(x, ops::unary(UnaryOp::Neg, x), -1.0f, "neg"); }

Tensor exp(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Exp, x);
  return record("exp", out, {x}, [&] {
    return [out = save(out)](const Tensor& g, const Node&) -> Grads { return {g * out.get()}; };
  });
}

Tensor log(const Tensor& x) {
  return record("log", ops::unary(UnaryOp::Log, x), {x}, [&] {
    return [x = save(x)](const Tensor& g, const Node&) -> Grads { return {g / x.get()}; };
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Sqrt, x);
  return record("sqrt", out, {x}, [&] {
    return [out = save(out)](const Tensor& g, const Node&) -> Grads { return {g * 0.5f / out.get()}; };
  });
}

Tensor abs(const Tensor& x) {
  return record("abs", ops::unary(UnaryOp::Abs, x), {x}, [&] {
    return [x = save(x)](const Tensor& g, const Node&) -> Grads {
      return {g * ops::unary(UnaryOp::Sign, x.get())};
    };
  });
}

Tensor pow(const Tensor& x, float exponent) {
  return record("pow", ops::unary(UnaryOp::PowScalar, x, exponent), {x}, [&] {
    return [x = save(x), exponent](const Tensor& g, const Node&) -> Grads {
      if (exponent == 0.0f) return {zeros_like(g)};
      return {g * (exponent * ops::unary(UnaryOp::PowScalar, x.get(), exponent - 1.0f))};
    };
  });
}

Tensor pow(const Tensor& x, const Tensor& exponent) {
  Tensor out = ops::binary(BinaryOp::Pow, x, exponent, "pow");
  return record("pow", out, {x, exponent}, [&] {
    // As PyTorch: 0 for x where e == 0, and 0 for e where x == 0 and e >= 0 (x^e is constant
    // there), where the formulas would give NaN or -inf.
    return [saved_x = save(x), saved_e = save(exponent), saved_out = save(out)](const Tensor& g,
                                                                                const Node& n) -> Grads {
      const Tensor& x = saved_x.get();
      const Tensor& e = saved_e.get();
      const Tensor& out = saved_out.get();
      const Tensor zero = zeros({}, g.device());
      Tensor gx, ge;
      if (n.needs_input_grad(0))
        gx = ops::where(ops::unary(UnaryOp::EqScalar, e, 0.0f), zero, g * (e * pow(x, e - 1.0f)));
      if (n.needs_input_grad(1)) {
        const Tensor constant = ops::unary(UnaryOp::EqScalar, x, 0.0f) * ops::unary(UnaryOp::GeScalar, e, 0.0f);
        ge = g * ops::where(constant, zero, out * log(x));
      }
      return {gx, ge};
    };
  });
}

Tensor clamp(const Tensor& x, float lo, float hi) {
  QTORCH_CHECK(lo <= hi, "clamp: expected lo <= hi, got {} and {}", lo, hi);
  return record("clamp", ops::unary(UnaryOp::Clamp, x, lo, hi), {x}, [&] {
    return [saved_x = save(x), lo, hi](const Tensor& g, const Node&) -> Grads {
      const Tensor& x = saved_x.get();
      // g where lo <= x <= hi, else +0 (a NaN x included), as PyTorch's where(in range, g, 0).
      Tensor below_hi = ops::unary(UnaryOp::RSubScalar, ops::unary(UnaryOp::GtScalar, x, hi), 1.0f);
      Tensor in_range = ops::unary(UnaryOp::GeScalar, x, lo) * below_hi;
      return {ops::where(in_range, g, zeros({}, g.device()))};
    };
  });
}

Tensor maximum(const Tensor& a, const Tensor& b) { return max_min(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return max_min(a, b, false); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = ops::where(cond, a, b);
  if (!any_requires_grad({&a, &b})) return out;  // cond is not differentiated
  return record("where", out, {cond.detach(), a, b}, [saved_cond = save(cond)](const Tensor& g, const Node& n) -> Grads {
    const Tensor& cond = saved_cond.get();
    Tensor zero = scalar_like(0.0f, g);
    return {Tensor(), n.needs_input_grad(1) ? ops::where(cond, g, zero) : Tensor(),
            n.needs_input_grad(2) ? ops::where(cond, zero, g) : Tensor()};
  });
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
Tensor operator/(float a, const Tensor& b) {  // s / x
  Tensor out = ops::unary(UnaryOp::RDivScalar, b, a);
  return record("rdiv", out, {b}, [&] {
    return [x = save(b), out = save(out)](const Tensor& g, const Node&) -> Grads {
      return {-(g * out.get()) / x.get()};
    };
  });
}

}  // namespace qtorch
