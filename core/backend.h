// The device backend interface: every primitive kernel a device must provide.
// core/ops.cpp checks arguments, allocates outputs and calls exactly one of these;
// core/cpu/ implements it with xtensor/BLAS/OpenMP, core/cuda/ with CUDA/cuBLAS.
#pragma once

#include <cstdint>
#include <string>

#include "qtorch/core/device.h"
#include "qtorch/core/tensor.h"

namespace qtorch {

/// Elementwise functions of one tensor; a and b are scalar parameters where noted.
enum class UnaryOp {
  Copy,
  Neg,
  Exp,
  Log,
  Sqrt,
  Abs,
  Sign,
  Relu,
  Sigmoid,
  Tanh,
  AddScalar,   // x + a
  MulScalar,   // x * a
  PowScalar,   // x ^ a
  RSubScalar,  // a - x
  RDivScalar,  // a / x
  Clamp,       // min(max(x, a), b)
  GtScalar,    // x > a ? 1 : 0
  LtScalar,    // x < a ? 1 : 0
  GeScalar,    // x >= a ? 1 : 0
  EqScalar,    // x == a ? 1 : 0
};
/// How many UnaryOps there are (EqScalar is the last).
inline constexpr int kUnaryOpCount = static_cast<int>(UnaryOp::EqScalar) + 1;

/// Elementwise functions of two tensors; comparisons give 1 or 0.
enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge };
/// How many BinaryOps there are (Ge is the last).
inline constexpr int kBinaryOpCount = static_cast<int>(BinaryOp::Ge) + 1;

enum class ReduceOp { Sum, Max, Min, ArgMax };

/// Row-major batched GEMM: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b],
/// op(A) is [M, K], op(B) is [K, N], C is [M, N]; leading dimensions in elements.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const float* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  float* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
};

/// Refuses a product that BLAS (OpenBLAS's cblas_sgemm, cuBLAS) cannot take: N, K or a leading
/// dimension at or past 2^31 (their int). The CPU splits M into calls of fewer rows; the CUDA
/// backend refuses M and the batch count at 2^31 itself (core/cuda/gemm.cu). `op` names the
/// operation in the message.
void check_gemm_extents(const GemmArgs& g, const char* op);

/// Geometry of a 2-D window op (convolution or pooling) over [N, C, H, W] input.
struct Window2d {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t out_h = 0, out_w = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- memory ----
  /// numel floats on `device` (one of this backend's devices).
  virtual float* allocate(int64_t numel, Device device) = 0;
  virtual void deallocate(float* ptr) = 0;
  virtual void copy_from_host(const float* host, float* dst, int64_t numel) = 0;
  virtual void copy_to_host(const float* src, float* host, int64_t numel) = 0;

  // ---- elementwise: every tensor has out's shape (inputs may have stride-0 axes) ----
  virtual void copy(const Tensor& src, const Tensor& out) = 0;
  virtual void fill(const Tensor& out, float value) = 0;
  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out, float a, float b) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  /// out = cond != 0 ? a : b
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;

  // ---- reductions: x contiguous, seen as [outer, n, inner]; out contiguous [outer, inner].
  // ArgMax writes the index as a float. Sums must not depend on the thread count.
  virtual void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                      const Tensor& out) = 0;

  // ---- linear algebra ----
  virtual void gemm(const GemmArgs& args) = 0;

  // ---- softmax over the last axis of a contiguous [rows, cols] tensor ----
  virtual void softmax(const Tensor& x, const Tensor& out, int64_t rows, int64_t cols, bool log) = 0;
  /// out[r] = x[r, index[r]] for a contiguous x [rows, cols]; throws on an index out of range.
  virtual void gather_rows(const Tensor& x, const Tensor& index, const Tensor& out) = 0;
  /// out[r, index[r]] += values[r] for a contiguous out [rows, cols].
  virtual void scatter_add_rows(const Tensor& values, const Tensor& index, const Tensor& out) = 0;
  /// out[i, :] = x[index[i], :] for contiguous x [n, row] and out [m, row]; index [m] holds
  /// row numbers as floats, checked by the caller (ops::take_rows).
  virtual void take_rows(const Tensor& x, const Tensor& index, const Tensor& out) = 0;

  // ---- convolution by im2col: x contiguous [N, C, H, W] (one group's channels taken as
  // channels [c0, c0 + g.c) of x_channels), col contiguous [g.c*kh*kw, N*out_h*out_w] ----
  virtual void im2col(const Tensor& x, int64_t x_channels, int64_t c0, const Window2d& g,
                      const Tensor& col) = 0;
  /// Adds col back into the (zero-initialised) gradient of x; the inverse layout of im2col.
  virtual void col2im(const Tensor& col, int64_t x_channels, int64_t c0, const Window2d& g,
                      const Tensor& x_grad) = 0;

  // ---- direct convolution, optional: one group, no im2col buffer. ops::conv2d* use it where
  // conv2d_direct_preferred says so (or Conv2dParams::algorithm asks for it), else im2col + GEMM.
  // Tensors contiguous; g as from ops::conv2d_geometry; weight [O, C, kh, kw].
  /// Whether the direct kernels handle this geometry and channel count at all.
  virtual bool conv2d_direct_supported(const Window2d& /*g*/, int64_t /*out_channels*/) const { return false; }
  /// What conv2d_direct_supported asks beyond one group and channels > 0, for error messages.
  virtual std::string conv2d_direct_requirement() const { return "a device with direct kernels"; }
  /// Whether they are the faster choice for it (a measured rule).
  virtual bool conv2d_direct_preferred(const Window2d& /*g*/, int64_t /*out_channels*/) const {
    return false;
  }
  /// y [N, O, out_h, out_w] = conv(x, weight) (+ bias [O] where defined).
  virtual void conv2d_direct(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Window2d& g, const Tensor& y);
  /// grad_in [N, C, H, W] (overwritten) from grad_out [N, O, out_h, out_w].
  virtual void conv2d_direct_backward_input(const Tensor& grad_out, const Tensor& weight,
                                            const Window2d& g, const Tensor& grad_in);
  /// grad_weight [O, C, kh, kw] (overwritten) from grad_out and x.
  virtual void conv2d_direct_backward_weight(const Tensor& grad_out, const Tensor& x,
                                             const Window2d& g, const Tensor& grad_weight);

  // ---- pooling over contiguous [N, C, H, W]; out [N, C, out_h, out_w] ----
  /// indices holds the flat h*W+w position of each maximum within its channel, as float.
  virtual void max_pool2d(const Tensor& x, const Window2d& g, const Tensor& out,
                          const Tensor& indices) = 0;
  /// grad_in is overwritten (it need not be initialised).
  virtual void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Window2d& g,
                                   const Tensor& grad_in) = 0;
  /// Average over the window, padding counted as zeros (count_include_pad, as PyTorch).
  virtual void avg_pool2d(const Tensor& x, const Window2d& g, const Tensor& out) = 0;
  virtual void avg_pool2d_backward(const Tensor& grad_out, const Window2d& g,
                                   const Tensor& grad_in) = 0;

  // ---- random numbers from the counter-based generator (core/philox.h) ----
  /// Uniform [0, 1): element i = philox_uniform(seed, offset, i).
  virtual void random_uniform(const Tensor& out, uint64_t seed, uint64_t offset) = 0;
  /// Standard normal: element i = philox_normal(seed, offset, i).
  virtual void random_normal(const Tensor& out, uint64_t seed, uint64_t offset) = 0;

  /// Waits until all queued work on the device has finished.
  virtual void synchronize() = 0;
};

/// The backend of a device type; throws qtorch::Error for CUDA in a build without it.
Backend& backend_for(Device device);
/// Called once by a backend's translation unit at static-initialisation time.
void register_backend(DeviceType type, Backend* backend);

}  // namespace qtorch
