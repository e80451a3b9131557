// The CUDA implementation of Backend (core/backend.h). The class is declared once here;
// its member functions are defined by family in elementwise.cu, reduce.cu, gemm.cu,
// softmax.cu, rows.cu, conv.cu, conv_direct.cu, pool.cu, random.cu and backend.cu (memory,
// registration). The kernels of most families are in headers (*_kernels.cuh) that tests also
// run on the CPU (tests/support/cuda_emulation.h).
#pragma once

#include "qtorch/core/backend.h"

namespace qtorch::cuda {

class CudaBackend final : public Backend {
 public:
  float* allocate(int64_t numel, Device device) override;
  void deallocate(float* ptr) override;
  void copy_from_host(const float* host, float* dst, int64_t numel) override;
  void copy_to_host(const float* src, float* host, int64_t numel) override;

  void copy(const Tensor& src, const Tensor& out) override;
  void fill(const Tensor& out, float value) override;
  void unary(UnaryOp op, const Tensor& x, const Tensor& out, float a, float b) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;

  void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
              const Tensor& out) override;

  void gemm(const GemmArgs& args) override;

  void softmax(const Tensor& x, const Tensor& out, int64_t rows, int64_t cols, bool log) override;
  void gather_rows(const Tensor& x, const Tensor& index, const Tensor& out) override;
  void scatter_add_rows(const Tensor& values, const Tensor& index, const Tensor& out) override;
  void take_rows(const Tensor& x, const Tensor& index, const Tensor& out) override;

  void im2col(const Tensor& x, int64_t x_channels, int64_t c0, const Window2d& g,
              const Tensor& col) override;
  void col2im(const Tensor& col, int64_t x_channels, int64_t c0, const Window2d& g,
              const Tensor& x_grad) override;

  bool conv2d_direct_supported(const Window2d& g, int64_t out_channels) const override;
  std::string conv2d_direct_requirement() const override;
  bool conv2d_direct_preferred(const Window2d& g, int64_t out_channels) const override;
  void conv2d_direct(const Tensor& x, const Tensor& weight, const Tensor& bias, const Window2d& g,
                     const Tensor& y) override;
  void conv2d_direct_backward_input(const Tensor& grad_out, const Tensor& weight, const Window2d& g,
                                    const Tensor& grad_in) override;
  void conv2d_direct_backward_weight(const Tensor& grad_out, const Tensor& x, const Window2d& g,
                                     const Tensor& grad_weight) override;

  void max_pool2d(const Tensor& x, const Window2d& g, const Tensor& out,
                  const Tensor& indices) override;
  void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Window2d& g,
                           const Tensor& grad_in) override;
  void avg_pool2d(const Tensor& x, const Window2d& g, const Tensor& out) override;
  void avg_pool2d_backward(const Tensor& grad_out, const Window2d& g,
                           const Tensor& grad_in) override;

  void random_uniform(const Tensor& out, uint64_t seed, uint64_t offset) override;
  void random_normal(const Tensor& out, uint64_t seed, uint64_t offset) override;

  void synchronize() override;
};

}  // namespace qtorch::cuda
