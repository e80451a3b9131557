// Drawing with gnuplot, shared by the example programs: finding it, quoting, running a script
// that draws one file atomically.
#pragma once

#include <string>

namespace qtorch::examples {

/// The gnuplot executable on PATH, or "" when it is not installed.
std::string find_gnuplot();
/// What to tell a user whose machine lacks gnuplot.
std::string gnuplot_missing_message();
/// Throws std::invalid_argument "<what>: expected text without control characters, got
/// '...' (byte 0x0a at position N)" when `text` holds a byte below 0x20 or 0x7f: written
/// into a gnuplot script, a newline would end the string and start a new command.
void check_gnuplot_text(const std::string& what, const std::string& text);
/// s as a single-quoted gnuplot string ('' escapes '; nothing else is special there).
/// Throws std::invalid_argument for control characters (see check_gnuplot_text).
std::string gnuplot_string(const std::string& s);
/// Runs gnuplot on `terminal` ("set terminal ..."), then `set output` to a temporary file
/// beside `output_path`, then `commands`; renames the temporary over `output_path` only
/// when gnuplot succeeded, so a failure leaves any earlier file as it was. Throws
/// std::runtime_error as one line "<option>: cannot write '<path>': <reason>" or
/// "<option>: gnuplot failed to draw '<path>': <gnuplot's messages>". `tag` names the
/// temporary script file.
void run_gnuplot(const std::string& terminal, const std::string& commands, const std::string& output_path,
                 const std::string& option, const std::string& tag);

}  // namespace qtorch::examples
