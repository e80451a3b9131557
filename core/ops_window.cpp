// Primitive convolution (the backend's direct kernels where it prefers them, else im2col + one
// GEMM per group) and pooling.
#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/float_index.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch::ops {
namespace {
// Sets g.out_h and g.out_w from the rest of g. The (dilated) window must fit inside the
// padded input: when it does not, (in + 2 pad - span) / stride + 1 truncates a negative
// numerator towards zero and yields 1, an output whose window reads past the input.
void set_output_size(Window2d& g, const Tensor& x, const char* op) {
  // Each below 2^31, so that the spans and padded sizes below fit int64_t.
  constexpr int64_t kMax = (int64_t{1} << 31) - 1;
  QTORCH_CHECK(g.kh <= kMax && g.kw <= kMax && g.pad_h <= kMax && g.pad_w <= kMax && g.dil_h <= kMax &&
                   g.dil_w <= kMax && g.stride_h <= kMax && g.stride_w <= kMax,
               "{}: expected kernel, padding, dilation and stride below 2^31, got kernel {}x{}, padding "
               "{}x{}, dilation {}x{}, stride {}x{}",
               op, g.kh, g.kw, g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.stride_h, g.stride_w);
  const int64_t span_h = g.dil_h * (g.kh - 1) + 1, span_w = g.dil_w * (g.kw - 1) + 1;
  const int64_t padded_h = g.h + 2 * g.pad_h, padded_w = g.w + 2 * g.pad_w;
  QTORCH_CHECK(padded_h >= span_h && padded_w >= span_w,
               "{}: expected an input of at least {}x{} (padded by {}x{}) for the {}x{} window, got "
               "input {}",
               op, span_h - 2 * g.pad_h, span_w - 2 * g.pad_w, g.pad_h, g.pad_w, span_h, span_w,
               shape_str(x.shape()));
  g.out_h = (padded_h - span_h) / g.stride_h + 1;
  g.out_w = (padded_w - span_w) / g.stride_w + 1;
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? contiguous(t) : t; }

GemmArgs plain_gemm(const float* a, bool ta, int64_t lda, const float* b, bool tb, int64_t ldb,
                    float* c, int64_t m, int64_t n, int64_t k, float beta) {
  GemmArgs g;
  g.trans_a = ta;
  g.trans_b = tb;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = lda;
  g.b = b;
  g.ldb = ldb;
  g.c = c;
  g.ldc = n;
  g.beta = beta;
  return g;
}

// The gradients need grad_out [N, O, out_h, out_w] of the forward pass's geometry.
void check_grad_out(const Tensor& grad_out, const Window2d& g, int64_t out_c, const char* op) {
  const Shape want{g.n, out_c, g.out_h, g.out_w};
  QTORCH_CHECK(grad_out.shape() == want, "{}: expected grad_out {}, got {}", op, shape_str(want),
               shape_str(grad_out.shape()));
}

// Whether to take the backend's direct kernels: by its rule, or as asked (and checked).
bool use_direct(Device device, const Window2d& g, int64_t out_c, const Conv2dParams& o) {
  if (o.algorithm == ConvAlgorithm::Im2col) return false;
  const Backend& be = backend_for(device);
  const bool supported = o.groups == 1 && out_c > 0 && g.c > 0 && be.conv2d_direct_supported(g, out_c);
  if (o.algorithm == ConvAlgorithm::Direct) {
    QTORCH_CHECK(supported, "conv2d: algorithm Direct needs groups 1, channels > 0 and, on {}, {}; got groups {}, "
                 "stride {}x{}, channels {} -> {}, kernel {}x{}", device.str(), be.conv2d_direct_requirement(),
                 o.groups, g.stride_h, g.stride_w, g.c * o.groups, out_c, g.kh, g.kw);
    return true;
  }
  return supported && be.conv2d_direct_preferred(g, out_c);
}
}  // namespace

Window2d conv2d_geometry(const Tensor& x, const Tensor& weight, const Conv2dParams& o) {
  QTORCH_CHECK(x.defined() && x.dim() == 4, "conv2d: expected input [N, C, H, W], got {}",
               x.defined() ? shape_str(x.shape()) : "undefined");
  QTORCH_CHECK(weight.defined() && weight.dim() == 4,
               "conv2d: expected weight [O, C/groups, kh, kw], got {}",
               weight.defined() ? shape_str(weight.shape()) : "undefined");
  QTORCH_CHECK(o.groups >= 1 && o.stride_h >= 1 && o.stride_w >= 1 && o.dil_h >= 1 && o.dil_w >= 1 &&
                   o.pad_h >= 0 && o.pad_w >= 0,
               "conv2d: expected groups, stride, dilation >= 1 and padding >= 0");
  QTORCH_CHECK(weight.size(2) >= 1 && weight.size(3) >= 1,
               "conv2d: expected a kernel of at least 1x1, got weight {}", shape_str(weight.shape()));
  int64_t c = x.size(1), out_c = weight.size(0);
  QTORCH_CHECK(c % o.groups == 0 && out_c % o.groups == 0 && weight.size(1) == c / o.groups,
               "conv2d: expected weight [O, {}, kh, kw] with O divisible by groups={} for input {}, got {}",
               c / o.groups, o.groups, shape_str(x.shape()), shape_str(weight.shape()));
  Window2d g;
  g.n = x.size(0);
  g.c = c / o.groups;
  g.h = x.size(2);
  g.w = x.size(3);
  g.kh = weight.size(2);
  g.kw = weight.size(3);
  g.stride_h = o.stride_h;
  g.stride_w = o.stride_w;
  g.pad_h = o.pad_h;
  g.pad_w = o.pad_w;
  g.dil_h = o.dil_h;
  g.dil_w = o.dil_w;
  set_output_size(g, x, "conv2d");
  return g;
}

Tensor conv2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias, const Conv2dParams& o) {
  check_same_device("conv2d", {&x_in, &weight_in, &bias});
  Window2d g = conv2d_geometry(x_in, weight_in, o);
  int64_t out_c = weight_in.size(0), og = out_c / o.groups, ckk = g.c * g.kh * g.kw;
  int64_t cols = g.n * g.out_h * g.out_w;
  if (bias.defined()) {
    QTORCH_CHECK(bias.dim() == 1 && bias.size(0) == out_c, "conv2d: expected bias [{}], got {}",
                 out_c, shape_str(bias.shape()));
  }
  const bool direct = use_direct(x_in.device(), g, out_c, o);
  if (!direct)
    check_gemm_extents(plain_gemm(nullptr, false, ckk, nullptr, false, cols, nullptr, og, cols, ckk, 0.0f), "conv2d");
  Tensor x = contiguous(x_in), weight = contiguous(weight_in);
  Backend& be = backend_for(x.device());
  if (direct) {
    Tensor y = empty({g.n, out_c, g.out_h, g.out_w}, x.device());
    if (y.numel() > 0) be.conv2d_direct(x, weight, contiguous_or_undefined(bias), g, y);
    return y;
  }
  Tensor col = empty({ckk, cols}, x.device());
  Tensor y = empty({out_c, cols}, x.device());  // [O, N*OH*OW]
  for (int64_t grp = 0; grp < o.groups; ++grp) {
    be.im2col(x, x.size(1), grp * g.c, g, col);
    be.gemm(plain_gemm(weight.data_ptr() + grp * og * ckk, false, ckk, col.data_ptr(), false, cols,
                       y.data_ptr() + grp * og * cols, og, cols, ckk, 0.0f));
  }
  Tensor out = contiguous(permute(reshape(y, {out_c, g.n, g.out_h, g.out_w}), {1, 0, 2, 3}));
  if (bias.defined()) out = binary(BinaryOp::Add, out, reshape(bias, {1, out_c, 1, 1}), "conv2d");
  return out;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight_in, const Shape& x_shape,
                             const Conv2dParams& o) {
  QTORCH_CHECK(grad_out.defined() && weight_in.defined(),
               "conv2d_backward_input: expected a defined grad_out and weight");
  Tensor x_meta = as_strided(grad_out, x_shape, contiguous_strides(x_shape), 0);
  Window2d g = conv2d_geometry(x_meta, weight_in, o);
  int64_t out_c = weight_in.size(0), og = out_c / o.groups, ckk = g.c * g.kh * g.kw;
  int64_t cols = g.n * g.out_h * g.out_w;
  check_grad_out(grad_out, g, out_c, "conv2d_backward_input");
  const bool direct = use_direct(grad_out.device(), g, out_c, o);
  if (!direct)
    check_gemm_extents(plain_gemm(nullptr, true, ckk, nullptr, false, cols, nullptr, ckk, cols, og, 0.0f),
                       "conv2d_backward_input");
  Tensor weight = contiguous(weight_in);
  Backend& be = backend_for(grad_out.device());
  if (direct) {
    Tensor dx = empty(x_shape, grad_out.device());
    if (dx.numel() > 0) be.conv2d_direct_backward_input(contiguous(grad_out), weight, g, dx);
    return dx;
  }
  Tensor dy = contiguous(permute(grad_out, {1, 0, 2, 3}));  // [O, N*OH*OW]
  Tensor dx = zeros(x_shape, grad_out.device());
  Tensor dcol = empty({ckk, cols}, grad_out.device());
  for (int64_t grp = 0; grp < o.groups; ++grp) {
    be.gemm(plain_gemm(weight.data_ptr() + grp * og * ckk, true, ckk, dy.data_ptr() + grp * og * cols,
                       false, cols, dcol.data_ptr(), ckk, cols, og, 0.0f));
    be.col2im(dcol, x_shape[1], grp * g.c, g, dx);
  }
  return dx;
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x_in, const Shape& w_shape,
                              const Conv2dParams& o) {
  QTORCH_CHECK(grad_out.defined() && x_in.defined(), "conv2d_backward_weight: expected a defined grad_out and input");
  Tensor w_meta = as_strided(grad_out, w_shape, contiguous_strides(w_shape), 0);
  Window2d g = conv2d_geometry(x_in, w_meta, o);
  int64_t out_c = w_shape[0], og = out_c / o.groups, ckk = g.c * g.kh * g.kw;
  int64_t cols = g.n * g.out_h * g.out_w;
  check_grad_out(grad_out, g, out_c, "conv2d_backward_weight");
  const bool direct = use_direct(x_in.device(), g, out_c, o);
  if (!direct)
    check_gemm_extents(plain_gemm(nullptr, false, cols, nullptr, true, cols, nullptr, og, ckk, cols, 0.0f),
                       "conv2d_backward_weight");
  Tensor x = contiguous(x_in);
  Backend& be = backend_for(x.device());
  Tensor dw = empty(w_shape, x.device());
  if (direct) {
    if (x.numel() > 0 && grad_out.numel() > 0) {
      be.conv2d_direct_backward_weight(contiguous(grad_out), x, g, dw);
    } else {
      be.fill(dw, 0.0f);
    }
    return dw;
  }
  Tensor dy = contiguous(permute(grad_out, {1, 0, 2, 3}));
  Tensor col = empty({ckk, cols}, x.device());
  for (int64_t grp = 0; grp < o.groups; ++grp) {
    be.im2col(x, x.size(1), grp * g.c, g, col);
    be.gemm(plain_gemm(dy.data_ptr() + grp * og * cols, false, cols, col.data_ptr(), true, cols,
                       dw.data_ptr() + grp * og * ckk, og, ckk, cols, 0.0f));
  }
  return dw;
}

Window2d pool2d_geometry(const Tensor& x, const Pool2dParams& o, const char* name) {
  QTORCH_CHECK(x.defined() && x.dim() == 4, "{}: expected input [N, C, H, W], got {}", name,
               x.defined() ? shape_str(x.shape()) : "undefined");
  Window2d g;
  g.n = x.size(0);
  g.c = x.size(1);
  g.h = x.size(2);
  g.w = x.size(3);
  g.kh = o.kernel_h;
  g.kw = o.kernel_w;
  g.stride_h = o.stride_h > 0 ? o.stride_h : o.kernel_h;
  g.stride_w = o.stride_w > 0 ? o.stride_w : o.kernel_w;
  g.pad_h = o.pad_h;
  g.pad_w = o.pad_w;
  QTORCH_CHECK(g.kh >= 1 && g.kw >= 1 && o.stride_h >= 0 && o.stride_w >= 0 && g.pad_h >= 0 &&
                   g.pad_w >= 0 && g.pad_h <= g.kh / 2 && g.pad_w <= g.kw / 2,
               "{}: expected kernel >= 1, stride >= 0, 0 <= padding <= kernel/2, got kernel {}x{} "
               "stride {}x{} padding {}x{}", name, g.kh, g.kw, o.stride_h, o.stride_w, g.pad_h, g.pad_w);
  set_output_size(g, x, name);
  return g;
}

namespace {
// The indices are float32 positions in a plane: exact up to 2^24.
void check_plane_for_indices(const Window2d& g, const Shape& x_shape, const char* op) {
  QTORCH_CHECK(g.h * g.w <= kMaxFloatIndex + 1,
               "{}: expected planes of at most 2^24 + 1 elements (the indices are float32, exact up to 2^24), "
               "got {}x{} in {}",
               op, g.h, g.w, shape_str(x_shape));
}
}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& x_in, const Pool2dParams& o) {
  Window2d g = pool2d_geometry(x_in, o, "max_pool2d");
  check_plane_for_indices(g, x_in.shape(), "max_pool2d");
  Tensor x = contiguous(x_in);
  Tensor out = empty({g.n, g.c, g.out_h, g.out_w}, x.device());
  Tensor idx = empty(out.shape(), x.device());
  if (out.numel() > 0) backend_for(x.device()).max_pool2d(x, g, out, idx);
  return {out, idx};
}

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& x_shape,
                           const Pool2dParams& o) {
  QTORCH_CHECK(grad_out.defined() && indices.defined(), "max_pool2d_backward: expected a defined grad_out and indices");
  Window2d g = pool2d_geometry(as_strided(grad_out, x_shape, contiguous_strides(x_shape), 0), o,
                               "max_pool2d");
  check_plane_for_indices(g, x_shape, "max_pool2d_backward");
  const Shape out_shape{g.n, g.c, g.out_h, g.out_w};
  QTORCH_CHECK(grad_out.shape() == out_shape && indices.shape() == out_shape,
               "max_pool2d_backward: expected grad_out and indices {} for input {}, got {} and {}",
               shape_str(out_shape), shape_str(x_shape), shape_str(grad_out.shape()), shape_str(indices.shape()));
  check_same_device("max_pool2d_backward", {&grad_out, &indices});
  Tensor dx = empty(x_shape, grad_out.device());
  if (dx.numel() > 0)
    backend_for(dx.device()).max_pool2d_backward(contiguous(grad_out), contiguous(indices), g, dx);
  return dx;
}

Tensor avg_pool2d(const Tensor& x_in, const Pool2dParams& o) {
  Window2d g = pool2d_geometry(x_in, o, "avg_pool2d");
  Tensor x = contiguous(x_in);
  Tensor out = empty({g.n, g.c, g.out_h, g.out_w}, x.device());
  if (out.numel() > 0) backend_for(x.device()).avg_pool2d(x, g, out);
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& x_shape, const Pool2dParams& o) {
  QTORCH_CHECK(grad_out.defined(), "avg_pool2d_backward: expected a defined grad_out");
  Window2d g = pool2d_geometry(as_strided(grad_out, x_shape, contiguous_strides(x_shape), 0), o,
                               "avg_pool2d");
  const Shape out_shape{g.n, g.c, g.out_h, g.out_w};
  QTORCH_CHECK(grad_out.shape() == out_shape, "avg_pool2d_backward: expected grad_out {} for input {}, got {}",
               shape_str(out_shape), shape_str(x_shape), shape_str(grad_out.shape()));
  Tensor dx = zeros(x_shape, grad_out.device());
  if (dx.numel() > 0) backend_for(dx.device()).avg_pool2d_backward(contiguous(grad_out), g, dx);
  return dx;
}

}  // namespace qtorch::ops
