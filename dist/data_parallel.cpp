// The gradient exchange of data-parallel training.
#include "qtorch/dist/data_parallel.h"

#include <cstring>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/dist/payload.h"
#include "qtorch/quant/quantize.h"

namespace qtorch::dist {
namespace {

constexpr size_t kHeaderBytes = sizeof(double) + sizeof(int64_t);

// The stream of rank r: offsets 2^48 apart, far beyond any run's draws.
uint64_t rank_offset(int rank) { return static_cast<uint64_t>(rank) << 48; }

// The gradient of p on the CPU, contiguous (zeros when p has none).
Tensor host_gradient(const Tensor& p) {
  Tensor g = p.grad();
  if (!g.defined()) return zeros(p.shape());
  g = g.cpu();
  return g.is_contiguous() ? g : g.clone();
}

void set_gradient(Tensor p, const Tensor& host) {
  Tensor g = p.grad();
  if (g.defined() && g.device() == p.device() && g.shape() == p.shape()) {
    if (g.data_ptr() != host.data_ptr()) g.copy_(host);
  } else {
    p.set_grad(host.to(p.device()));
  }
}

}  // namespace

GradientExchange::GradientExchange(std::shared_ptr<Communicator> comm, ExchangeOptions options)
    : comm_(std::move(comm)), options_(std::move(options)), generator_(options_.seed) {
  QTORCH_CHECK(comm_ != nullptr, "GradientExchange: expected a communicator, got null");
  if (options_.number) check_packable(*options_.number, "comm");
  QTORCH_CHECK(!options_.error_feedback || options_.number,
               "GradientExchange: error feedback needs a communication format (comm), got float32");
  generator_.set_state(options_.seed, rank_offset(comm_->rank()));
}

ExchangeStats GradientExchange::exchange(const std::vector<Tensor>& params, double weight, int64_t count) {
  QTORCH_CHECK(weight >= 0 && weight <= 1, "GradientExchange: expected a batch share in [0, 1], got {}", weight);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (const Tensor& p : params) grads.push_back(host_gradient(p));
  ExchangeStats stats = options_.number ? exchange_quantized(grads, weight, count) : exchange_float32(grads, weight, count);
  for (size_t i = 0; i < params.size(); ++i) set_gradient(params[i], grads[i]);
  return stats;
}

ExchangeStats GradientExchange::exchange_float32(const std::vector<Tensor>& grads, double weight, int64_t count) {
  ExchangeStats stats;
  for (const Tensor& g : grads) stats.elements += g.numel();
  std::vector<float> flat(static_cast<size_t>(stats.elements));
  size_t at = 0;
  const float w = static_cast<float>(weight);
  for (const Tensor& g : grads) {
    const float* src = g.data_ptr();
    const int64_t n = g.numel();
    for (int64_t i = 0; i < n; ++i) flat[at++] = w * src[i];
  }
  comm_->all_reduce_sum(flat.data(), flat.size());
  double total = static_cast<double>(count);
  comm_->all_reduce_sum(&total, 1);
  at = 0;
  for (const Tensor& g : grads) {
    std::memcpy(g.data_ptr(), flat.data() + at, static_cast<size_t>(g.numel()) * sizeof(float));
    at += static_cast<size_t>(g.numel());
  }
  stats.bytes_sent = stats.elements * static_cast<int64_t>(sizeof(float));
  stats.total_count = static_cast<int64_t>(total);
  return stats;
}

ExchangeStats GradientExchange::exchange_quantized(const std::vector<Tensor>& grads, double weight, int64_t count) {
  const Number& number = *options_.number;
  if (options_.error_feedback && residuals_.size() != grads.size()) {
    residuals_.clear();
    for (const Tensor& g : grads) residuals_.push_back(zeros(g.shape()));
  }
  std::vector<uint8_t> message(kHeaderBytes);
  std::memcpy(message.data(), &weight, sizeof(double));
  std::memcpy(message.data() + sizeof(double), &count, sizeof(int64_t));
  ExchangeStats stats;
  quant::QuantizeOptions qopts{.generator = &generator_};
  for (size_t i = 0; i < grads.size(); ++i) {
    Tensor v = options_.error_feedback ? grads[i] + residuals_[i] : grads[i];
    Tensor q = quant::quantize(v, number, options_.rounding, qopts);
    if (options_.error_feedback) residuals_[i] = v - q;
    encode_payload(q, number, message);
    stats.elements += q.numel();
  }
  stats.bytes_sent = static_cast<int64_t>(message.size());

  const std::vector<std::vector<uint8_t>> all = comm_->all_gather(message);
  for (const Tensor& g : grads) std::memset(g.data_ptr(), 0, static_cast<size_t>(g.numel()) * sizeof(float));
  std::vector<float> decoded;
  for (size_t r = 0; r < all.size(); ++r) {
    const std::vector<uint8_t>& m = all[r];
    QTORCH_CHECK(m.size() >= kHeaderBytes, "GradientExchange: rank {} sent {} bytes, expected at least {}", r, m.size(),
                 kHeaderBytes);
    double w = 0;
    int64_t c = 0;
    std::memcpy(&w, m.data(), sizeof(double));
    std::memcpy(&c, m.data() + sizeof(double), sizeof(int64_t));
    stats.total_count += c;
    size_t offset = kHeaderBytes;
    const float wf = static_cast<float>(w);
    for (const Tensor& g : grads) {
      decoded.resize(static_cast<size_t>(g.numel()));
      decode_payload(m.data(), m.size(), offset, number, g.shape(), decoded.data());
      float* dst = g.data_ptr();
      const int64_t n = g.numel();
      for (int64_t i = 0; i < n; ++i) dst[i] += wf * decoded[static_cast<size_t>(i)];
    }
    QTORCH_CHECK(offset == m.size(), "GradientExchange: rank {} sent {} bytes, {} of them unread (the ranks' "
                 "parameters differ)", r, m.size(), m.size() - offset);
  }
  return stats;
}

void GradientExchange::broadcast(const std::vector<Tensor>& tensors, int root) {
  NoGradGuard no_grad;
  for (const Tensor& t : tensors) {
    Tensor host = t.cpu().contiguous();
    if (host.data_ptr() == t.data_ptr()) host = host.clone();
    comm_->broadcast(host.data_ptr(), static_cast<size_t>(host.numel()) * sizeof(float), root);
    Tensor(t).copy_(host);
  }
}

}  // namespace qtorch::dist
