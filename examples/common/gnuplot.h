// Drawing with gnuplot, shared by the example programs: finding it, quoting, running a script.
#pragma once

#include <string>

namespace qtorch::examples {

/// The gnuplot executable on PATH, or "" when it is not installed.
std::string find_gnuplot();
/// What to tell a user whose machine lacks gnuplot.
std::string gnuplot_missing_message();
/// s as a single-quoted gnuplot string ('' escapes ').
std::string gnuplot_string(const std::string& s);
/// Runs a gnuplot script that draws `output_path`; throws std::runtime_error with
/// gnuplot's own output when it is missing, fails, or draws nothing. `tag` names the
/// temporary script file.
void run_gnuplot(const std::string& script, const std::string& output_path, const std::string& tag);

}  // namespace qtorch::examples
