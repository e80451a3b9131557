// The GPU's fused optimizer updates (optim/cuda/tensor_list.cuh with the steps of
// optim/cuda/updates.cuh) run on the CPU through tests/support/cuda_emulation.h, against the
// CPU's fused updates (sgd_update_cpu, adam_update_cpu) bit for bit: lists longer than one
// launch takes, parameters longer than one CUDA block's chunk, empty ones, every SGD option
// and Adam and AdamW. tests/cuda runs the same kernels on a device (optimizer_parity_test.cpp).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "qtorch/optim/adam_kernel.h"
#include "qtorch/optim/sgd_kernel.h"
#include "tests/support/cuda_emulation.h"
// After the emulation: the kernels see its CUDA keywords.
#include "qtorch/optim/cuda/tensor_list.cuh"
#include "qtorch/optim/cuda/updates.cuh"

using namespace qtorch::optim;

namespace {

std::vector<float> values(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = dist(rng);
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Sizes: 50 parameters (more than one launch takes), one past a CUDA block's chunk, one empty.
std::vector<int64_t> sizes() {
  std::vector<int64_t> n;
  for (int i = 0; i < 50; ++i) n.push_back(1 + (i * 37) % 300);
  n[7] = kListChunk + 5;
  n[20] = 0;
  return n;
}

TEST(FusedUpdateEmulated, SgdGivesTheCpuBits) {
  const SGDConstants options[] = {{}, {.momentum = 0.9f, .keep = 1.0f, .weight_decay = 1e-4f},
                                  {.momentum = 0.9f, .keep = 0.75f, .weight_decay = 0.0f, .nesterov = true}};
  for (const SGDConstants& c : options)
    for (bool first : {true, false}) {
      const std::vector<int64_t> n = sizes();
      std::vector<std::vector<float>> p, g, buf;
      for (size_t i = 0; i < n.size(); ++i) {
        p.push_back(values(n[i], 3 * i, 1.0f));
        g.push_back(values(n[i], 3 * i + 1, 0.1f));
        buf.push_back(values(n[i], 3 * i + 2, 0.5f));
      }
      std::vector<std::vector<float>> p2 = p, buf2 = buf;
      std::vector<SGDTensor> cpu, gpu;
      for (size_t i = 0; i < n.size(); ++i) {
        const bool with_buffer = c.momentum != 0.0f;
        const float lr = 0.01f * static_cast<float>(1 + i % 3);
        cpu.push_back({p[i].data(), g[i].data(), with_buffer ? buf[i].data() : nullptr, n[i], lr, first});
        gpu.push_back({p2[i].data(), g[i].data(), with_buffer ? buf2[i].data() : nullptr, n[i], lr, first});
      }
      sgd_update_cpu(cpu, c);
      for_each_element<kSGDListMax>(gpu, SGDStep{c}, cuda_emulation::Launch{});
      for (size_t i = 0; i < n.size(); ++i) {
        EXPECT_TRUE(same_bits(p2[i], p[i])) << "weights of parameter " << i << ", momentum " << c.momentum;
        EXPECT_TRUE(same_bits(buf2[i], buf[i])) << "buffer of parameter " << i << ", momentum " << c.momentum;
      }
    }
}

TEST(FusedUpdateEmulated, AdamAndAdamWGiveTheCpuBits) {
  const AdamConstants c{};
  for (bool adamw : {false, true}) {
    const std::vector<int64_t> n = sizes();
    std::vector<std::vector<float>> p, g, m, v;
    for (size_t i = 0; i < n.size(); ++i) {
      p.push_back(values(n[i], 4 * i, 1.0f));
      g.push_back(values(n[i], 4 * i + 1, 0.1f));
      m.push_back(values(n[i], 4 * i + 2, 0.01f));
      std::vector<float> vi = values(n[i], 4 * i + 3, 0.001f);
      for (float& e : vi) e = e < 0 ? -e : e;
      v.push_back(vi);
    }
    std::vector<std::vector<float>> p2 = p, m2 = m, v2 = v;
    std::vector<AdamTensor> cpu, gpu;
    for (size_t i = 0; i < n.size(); ++i) {
      AdamScalars s{.decay = adamw ? 0.999f : 1.0f, .weight_decay = adamw ? 0.0f : 1e-2f,
                    .bias_correction2 = 0.05f * static_cast<float>(1 + i % 4), .step_scale = -0.01f};
      cpu.push_back({p[i].data(), g[i].data(), m[i].data(), v[i].data(), n[i], s});
      gpu.push_back({p2[i].data(), g[i].data(), m2[i].data(), v2[i].data(), n[i], s});
    }
    adam_update_cpu(cpu, c);
    for_each_element<kAdamListMax>(gpu, AdamStep{c}, cuda_emulation::Launch{});
    for (size_t i = 0; i < n.size(); ++i) {
      EXPECT_TRUE(same_bits(p2[i], p[i])) << "weights of parameter " << i << (adamw ? " (AdamW)" : " (Adam)");
      EXPECT_TRUE(same_bits(m2[i], m[i])) << "first moment of parameter " << i;
      EXPECT_TRUE(same_bits(v2[i], v[i])) << "second moment of parameter " << i;
    }
  }
}

}  // namespace
