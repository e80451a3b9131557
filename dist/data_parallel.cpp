// The gradient exchange of data-parallel training.
#include "qtorch/dist/data_parallel.h"

#include <algorithm>
#include <cmath>
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

ExchangeStats GradientExchange::exchange(const std::vector<Tensor>& params, double weight, int64_t count,
                                         double scale) {
  QTORCH_CHECK(weight >= 0 && weight <= 1, "GradientExchange: expected a batch share in [0, 1], got {}", weight);
  QTORCH_CHECK(std::isfinite(scale) && scale > 0, "GradientExchange: expected a loss scale > 0, got {}", scale);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (const Tensor& p : params) grads.push_back(host_gradient(p));
  if (options_.error_feedback && scale != residual_scale_) {
    // The residual was taken from gradients at the old scale: bring it to the new one
    // (exact for the dynamic scaler's factors of 2).
    const float ratio = static_cast<float>(scale / residual_scale_);
    for (Tensor& r : residuals_) r = r * ratio;
    residual_scale_ = scale;
  }
  std::vector<Tensor> next_residuals;  // error feedback: what this exchange left behind
  ExchangeStats stats = options_.number ? exchange_quantized(grads, weight, count, next_residuals)
                                        : exchange_float32(grads, weight, count);
  for (const Tensor& g : grads) {
    const float* v = g.data_ptr();
    for (int64_t i = 0, n = g.numel(); i < n && !stats.non_finite; ++i) stats.non_finite = !std::isfinite(v[i]);
  }
  // The residual moves on only with a step that is applied: a loss scaler skips one whose
  // exchange overflowed, and a residual taken from it would hold inf or NaN for good.
  const bool skipped = options_.overflow_skips_step && (stats.total_count > 0 || stats.non_finite);
  if (!next_residuals.empty() && !skipped) residuals_ = std::move(next_residuals);
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

ExchangeStats GradientExchange::exchange_quantized(const std::vector<Tensor>& grads, double weight, int64_t count,
                                                   std::vector<Tensor>& next_residuals) {
  const Number& number = *options_.number;
  if (options_.error_feedback && residuals_.size() != grads.size()) {
    residuals_.clear();
    for (const Tensor& g : grads) residuals_.push_back(zeros(g.shape()));
  }
  // A rank with no sample sends its zeros alone: the others weigh them by 0, so a residual
  // sent along would be lost rather than delivered.
  const bool feed = options_.error_feedback && weight > 0;
  std::vector<uint8_t> message(kHeaderBytes);  // the header is written once the counts are known
  ExchangeStats stats;
  for (size_t i = 0; i < grads.size(); ++i) {
    Tensor v = feed ? grads[i] + residuals_[i] : grads[i];
    QuantStats saturation;
    quant::QuantizeOptions qopts{.generator = &generator_, .stats = &saturation};
    Tensor q = quant::quantize(v, number, options_.rounding, qopts);
    stats.clamped += saturation.clamped;
    if (feed) next_residuals.push_back(v - q);
    encode_payload(q, number, message);
    stats.elements += q.numel();
  }
  // Saturation in the communication format is overflow too (docs/numerics.md, "Overflow must
  // stay visible"): a saturating format turns it into +-max, which no check for inf sees.
  // Not a block format's: it saturates relative to each block's own scale, at any loss scale.
  const int64_t sent_count = count + (qtorch::loss_scale_moves_saturation(number) ? stats.clamped : 0);
  std::memcpy(message.data(), &weight, sizeof(double));
  std::memcpy(message.data() + sizeof(double), &sent_count, sizeof(int64_t));
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

void align_generator(Communicator& comm, Generator& generator) {
  const uint64_t mine[2] = {generator.seed(), generator.offset()};
  std::vector<uint8_t> bytes(sizeof mine);
  std::memcpy(bytes.data(), mine, sizeof mine);
  const std::vector<std::vector<uint8_t>> all = comm.all_gather(bytes);
  uint64_t seed = 0, furthest = 0;
  for (size_t r = 0; r < all.size(); ++r) {
    QTORCH_CHECK(all[r].size() == sizeof mine, "align_generator: expected 16 bytes (seed, offset) from rank {}, got {}",
                 r, all[r].size());
    uint64_t theirs[2];
    std::memcpy(theirs, all[r].data(), sizeof theirs);
    if (r == 0) seed = theirs[0];
    furthest = std::max(furthest, theirs[1]);
  }
  generator.set_state(seed, furthest);
}

void check_same_on_every_rank(Communicator& comm, const std::vector<std::pair<std::string, std::string>>& items,
                              const std::string& what) {
  // name and value, each as a 4-byte length and its bytes
  std::vector<uint8_t> mine;
  auto put = [&mine](const std::string& text) {
    const uint32_t n = static_cast<uint32_t>(text.size());
    mine.insert(mine.end(), reinterpret_cast<const uint8_t*>(&n), reinterpret_cast<const uint8_t*>(&n) + sizeof n);
    mine.insert(mine.end(), text.begin(), text.end());
  };
  for (const auto& [name, value] : items) {
    put(name);
    put(value);
  }
  const std::vector<std::vector<uint8_t>> all = comm.all_gather(mine);
  auto read = [](const std::vector<uint8_t>& bytes) {
    std::vector<std::string> texts;
    for (size_t at = 0; at + sizeof(uint32_t) <= bytes.size();) {
      uint32_t n = 0;
      std::memcpy(&n, bytes.data() + at, sizeof n);
      at += sizeof n;
      if (n > bytes.size() - at) break;
      texts.emplace_back(reinterpret_cast<const char*>(bytes.data() + at), n);
      at += n;
    }
    return texts;
  };
  const std::vector<std::string> first = read(all[0]);
  for (size_t r = 1; r < all.size(); ++r) {
    const std::vector<std::string> theirs = read(all[r]);
    for (size_t i = 0; i + 1 < std::max(first.size(), theirs.size()); i += 2) {
      const bool in_first = i + 1 < first.size(), in_theirs = i + 1 < theirs.size();
      if (in_first && in_theirs && first[i] == theirs[i] && first[i + 1] == theirs[i + 1]) continue;
      const std::string name = in_first ? first[i] : theirs[i];
      QTORCH_FAIL("{}: expected the same {} on every rank, got {} on rank {} and {} on rank 0", what, name,
                  in_theirs && theirs[i] == name ? "'" + theirs[i + 1] + "'" : "none", r,
                  in_first && first[i] == name ? "'" + first[i + 1] + "'" : "none");
    }
  }
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
