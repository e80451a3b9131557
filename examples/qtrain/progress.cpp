// Progress drawing.
#include "examples/qtrain/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace qtrain {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

Progress::Progress(bool enabled, int64_t epoch, int64_t epochs, int64_t total_batches)
    : enabled_(enabled && total_batches > 0),
      tty_(::isatty(STDERR_FILENO) == 1),
      epoch_(epoch),
      epochs_(epochs),
      total_(total_batches),
      start_(Clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

bool Progress::due(int64_t done) const {
  if (!enabled_ || done >= total_) return false;
  if (tty_) return Clock::now() - last_draw_ >= std::chrono::milliseconds(100) || done == 1;
  return done * 4 >= next_quarter_ * total_;
}

void Progress::update(int64_t done, int64_t samples, double mean_loss) {
  if (!due(done)) return;
  Clock::time_point now = Clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? samples / elapsed : 0;
  double eta = done > 0 ? elapsed * static_cast<double>(total_ - done) / done : 0;
  last_draw_ = now;
  if (tty_) {
    constexpr int kWidth = 24;
    int filled = static_cast<int>(kWidth * done / total_);
    std::string bar(filled, '=');
    if (filled < kWidth) bar += '>' + std::string(kWidth - filled - 1, ' ');
    std::fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  %.0f samples/s  ETA %s",
                 (long long)epoch_, (long long)epochs_, bar.c_str(), (long long)done,
                 (long long)total_, mean_loss, rate, format_duration(eta).c_str());
    drawn_ = true;
  } else {
    std::fprintf(stderr, "epoch %lld/%lld: batch %lld/%lld  loss %.4f  %.0f samples/s  ETA %s\n",
                 (long long)epoch_, (long long)epochs_, (long long)done, (long long)total_,
                 mean_loss, rate, format_duration(eta).c_str());
    while (done * 4 >= next_quarter_ * total_) ++next_quarter_;
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace qtrain
