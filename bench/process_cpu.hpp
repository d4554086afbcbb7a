#pragma once
/// CPU time of process trees, read from /proc: what a benchmark divides by the work done to
/// print "CPU µs per delivery" or "per comment", a figure that does not depend on how busy
/// the machine was.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace komentra::bench {

/// CPU time in µs (user + system, with reaped children) of each process tree: the process
/// and its live descendants (PostgreSQL's backends are children of the postmaster).
std::vector<double> tree_cpu_us(const std::vector<int>& roots);

/// Parses "--pid LABEL=PID" (or a bare PID, labelled pidPID).
std::pair<std::string, int> parse_pid_option(const std::string& value);

}  // namespace komentra::bench
