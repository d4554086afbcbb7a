#pragma once
/// A private PostgreSQL 15 cluster under `<data_dir>/pg`, used when no database URL is
/// configured. start() runs initdb on first use, starts the server listening only on a
/// Unix socket inside the cluster directory (trust authentication is safe there: the
/// directory is 0700), and creates the `komentra` database. When komentra runs as root
/// the server runs as an unprivileged OS user, because PostgreSQL refuses root.
/// Runs on the main thread at start-up and shutdown only; failures are returned as
/// messages that say what to fix.
///
/// komentra's server is started with pg_ctl, so it outlives a crash and is adopted by the next
/// start; a test cluster (tied_to_process) runs in the foreground as a child that dies with
/// the process, so not even a test binary killed by SIGKILL leaves a server behind.

#include <memory>
#include <optional>
#include <string>

#include "common/child_process.hpp"
#include "common/process.hpp"

namespace komentra::storage {

struct embedded_options {
  std::string data_dir;     ///< the cluster lives in data_dir/pg
  std::string bin_dir;      ///< where initdb and pg_ctl are
  std::string run_as_user;  ///< used only when running as root
  std::string database = "komentra";
  /// The server is a child of this process and gets SIGQUIT (immediate shutdown) when the
  /// thread that called start() ends, however it ends; it is never adopted or left running.
  bool tied_to_process = false;
};

class embedded_postgres {
 public:
  explicit embedded_postgres(embedded_options opts);
  ~embedded_postgres();  ///< stops the server if this object started or adopted it

  embedded_postgres(const embedded_postgres&) = delete;
  embedded_postgres& operator=(const embedded_postgres&) = delete;

  /// Initializes (once) and starts the cluster. Returns an error message, or empty.
  std::string start();

  /// Stops the server (fast shutdown). Safe to call twice.
  void stop();

  /// libpq connection string for the database; valid after start().
  const std::string& url() const { return url_; }

  /// The cluster directory (for pg_ctl by hand; the README shows the command).
  std::string cluster_dir() const;

 private:
  std::string pg_ctl_start();
  std::string child_start();
  std::string ensure_reachable(const std::string& path);
  process::result run_pg(const std::vector<std::string>& argv);

  embedded_options opts_;
  std::optional<process::identity> run_as_;
  std::string url_;
  int lock_fd_ = -1;
  bool running_ = false;
  std::unique_ptr<child_process> child_;  ///< the server when tied_to_process
};

}  // namespace komentra::storage
