// Trains one step through the installed headers and library; prints the gradient.
#include <qtorch/qtorch.h>

#include <cstdio>

int main() {
  qtorch::Tensor x = qtorch::ones({2, 2}).requires_grad_();
  qtorch::sum(x * x).backward();
  std::printf("%s\n", x.grad().str().c_str());
  return x.grad().to_vector() == std::vector<float>{2, 2, 2, 2} ? 0 : 1;
}
