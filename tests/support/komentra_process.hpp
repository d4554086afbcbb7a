#pragma once
/// Test support: runs a real program (komentra, komentra-sim) as a child process with a
/// given environment, captures its stderr, and finds the port it listens on from its
/// "listening on http://HOST:PORT" log line. Stops it with SIGTERM (or SIGKILL).

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace komentra::testing {

class child_process {
 public:
  child_process(std::string binary, std::vector<std::string> args,
                std::map<std::string, std::string> env);
  ~child_process();  ///< SIGKILL if still running

  /// Waits until the log shows the listening port; returns 0 when the process exited
  /// or the time ran out.
  std::uint16_t wait_for_port(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Waits for the process to exit; returns its exit status (-1 when killed or timed out).
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void terminate();  ///< SIGTERM
  void kill();       ///< SIGKILL
  /// Everything the process wrote to stderr and stdout so far.
  std::string output() const;
  bool running();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int status_ = -1;
  bool exited_ = false;
  mutable std::mutex mtx_;
  std::string output_;
  std::thread reader_;
};

/// Path of a built program, from the environment variable ctest sets (e.g.
/// KOMENTRA_BINARY); fails the test when unset.
std::string binary_path(const char* env_var);

}  // namespace komentra::testing
