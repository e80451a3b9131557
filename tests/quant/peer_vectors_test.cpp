// qtorch against the reference programs docs/numerics.md names, on their own outputs:
// Microsoft's microxcaling emulator for MX; QPyTorch's CPU extension for fixed, floating and
// block floating point (round to nearest); PyTorch's float16 and bfloat16 casts; MPTorch's
// CPU GEMMs for qmatmul; CPFloat for IEEE-range and extended floating formats in every
// deterministic rounding mode. The vectors were written by those programs
// (tests/quant/peers/make_peer_vectors.py, make_cpfloat_vectors.c); nothing here computes
// an expected value.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "qtorch/quant/mac.h"
#include "qtorch/quant/quantize.h"

namespace qtorch::quant::test {
namespace {

struct PeerCase {
  std::string peer, number, rounding, input;
  std::vector<float> expected;
  std::vector<uint8_t> flags;  // 0: the bits must match; else why the reference may differ
};

struct PeerProduct {
  std::string peer, options, a, b;
  std::vector<float> expected;
  std::vector<uint8_t> flags;
};

struct PeerVectors {
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> inputs;
  std::vector<PeerCase> cases;
  std::vector<PeerProduct> products;
};

template <typename T>
std::vector<T> read_values(std::ifstream& in, size_t n, const std::string& what) {
  std::vector<T> v(n);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
  if (!in) throw std::runtime_error("peer vectors: truncated in " + what);
  return v;  // the file is little-endian, as every machine this builds for
}

PeerVectors load_peer_vectors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string line;
  std::getline(in, line);
  if (line != "qtorch peer vectors 1") throw std::runtime_error(path + ": bad first line " + line);
  PeerVectors pv;
  std::vector<std::string> input_order;
  while (std::getline(in, line) && line != "end") {
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    if (kind == "input") {
      std::string name;
      words >> name;
      for (int64_t d; words >> d;) pv.inputs[name].first.push_back(d);
      input_order.push_back(name);
    } else if (kind == "case") {
      PeerCase c;
      words >> c.peer >> c.number >> c.rounding >> c.input;
      pv.cases.push_back(c);
    } else if (kind == "mac") {
      PeerProduct p;
      words >> p.peer >> p.options >> p.a >> p.b;
      pv.products.push_back(p);
    }
  }
  for (const std::string& name : input_order) {
    auto& [shape, values] = pv.inputs[name];
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    values = read_values<float>(in, n, "input " + name);
  }
  for (PeerCase& c : pv.cases) {
    const size_t n = pv.inputs.at(c.input).second.size();
    c.expected = read_values<float>(in, n, c.number);
    c.flags = read_values<uint8_t>(in, n, c.number);
  }
  for (PeerProduct& p : pv.products) {
    const size_t n = static_cast<size_t>(pv.inputs.at(p.a).first[0] * pv.inputs.at(p.b).first[1]);
    p.expected = read_values<float>(in, n, p.options);
    p.flags = read_values<uint8_t>(in, n, p.options);
  }
  if (in.peek() != std::ifstream::traits_type::eof())
    throw std::runtime_error(path + ": bytes left after the last case (the header and data disagree)");
  return pv;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

const PeerVectors& peer_vectors() {
  static const PeerVectors pv = load_peer_vectors(QTORCH_PEER_VECTORS);
  return pv;
}

const PeerVectors& cpfloat_vectors() {
  static const PeerVectors pv = load_peer_vectors(QTORCH_CPFLOAT_VECTORS);
  return pv;
}

// Every case, every element the reference computes exactly: qtorch's bits. The one rule
// apart is the sign of zero, which qtorch keeps (docs/numerics.md) where a reference may not:
// a zero of the reference must be a zero of the input's sign here. Prints the flagged counts;
// returns the number of elements compared.
int64_t expect_reference_bits(const PeerVectors& pv) {
  std::map<std::string, int64_t> flagged;
  int64_t compared = 0;
  for (const PeerCase& c : pv.cases) {
    SCOPED_TRACE(c.peer + " " + c.number + " " + c.rounding);
    const auto& [shape, x] = pv.inputs.at(c.input);
    const std::optional<Number> number = parse_number(c.number);
    if (!number.has_value()) {
      ADD_FAILURE() << "not a format: " << c.number;
      continue;
    }
    const std::vector<float> y =
        quantize(Tensor::from_vector(x, shape), *number, parse_rounding(c.rounding)).to_vector();
    int mismatches = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      if (c.flags[i] != 0) {
        ++flagged[c.peer + " flag " + std::to_string(c.flags[i])];
        continue;
      }
      ++compared;
      const bool same = c.expected[i] == 0 ? y[i] == 0 && std::signbit(y[i]) == std::signbit(x[i])
                                           : bits_of(y[i]) == bits_of(c.expected[i]);
      if (!same && ++mismatches <= 5)
        ADD_FAILURE() << "element " << i << ": input " << std::hexfloat << x[i] << ", reference "
                      << c.expected[i] << ", qtorch " << y[i];
    }
    EXPECT_EQ(mismatches, 0);
  }
  for (const auto& [what, count] : flagged) std::printf("  flagged by %s: %lld\n", what.c_str(), (long long)count);
  std::printf("  compared bit for bit: %lld elements in %zu cases\n", (long long)compared, pv.cases.size());
  return compared;
}

TEST(PeerVectors, EveryUnflaggedElementHasTheReferenceBits) {
  const PeerVectors& pv = peer_vectors();
  ASSERT_EQ(pv.cases.size(), 117u);
  // The flags stay the exception: they name rare float32 artifacts of the references.
  EXPECT_GT(expect_reference_bits(pv), 200000);
}

// CPFloat (make_cpfloat_vectors.c): 19 IEEE-range and extended formats (fp16, bf16, tf32,
// e5m2, custom widths and bias, without subnormals, saturating or overflowing to inf), each in
// nearest-even, nearest (ties away), toward zero, up and down, on their decision points, the
// subnormal grid, the overflow threshold and random values. Flag 1: an inf input to a
// saturating IEEE-range format, which qtorch keeps as inf and CPFloat saturates.
TEST(PeerVectors, EveryDeterministicRoundingHasCpfloatsBits) {
  const PeerVectors& pv = cpfloat_vectors();
  ASSERT_EQ(pv.cases.size(), 95u);
  EXPECT_GT(expect_reference_bits(pv), 110000);
}

// MPTorch's float_mm and fxp_mm (round to nearest; with and without FMA) against qmatmul, on
// every output whose reference chain never rounded a float32 product or sum differently from
// the exact value (docs/numerics.md: each step is the exact value rounded once).
TEST(PeerVectors, QmatmulGivesMptorchsProducts) {
  const PeerVectors& pv = peer_vectors();
  ASSERT_EQ(pv.products.size(), 11u);
  int64_t compared = 0, flagged = 0;
  for (const PeerProduct& p : pv.products) {
    SCOPED_TRACE(p.peer + " " + p.options);
    const auto& [a_shape, a] = pv.inputs.at(p.a);
    const auto& [b_shape, b] = pv.inputs.at(p.b);
    const std::vector<float> y =
        qmatmul_forward(Tensor::from_vector(a, a_shape), Tensor::from_vector(b, b_shape), parse_mac(p.options))
            .to_vector();
    int mismatches = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      if (p.flags[i] != 0) {
        ++flagged;
        continue;
      }
      ++compared;
      if (bits_of(y[i]) != bits_of(p.expected[i]) && ++mismatches <= 5)
        ADD_FAILURE() << "output " << i << ": reference " << std::hexfloat << p.expected[i] << ", qtorch " << y[i];
    }
    EXPECT_EQ(mismatches, 0);
  }
  std::printf("  compared bit for bit: %lld products; flagged: %lld\n", (long long)compared, (long long)flagged);
  EXPECT_GT(compared, 4000);
}

}  // namespace
}  // namespace qtorch::quant::test
