#include "common/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/signals.hpp"

namespace komentra::process {

result run(const std::vector<std::string>& argv, const std::optional<identity>& as) {
  result res;
  if (argv.empty()) return res;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    res.output = std::string("pipe: ") + std::strerror(errno);
    return res;
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    res.output = std::string("fork: ") + std::strerror(errno);
    close(pipefd[0]);
    close(pipefd[1]);
    return res;
  }
  if (pid == 0) {
    unblock_all_signals();  // komentra blocks SIGINT and SIGTERM; its children must not
    dup2(pipefd[1], STDOUT_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (as && !become(*as)) _exit(126);
    execvp(args[0], args.data());
    dprintf(STDERR_FILENO, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(pipefd[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) res.output.append(buf, static_cast<std::size_t>(n));
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return res;
}

bool become(const identity& as) {
  // Order matters: supplementary groups and gid can only be dropped while still root.
  if (initgroups(as.name.c_str(), as.gid) == 0 && setgid(as.gid) == 0 && setuid(as.uid) == 0)
    return true;
  dprintf(STDERR_FILENO, "cannot switch to user %s: %s\n", as.name.c_str(), std::strerror(errno));
  return false;
}

std::optional<identity> lookup_user(const std::string& name) {
  struct passwd pw;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found)
    return std::nullopt;
  return identity{pw.pw_uid, pw.pw_gid, name};
}

bool running_as_root() {
  return geteuid() == 0;
}

}  // namespace komentra::process
