// Parallel loops over the CPU threads that cost nothing when the work is one thread's. OpenMP
// makes a thread team for every parallel region, even one whose `if` clause is false or that
// runs on one thread: a malloc and a free (about 0.3-0.4 us, and with glibc a consolidation of
// its free lists each time), which in a small model's step adds up over its dozens of ops.
// So a loop not worth the threads runs outside OpenMP. The results never depend on it: every
// loop splits its work by shape alone (static schedules over fixed chunks or rows).
#pragma once

#include <omp.h>

#include <cstdint>

namespace qtorch::cpu {

/// Whether work that is `worth` threads gets them: more than one thread to run it on, and not
/// inside an active parallel region already (where a nested region would run on one thread).
inline bool use_threads(bool worth) { return worth && omp_get_max_threads() > 1 && !omp_in_parallel(); }

/// body(i) for i in [0, count): split statically over the threads when use_threads(worth)
/// and count > 1, else a plain loop on the calling thread.
template <class Body>
void parallel_for(int64_t count, bool worth, const Body& body) {
  if (count > 1 && use_threads(worth)) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) body(i);
  } else {
    for (int64_t i = 0; i < count; ++i) body(i);
  }
}

/// body() as a parallel region when use_threads(worth), else called once on this thread
/// outside OpenMP, where the worksharing loops and barriers inside it run as one thread's
/// (omp_get_num_threads() is 1 and omp_get_thread_num() 0 there too).
template <class Body>
void parallel_region(bool worth, const Body& body) {
  if (use_threads(worth)) {
#pragma omp parallel
    body();
  } else {
    body();
  }
}

}  // namespace qtorch::cpu
