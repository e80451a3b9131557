// Progress of one epoch on stderr: a redrawn bar when stderr is a terminal (batch, loss,
// samples/s, ETA), plain lines at each quarter of the epoch otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace qtrain {

class Progress {
 public:
  /// `enabled` false makes every call a no-op.
  Progress(bool enabled, int64_t epoch, int64_t epochs, int64_t total_batches);
  ~Progress();

  /// True when update() would draw something now; lets the caller fetch values (which
  /// may wait for the device) only then.
  bool due(int64_t batches_done) const;
  /// Draws the state after `batches_done` batches and `samples` samples.
  void update(int64_t batches_done, int64_t samples, double mean_loss);
  /// Clears the bar (terminal) before the epoch's summary line.
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_, tty_;
  int64_t epoch_, epochs_, total_;
  Clock::time_point start_, last_draw_;
  int64_t next_quarter_ = 1;  // plain mode: the next quarter of the epoch to report
  bool drawn_ = false;
};

/// "1:05" or "1:02:05".
std::string format_duration(double seconds);

}  // namespace qtrain
