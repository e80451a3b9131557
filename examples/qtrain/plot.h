// Plots of loss and accuracy per epoch through gnuplot: one run (--plot) or several
// runs side by side (--compare).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "examples/common/gnuplot.h"
#include "examples/qtrain/metrics.h"

namespace qtrain {

using qtorch::examples::find_gnuplot;
using qtorch::examples::gnuplot_missing_message;

/// Throws std::invalid_argument naming --plot unless `path` ends in .png or .svg and holds
/// no control characters (which would break out of the gnuplot script's string).
void check_plot_path(const std::string& path);

/// Draws train and test loss (left) and accuracy (right) per epoch of every run, labelled
/// by its name, into `path` (.png or .svg), atomically. Throws std::runtime_error naming
/// the problem when gnuplot is missing or fails (any earlier file at `path` is then kept).
void plot_runs(const std::vector<std::pair<std::string, RunMetrics>>& runs, const std::string& path);

}  // namespace qtrain
