#pragma once
/// Runs a program (komentra-sim for the demo; komentra and komentra-sim in tests) as a
/// child process with a given environment, captures its output on a reader thread, and
/// finds the port it listens on from its "listening on http://HOST:PORT" log line.
/// Stops it with SIGTERM (or SIGKILL), and the child gets SIGTERM (or its death_signal) when
/// the thread that started it ends, so none outlives a crashed parent, even one killed by
/// SIGKILL. The environment of the child is ours without KOMENTRA_* variables, plus `env`.

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/process.hpp"

namespace komentra {

struct child_options {
  /// Runs the child as this OS user (the caller is root), e.g. PostgreSQL, which refuses root.
  std::optional<process::identity> run_as;
  /// What the child gets when the thread that started it ends (PR_SET_PDEATHSIG).
  int death_signal = SIGTERM;
};

class child_process {
 public:
  child_process(std::string binary, std::vector<std::string> args,
                std::map<std::string, std::string> env, child_options opts = {});
  ~child_process();  ///< SIGKILL if still running

  /// Waits until the log shows the listening port; returns 0 when the process exited
  /// or the time ran out.
  std::uint16_t wait_for_port(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Waits for the process to exit and for what it wrote to be read (briefly: a
  /// grandchild may hold the pipe open); returns its exit status (-1 when killed or timed
  /// out).
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void terminate(int sig = SIGTERM);  ///< SIGTERM, or another signal
  void kill();                        ///< SIGKILL
  /// What the process wrote to stderr and stdout so far (the first and the last part
  /// once it exceeds about 1 MiB).
  std::string output() const;
  bool running();

 private:
  static constexpr std::size_t output_limit = 1 << 20;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int status_ = -1;
  bool exited_ = false;
  mutable std::mutex mtx_;
  std::condition_variable drained_;
  bool eof_ = false;  ///< the reader saw the end of the output (under mtx_)
  std::string output_;
  std::thread reader_;
};

}  // namespace komentra
