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

// Measured on an H100 (CUDA 13.0, bench/conv_bench's cuda_ groups through scripts/gpu-check.sh,
// commit 6e6f352; forward and both gradients, direct against im2col + GEMM, batch 1024 / 128):
// c1_o6_k5 2.95 / 1.96 times as fast, c3_o16_k3 2.91 / 2.17, c6_o16_k5 1.97 / 1.34, c16_o32_k3
// 1.78 / 1.51, c32_o32_k3 1.57 / 1.56; but c32_o64_k3 0.99 / 0.71 and c64_o64_k3 0.85-0.88 /
// 0.70-0.87. So the direct kernel takes up to 32 channels each way and up to 288 products per
// output (32 x 3 x 3, the widest measured); cuBLAS keeps the rest.
bool CudaBackend::conv2d_direct_preferred(const Window2d& g, int64_t out_channels) const {
  return conv2d_direct_supported(g, out_channels) && products_per_output_channel(g) <= 288 &&
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
