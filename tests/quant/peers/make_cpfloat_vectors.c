/* Writes tests/quant/peers/cpfloat_vectors.bin: inputs and the outputs of CPFloat (Fasi and
 * Mikaitis, the C library of custom-precision rounding), run on them, for
 * tests/quant/peer_vectors_test.cpp. It covers what CPFloat and docs/numerics.md both define:
 * IEEE-range formats (top exponent code reserved) with and without subnormals, overflowing to
 * inf or saturating, with a custom bias; and the reference's extended range (saturating or
 * not), in every deterministic rounding mode (nearest ties even, nearest ties away, toward
 * zero, up, down). Stochastic rounding is left out: CPFloat draws from its own generator.
 *
 * Nothing here computes an expected value: every output is CPFloat's own (cpfloatf on float32
 * storage, which rounds exactly on the bits). The program only makes the inputs (decision
 * points of each format and random values, from a fixed seed) and one flag:
 *   1  an infinite input to a saturating IEEE-range format: docs/numerics.md keeps the inf
 *      ("an inf input stays inf even in a saturating IEEE format"), CPFloat saturates it.
 * NaN inputs are left out (CPFloat's bit rules do not promise a NaN).
 *
 * Build and run, with a snapshot of https://github.com/north-numerical-computing/cpfloat:
 *   bash tests/quant/peers/make_cpfloat_vectors.sh CPFLOAT_DIR
 * File format: as peer_vectors.bin (see make_peer_vectors.py), peer "cpfloat".
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpfloat_binary32.h"

typedef struct {
  const char* text; /* qtorch's text form (quant::parse_number) */
  int man, emin, emax;
  int ieee, saturate, subnormals;
} Format;

/* emin = 1 - bias; IEEE: emax = 2^exp - 2 - bias; extended: emax = 2^exp - 1 - bias. */
static const Format kFormats[] = {
    {"fp16", 10, -14, 15, 1, 0, 1},
    {"bf16", 7, -126, 127, 1, 0, 1},
    {"tf32", 10, -126, 127, 1, 0, 1},
    {"e5m2", 2, -14, 15, 1, 0, 1},
    {"e5m2_sat", 2, -14, 15, 1, 1, 1},
    {"float:4:3:ieee:nosat", 3, -6, 7, 1, 0, 1},
    {"float:4:3:ieee", 3, -6, 7, 1, 1, 1},
    {"float:3:1:ieee:nosat", 1, -2, 3, 1, 0, 1},
    {"float:5:0:ieee:nosat", 0, -14, 15, 1, 0, 1},
    {"float:5:10:ieee:nosub:nosat", 10, -14, 15, 1, 0, 0},
    {"float:8:7:ieee:nosub:nosat", 7, -126, 127, 1, 0, 0},
    {"float:6:5:ieee:nosub", 5, -30, 31, 1, 1, 0},
    {"float:4:3:ieee:nosat:bias=11", 3, -10, 3, 1, 0, 1},
    {"float:5:2", 2, -14, 16, 0, 1, 1},
    {"float:4:3", 3, -6, 8, 0, 1, 1},
    {"float:6:9", 9, -30, 32, 0, 1, 1},
    {"float:5:2:nosat", 2, -14, 16, 0, 0, 1},
    {"float:3:2:nosub", 2, -2, 4, 0, 1, 0},
    {"hfp8", 3, -10, 4, 0, 1, 1},
};

typedef struct {
  const char* text; /* qtorch's name (quant::parse_rounding) */
  cpfloat_rounding_t mode;
} Mode;

static const Mode kModes[] = {{"nearest_even", CPFLOAT_RND_NE},
                              {"nearest", CPFLOAT_RND_NA},
                              {"toward_zero", CPFLOAT_RND_TZ},
                              {"up", CPFLOAT_RND_TP},
                              {"down", CPFLOAT_RND_TN}};

enum { kFormatCount = sizeof kFormats / sizeof kFormats[0], kModeCount = sizeof kModes / sizeof kModes[0] };

static uint64_t rng_state = 20261207u;
static uint64_t next_random(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double unit_random(void) { return (double)(next_random() >> 11) * 0x1p-53; }

typedef struct {
  float* v;
  size_t n, cap;
} Values;

static void push(Values* xs, double value) {
  const float f = (float)value;
  if (isnan(f) || (isinf(f) && !isinf(value))) return; /* past float32's range: skip */
  if (xs->n + 2 > xs->cap) {
    xs->cap = xs->cap ? 2 * xs->cap : 1024;
    xs->v = realloc(xs->v, xs->cap * sizeof(float));
    if (!xs->v) abort();
  }
  xs->v[xs->n++] = f;
  xs->v[xs->n++] = -f;
}

/* Points k q, the midpoints (k + 1/2) q and their float32 neighbours, quarter points. */
static void push_around(Values* xs, double k, double q) {
  push(xs, k * q);
  const float mid = (float)((k + 0.5) * q);
  push(xs, mid);
  push(xs, nextafterf(mid, 0.0f));
  push(xs, nextafterf(mid, INFINITY));
  push(xs, (k + 0.25) * q);
  push(xs, (k + 0.75) * q);
}

static Values make_inputs(const Format* f) {
  Values xs = {0};
  const double top = ldexp(1.0, f->man); /* 2^man: the first significand of a binade */
  /* Binades near 1, near 2^emin and near the top, with several significands each. */
  int binades[] = {-2, -1, 0, 1, f->emin, f->emin + 1, f->emin + 2, f->emax - 1, f->emax, f->emax + 1, f->emax + 2};
  for (size_t b = 0; b < sizeof binades / sizeof binades[0]; ++b) {
    const double q = ldexp(1.0, binades[b] - f->man);
    const double ks[] = {top, top + 1, top + floor(unit_random() * top), 2 * top - 1};
    for (size_t i = 0; i < 4; ++i) push_around(&xs, ks[i], q);
  }
  /* Below 2^emin: the subnormal grid (or the grid {0, 2^emin} without subnormals). */
  const double sub = ldexp(1.0, f->emin - f->man);
  const double sub_ks[] = {0, 1, 2, 3, top - 1, floor(unit_random() * top)};
  for (size_t i = 0; i < 6; ++i) push_around(&xs, sub_ks[i], sub);
  for (int d = 1; d <= 3; ++d) push(&xs, ldexp(sub, -d));
  /* Largest finite value and the overflow threshold between it and the next binade. */
  const double max = ldexp(1.0, f->emax) * (2.0 - ldexp(1.0, -f->man));
  const double bound = ldexp(1.0, f->emax) * (2.0 - ldexp(1.0, -f->man - 1));
  push(&xs, max);
  push(&xs, nextafterf((float)max, INFINITY));
  push(&xs, bound);
  push(&xs, nextafterf((float)bound, 0.0f));
  push(&xs, nextafterf((float)bound, INFINITY));
  /* Specials. */
  const double specials[] = {0.0, INFINITY, FLT_MAX, FLT_MIN, 0x1p-149, 0x1p-140, 1.0, 3.0, 1e-30, 1e30};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; ++i) push(&xs, specials[i]);
  /* Random values: log-uniform over the format's range and past it, and random bits. */
  const double lo = f->emin - f->man - 3, hi = f->emax + 3;
  for (int i = 0; i < 200; ++i) push(&xs, (float)ldexp(1.0 + unit_random(), (int)floor(lo + unit_random() * (hi - lo))));
  for (int i = 0; i < 100; ++i) {
    uint32_t bits = (uint32_t)next_random() & 0x7fffffffu;
    float v;
    memcpy(&v, &bits, sizeof v);
    if (!isnan(v)) push(&xs, v);
  }
  return xs;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTPUT.bin\n", argv[0]);
    return 2;
  }
  Values inputs[kFormatCount];
  for (int f = 0; f < kFormatCount; ++f) inputs[f] = make_inputs(&kFormats[f]);

  FILE* out = fopen(argv[1], "wb");
  if (!out) {
    perror(argv[1]);
    return 1;
  }
  fprintf(out, "qtorch peer vectors 1\n");
  for (int f = 0; f < kFormatCount; ++f) fprintf(out, "input cpfloat_%d %zu\n", f, inputs[f].n);
  for (int f = 0; f < kFormatCount; ++f)
    for (int m = 0; m < kModeCount; ++m)
      fprintf(out, "case cpfloat %s %s cpfloat_%d\n", kFormats[f].text, kModes[m].text, f);
  fprintf(out, "end\n");
  for (int f = 0; f < kFormatCount; ++f) fwrite(inputs[f].v, sizeof(float), inputs[f].n, out);

  optstruct* opts = init_optstruct();
  for (int f = 0; f < kFormatCount; ++f) {
    const Format* fm = &kFormats[f];
    const Values* xs = &inputs[f];
    float* y = malloc(xs->n * sizeof(float));
    unsigned char* flags = malloc(xs->n);
    for (int m = 0; m < kModeCount; ++m) {
      strcpy(opts->format, "custom");
      opts->precision = fm->man + 1;
      opts->emin = fm->emin;
      opts->emax = fm->emax;
      opts->explim = CPFLOAT_EXPRANGE_TARG;
      opts->infinity = CPFLOAT_INF_USE;
      opts->round = kModes[m].mode;
      opts->saturation = fm->saturate ? CPFLOAT_SAT_USE : CPFLOAT_SAT_NO;
      opts->subnormal = fm->subnormals ? CPFLOAT_SUBN_USE : CPFLOAT_SUBN_RND;
      opts->flip = CPFLOAT_SOFTERR_NO;
      opts->p = 0;
      if (cpfloatf(y, xs->v, xs->n, opts) != 0) {
        fprintf(stderr, "cpfloatf refused %s %s\n", fm->text, kModes[m].text);
        return 1;
      }
      for (size_t i = 0; i < xs->n; ++i) flags[i] = (unsigned char)(fm->ieee && fm->saturate && isinf(xs->v[i]));
      fwrite(y, sizeof(float), xs->n, out);
      fwrite(flags, 1, xs->n, out);
    }
    free(y);
    free(flags);
  }
  free_optstruct(opts);
  if (fclose(out) != 0) {
    perror(argv[1]);
    return 1;
  }
  return 0;
}
