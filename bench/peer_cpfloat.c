/* CPFloat's speed on the quant_bench workload (bench/peer_cpfloat.sh runs it beside qtorch's
 * quant_bench): e5m2 (IEEE range, subnormals, overflow to inf) on 2^24 standard normal
 * float32, with ties away, ties to even and stochastic rounding; "alloc" makes a fresh output
 * per call (malloc, cpfloatf, free), "into" writes into one preallocated output. The baselines
 * are a single-threaded malloc + memcpy (alloc) and a memcpy into the preallocated output
 * (into). Prints one line per variant: group, name and the fastest time in milliseconds over
 * the repetitions (each repetition runs every variant once, in turn). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpfloat_binary32.h"

enum { kElems = 1 << 24 };

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static uint64_t rng_state = 1;
static double unit_random(void) { /* splitmix64, 53 bits */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

static optstruct* e5m2(cpfloat_rounding_t mode) {
  optstruct* o = init_optstruct();
  strcpy(o->format, "custom");
  o->precision = 3;
  o->emin = -14;
  o->emax = 15;
  o->explim = CPFLOAT_EXPRANGE_TARG;
  o->infinity = CPFLOAT_INF_USE;
  o->round = mode;
  o->saturation = CPFLOAT_SAT_NO;
  o->subnormal = CPFLOAT_SUBN_USE;
  o->flip = CPFLOAT_SOFTERR_NO;
  o->p = 0;
  return o;
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 5;
  if (reps < 1) {
    fprintf(stderr, "usage: %s [REPETITIONS >= 1], got %s\n", argv[0], argv[1]);
    return 2;
  }
  float* x = malloc(sizeof(float) * kElems);
  float* into = malloc(sizeof(float) * kElems);
  if (!x || !into) return 1;
  for (int i = 0; i < kElems; i += 2) { /* Box-Muller */
    const double r = sqrt(-2.0 * log(1.0 - unit_random())), t = 2.0 * M_PI * unit_random();
    x[i] = (float)(r * cos(t));
    x[i + 1] = (float)(r * sin(t));
  }
  memcpy(into, x, sizeof(float) * kElems); /* touch every page once */
  const char* names[] = {"e5m2_nearest_away", "e5m2_nearest_even", "e5m2_stochastic"};
  optstruct* modes[] = {e5m2(CPFLOAT_RND_NA), e5m2(CPFLOAT_RND_NE), e5m2(CPFLOAT_RND_SP)};
  double best[2][4];
  for (int g = 0; g < 2; ++g)
    for (int v = 0; v < 4; ++v) best[g][v] = INFINITY;
  for (int r = 0; r < reps; ++r)
    for (int g = 0; g < 2; ++g)
      for (int v = 0; v < 4; ++v) {
        const double t0 = now_ms();
        float* out = g == 0 ? malloc(sizeof(float) * kElems) : into;
        if (!out) return 1;
        if (v == 0)
          memcpy(out, x, sizeof(float) * kElems);
        else if (cpfloatf(out, x, kElems, modes[v - 1]) != 0)
          return 1;
        volatile float sink = out[kElems / 3];
        (void)sink;
        if (g == 0) free(out);
        const double t = now_ms() - t0;
        if (t < best[g][v]) best[g][v] = t;
      }
  for (int g = 0; g < 2; ++g)
    for (int v = 0; v < 4; ++v)
      printf("%s %s %.3f\n", g == 0 ? "alloc" : "into", v == 0 ? (g == 0 ? "memcpy_1thread" : "memcpy") : names[v - 1],
             best[g][v]);
  return 0;
}
