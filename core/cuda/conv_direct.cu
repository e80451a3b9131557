// CudaBackend's direct convolution: the launches of core/cuda/conv_direct_kernels.cuh and the
// rule that picks them over im2col + GEMM.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc

#include <algorithm>
#include <string>

#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/conv_direct_kernels.cuh"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/cuda_backend.h"

namespace qtorch::cuda {
namespace {
using conv_direct::block_fits;

int64_t products_per_output_channel(const Window2d& g) { return g.c * g.kh * g.kw; }
int64_t products_per_input_channel(const Window2d& g, int64_t out_channels) { return out_channels * g.kh * g.kw; }

}  // namespace

bool CudaBackend::conv2d_direct_supported(const Window2d& g, int64_t out_channels) const {
  return g.stride_h == 1 && g.stride_w == 1 && block_fits(products_per_output_channel(g), out_channels) &&
         block_fits(products_per_input_channel(g, out_channels), g.c);
}

std::string CudaBackend::conv2d_direct_requirement() const {
  return fmt::format("stride 1 and at most {} weights per block of up to {} channels (C*kh*kw "
                     "per output channel, O*kh*kw per input channel)",
                     conv_direct::kMaxSharedFloats, conv_direct::kMaxChannelBlock);
}

// Not measured yet (no GPU was lent while it was written; bench/conv_bench's cuda_ groups, run
// by scripts/gpu-check.sh, measure it). The rule follows the memory each path moves: im2col +
// GEMM writes and reads a [C*kh*kw, N*out_h*out_w] buffer, then permutes the result to NCHW and
// adds the bias, four launches where the direct kernel makes one and reads x from cache. At up
// to 150 products per output (LeNet's 25 and 150) the GEMM is too thin to make up for that;
// larger channel counts stay with cuBLAS until a measurement says otherwise.
bool CudaBackend::conv2d_direct_preferred(const Window2d& g, int64_t out_channels) const {
  return conv2d_direct_supported(g, out_channels) && products_per_output_channel(g) <= 150 &&
         out_channels <= 32 && g.c <= 32;
}

void CudaBackend::conv2d_direct(const Tensor& x, const Tensor& weight, const Tensor& bias, const Window2d& g,
                                const Tensor& y) {
  DeviceGuard guard(x);
  conv_direct::run_forward(x.data_ptr(), weight.data_ptr(), bias.defined() ? bias.data_ptr() : nullptr, g,
                           weight.size(0), y.data_ptr(), QueuedLaunch{guard.stream()});
}

void CudaBackend::conv2d_direct_backward_input(const Tensor& grad_out, const Tensor& weight, const Window2d& g,
                                               const Tensor& grad_in) {
  DeviceGuard guard(grad_out);
  conv_direct::run_backward_input(grad_out.data_ptr(), weight.data_ptr(), g, weight.size(0), grad_in.data_ptr(),
                                  QueuedLaunch{guard.stream()});
}

void CudaBackend::conv2d_direct_backward_weight(const Tensor& grad_out, const Tensor& x, const Window2d& g,
                                                const Tensor& grad_weight) {
  const int64_t out_c = grad_weight.size(0), depth = products_per_output_channel(g);
  const conv_direct::WeightChunks chunks = conv_direct::weight_chunks(g.n, g.out_h * g.out_w, out_c, depth);
  DeviceGuard guard(x);
  // Returned to the cache when this call ends: later use is ordered after the launches
  // on the device's one stream.
  Tensor partial = empty({chunks.chunks, out_c * depth}, x.device());
  conv_direct::run_backward_weight(grad_out.data_ptr(), x.data_ptr(), g, out_c, partial.data_ptr(),
                                   grad_weight.data_ptr(), QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::cuda
