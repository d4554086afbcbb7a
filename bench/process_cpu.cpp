#include "process_cpu.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace komentra::bench {
namespace {

struct proc_stat {
  int pid, ppid;
  std::uint64_t ticks;  ///< utime + stime + cutime + cstime
};

std::vector<proc_stat> read_all_procs() {
  std::vector<proc_stat> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string s;
    if (!std::getline(f, s)) continue;
    auto rp = s.rfind(')');  // the command name may hold spaces and parentheses
    if (rp == std::string::npos) continue;
    std::istringstream rest(s.substr(rp + 2));
    std::string state;
    long long v[16] = {};
    rest >> state;
    // After the state: ppid(0) pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
    // utime(10) stime(11) cutime(12) cstime(13), in clock ticks.
    for (auto& x : v) rest >> x;
    out.push_back({std::atoi(e->d_name), static_cast<int>(v[0]),
                   static_cast<std::uint64_t>(v[10] + v[11] + v[12] + v[13])});
  }
  ::closedir(d);
  return out;
}

std::uint64_t tree_ticks(const std::vector<proc_stat>& all, int root) {
  std::uint64_t sum = 0;
  std::vector<int> todo{root};
  while (!todo.empty()) {
    int p = todo.back();
    todo.pop_back();
    for (auto& s : all) {
      if (s.pid == p) sum += s.ticks;
      if (s.ppid == p) todo.push_back(s.pid);
    }
  }
  return sum;
}

}  // namespace

std::vector<double> tree_cpu_us(const std::vector<int>& roots) {
  auto all = read_all_procs();
  double us_per_tick = 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::vector<double> out;
  for (int pid : roots) out.push_back(static_cast<double>(tree_ticks(all, pid)) * us_per_tick);
  return out;
}

std::pair<std::string, int> parse_pid_option(const std::string& v) {
  auto eq = v.find('=');
  if (eq == std::string::npos) return {"pid" + v, std::stoi(v)};
  return {v.substr(0, eq), std::stoi(v.substr(eq + 1))};
}

}  // namespace komentra::bench
