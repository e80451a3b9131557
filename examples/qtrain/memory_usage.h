// Peak resident memory of this process, for the metrics file's final record.
#pragma once

#include <sys/resource.h>

namespace qtrain {

/// The largest resident set size so far, in MiB (Linux reports ru_maxrss in KiB).
inline double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace qtrain
