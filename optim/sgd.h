// optim::SGD with momentum, dampening, Nesterov and weight decay (PyTorch's update rule).
#pragma once

#include <vector>

#include "qtorch/optim/optimizer.h"

namespace qtorch::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

/// d = g + wd*p; if momentum: buf = d on the first step, else buf = m*buf + (1-dampening)*d,
/// and d = nesterov ? d + m*buf : buf; then p -= lr * d.
class SGD : public Optimizer {
 public:
  SGD(const std::vector<Tensor>& params, const SGDOptions& options);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options);

  void step() override;
  std::vector<std::string> state_names() const override;
  const SGDOptions& options() const { return options_; }

 private:
  void check_options() const;
  SGDOptions options_;
};

}  // namespace qtorch::optim
