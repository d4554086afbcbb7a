#include "common/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <stdexcept>

#include "common/signals.hpp"

extern char** environ;

namespace komentra {

child_process::child_process(std::string binary, std::vector<std::string> args,
                             std::map<std::string, std::string> env, child_options opts) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  // The child's environment: ours without KOMENTRA_* (tests set exactly what they want).
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("KOMENTRA_", 0) != 0) envs.emplace_back(*e);
  for (auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<std::string> argv{binary};
  argv.insert(argv.end(), args.begin(), args.end());
  auto parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    // A new user clears the death signal, so that comes first.
    if (opts.run_as && !process::become(*opts.run_as)) _exit(126);
    // No orphans: a test binary killed by its watchdog or a crashed demo takes its servers
    // with it. (Linux sends this when the thread that forked ends: start children from a
    // thread that lives as long as they should.)
    prctl(PR_SET_PDEATHSIG, opts.death_signal);
    if (getppid() != parent) _exit(127);
    // A parent that takes SIGTERM with sigwait has it blocked; the child must see it.
    unblock_all_signals();
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    for (auto& s : envs) e.push_back(s.data());
    e.push_back(nullptr);
    // A bare name is looked up on PATH (tests run Debian's tools that way).
    execvpe(a[0], a.data(), e.data());
    std::fprintf(stderr, "cannot run %s: %s\n", a[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  out_fd_ = fds[0];
  reader_ = std::thread([this] {
    char buf[4096];
    ssize_t n;
    while ((n = read(out_fd_, buf, sizeof buf)) > 0) {
      std::lock_guard<std::mutex> lock(mtx_);
      output_.append(buf, static_cast<std::size_t>(n));
      // A long-running child (the demo's simulator) must not grow this without bound;
      // the start of the output (where the port is announced) and the recent end are kept.
      if (output_.size() > 2 * output_limit)
        output_.erase(output_limit / 2, output_.size() - output_limit);
    }
    std::lock_guard<std::mutex> lock(mtx_);
    eof_ = true;
    drained_.notify_all();
  });
}

child_process::~child_process() {
  if (running()) kill();
  wait_exit(std::chrono::seconds(10));
  if (reader_.joinable()) reader_.join();
  if (out_fd_ >= 0) close(out_fd_);
}

std::string child_process::output() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return output_;
}

bool child_process::running() {
  if (exited_ || pid_ <= 0) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return false;
  }
  return true;
}

std::uint16_t child_process::wait_for_port(std::chrono::milliseconds timeout) {
  static const std::regex listening("listening on http://[^:]+:([0-9]+)");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    auto out = output();
    if (std::regex_search(out, m, listening)) return static_cast<std::uint16_t>(std::stoi(m[1]));
    if (!running()) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

int child_process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // The last lines may still be in the pipe when the exit is seen.
  std::unique_lock<std::mutex> lock(mtx_);
  drained_.wait_for(lock, std::chrono::seconds(2), [this] { return eof_; });
  return status_;
}

void child_process::terminate(int sig) {
  if (running()) ::kill(pid_, sig);
}

void child_process::kill() {
  if (running()) ::kill(pid_, SIGKILL);
}

}  // namespace komentra
