#include "storage/embedded_postgres.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

namespace komentra::storage {

namespace fs = std::filesystem;

namespace {

// Unix socket paths are limited to 107 bytes by sockaddr_un.
constexpr std::size_t max_socket_path = 107;
constexpr const char* socket_name = ".s.PGSQL.5432";

std::string last_lines(const std::string& text, std::size_t n = 3) {
  std::size_t pos = text.size();
  while (n-- > 0 && pos > 0) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

// Only a Unix socket, in the 0700 cluster directory; no TCP listener at all.
std::vector<std::string> server_settings(const std::string& data) {
  return {"-c", "listen_addresses=",
          "-k", data,
          "-c", "unix_socket_permissions=0700",
          "-c", "max_connections=100",
          "-c", "shared_buffers=128MB",
          "-c", "logging_collector=off"};
}

}  // namespace

embedded_postgres::embedded_postgres(embedded_options opts) : opts_(std::move(opts)) {}

embedded_postgres::~embedded_postgres() {
  stop();
  if (lock_fd_ >= 0) close(lock_fd_);
}

std::string embedded_postgres::cluster_dir() const {
  return opts_.data_dir + "/pg";
}

process::result embedded_postgres::run_pg(const std::vector<std::string>& argv) {
  return process::run(argv, run_as_);
}

// As root, PostgreSQL runs as another user, who needs search permission on every
// ancestor of the cluster directory (a clone under /root has a 0700 ancestor).
std::string embedded_postgres::ensure_reachable(const std::string& path) {
  if (!run_as_) return {};
  fs::path p = fs::path(path).parent_path();
  for (; !p.empty(); p = p.parent_path()) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) return "cannot stat " + p.string() + ": " + std::strerror(errno);
    bool other_x = st.st_mode & S_IXOTH;
    bool owner_x = st.st_uid == run_as_->uid && (st.st_mode & S_IXUSR);
    bool group_x = st.st_gid == run_as_->gid && (st.st_mode & S_IXGRP);
    if (!(other_x || owner_x || group_x)) {
      auto res = process::run({"setfacl", "-m", "u:" + run_as_->name + ":x", p.string()});
      if (res.exit_code != 0)
        return "the OS user '" + run_as_->name +
               "' that runs the embedded PostgreSQL cannot enter " + p.string() +
               " (install the 'acl' package so komentra can grant it, or set "
               "KOMENTRA_DATA_DIR to a directory outside it)";
      spdlog::info("granted user {} search permission on {} (ACL) for the embedded PostgreSQL",
                   run_as_->name, p.string());
    }
    if (p == p.root_path()) break;
  }
  return {};
}

std::string embedded_postgres::start() {
  auto bin = [&](const char* name) { return opts_.bin_dir + "/" + name; };
  if (!fs::exists(bin("pg_ctl")))
    return "PostgreSQL 15 is not installed (no " + bin("pg_ctl") +
           "); install the postgresql-15 package or set KOMENTRA_DATABASE_URL";
  std::error_code ec;
  fs::create_directories(opts_.data_dir, ec);
  if (ec)
    return "cannot create data directory " + opts_.data_dir + ": " + ec.message() +
           " (set KOMENTRA_DATA_DIR to a writable directory)";
  opts_.data_dir = fs::absolute(opts_.data_dir).lexically_normal().string();
  if (access(opts_.data_dir.c_str(), W_OK) != 0)
    return "data directory " + opts_.data_dir +
           " is not writable (set KOMENTRA_DATA_DIR to a writable directory)";

  // One komentra per data directory: the lock tells a leftover server (after a crash)
  // from one another komentra is using right now.
  auto lock_path = opts_.data_dir + "/komentra.lock";
  if (lock_fd_ < 0) lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return "another komentra is using the data directory " + opts_.data_dir +
           " (stop it, or set KOMENTRA_DATA_DIR to another directory)";

  auto root = cluster_dir();
  auto data = root + "/data";
  if ((data + "/" + socket_name).size() > max_socket_path)
    return "the data directory path is too long for PostgreSQL's Unix socket (" + data +
           "); set KOMENTRA_DATA_DIR to a shorter path";

  if (process::running_as_root()) {
    run_as_ = process::lookup_user(opts_.run_as_user);
    if (!run_as_)
      return "komentra runs as root, and PostgreSQL refuses root, but the user '" +
             opts_.run_as_user +
             "' that should run it does not exist (install postgresql-15, which creates it, or set "
             "KOMENTRA_DATABASE_EMBEDDED_USER)";
  }
  fs::create_directories(root, ec);
  if (ec) return "cannot create " + root + ": " + ec.message();
  if (run_as_ && chown(root.c_str(), run_as_->uid, run_as_->gid) != 0)
    return "cannot hand " + root + " to user " + run_as_->name + ": " + std::strerror(errno);
  if (auto err = ensure_reachable(root); !err.empty()) return err;

  if (!fs::exists(data + "/PG_VERSION")) {
    // A half-made cluster from an interrupted initdb is removed first.
    fs::remove_all(data, ec);
    spdlog::info("creating the embedded PostgreSQL cluster in {}", data);
    auto res = run_pg({bin("initdb"), "-D", data, "-U", "komentra", "-A", "trust", "-E", "UTF8",
                       "--no-locale", "--no-sync"});
    if (res.exit_code != 0) {
      fs::remove_all(data, ec);
      return "initdb failed: " + last_lines(res.output);
    }
  }
  if (auto err = opts_.tied_to_process ? child_start() : pg_ctl_start(); !err.empty()) return err;

  url_ = "host=" + data + " port=5432 user=komentra dbname=" + opts_.database +
         " connect_timeout=5 application_name=komentra";
  try {
    pqxx::connection admin("host=" + data + " port=5432 user=komentra dbname=postgres");
    pqxx::nontransaction tx(admin);
    auto exists = tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", opts_.database);
    if (exists.empty()) tx.exec0("CREATE DATABASE " + tx.quote_name(opts_.database));
  } catch (const std::exception& e) {
    return std::string("the embedded PostgreSQL started but cannot be used: ") + e.what();
  }
  return {};
}

std::string embedded_postgres::pg_ctl_start() {
  auto data = cluster_dir() + "/data";
  auto pg_ctl = opts_.bin_dir + "/pg_ctl";
  auto status = run_pg({pg_ctl, "-D", data, "status"});
  if (status.exit_code == 0) {
    // We hold the data-directory lock, so this server was left by an earlier komentra
    // that did not shut down; adopt it and stop it when we exit.
    spdlog::info("reusing the embedded PostgreSQL left running in {}", data);
    running_ = true;
    return {};
  }
  spdlog::info("starting the embedded PostgreSQL in {}", data);
  std::string options;
  for (auto& s : server_settings(data)) options += (options.empty() ? "'" : " '") + s + "'";
  auto res = run_pg({pg_ctl, "-D", data, "-l", cluster_dir() + "/server.log", "-w", "-t", "60",
                     "-o", options, "start"});
  if (res.exit_code != 0)
    return "the embedded PostgreSQL did not start: " + last_lines(res.output) + " (see " +
           cluster_dir() + "/server.log)";
  running_ = true;
  return {};
}

std::string embedded_postgres::child_start() {
  auto data = cluster_dir() + "/data";
  spdlog::info("starting the embedded PostgreSQL in {} (a child of this process)", data);
  child_options o;
  o.run_as = run_as_;
  o.death_signal = SIGQUIT;
  auto args = server_settings(data);
  args.insert(args.begin(), {"-D", data});
  child_ = std::make_unique<child_process>(opts_.bin_dir + "/postgres", args,
                                           std::map<std::string, std::string>{}, o);
  // Ready once it accepts a session, which is what pg_ctl -w waits for too.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    try {
      pqxx::connection probe("host=" + data + " port=5432 user=komentra dbname=postgres");
      break;
    } catch (const std::exception&) {
    }
    bool late = std::chrono::steady_clock::now() > deadline;
    if (late || !child_->running()) {
      child_->kill();
      auto out = child_->output();
      child_.reset();
      return "the embedded PostgreSQL did not start" + std::string(late ? " within 60 s: " : ": ") +
             last_lines(out);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  running_ = true;
  return {};
}

void embedded_postgres::stop() {
  if (!running_) return;
  running_ = false;
  if (child_) {
    child_->terminate(SIGINT);  // fast shutdown, as pg_ctl stop -m fast
    if (child_->wait_exit(std::chrono::seconds(60)) != 0)
      spdlog::warn("the embedded PostgreSQL did not stop cleanly: {}",
                   last_lines(child_->output()));
    else
      spdlog::info("stopped the embedded PostgreSQL");
    child_.reset();
    return;
  }
  auto data = cluster_dir() + "/data";
  auto res = run_pg({opts_.bin_dir + "/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"});
  if (res.exit_code == 0)
    spdlog::info("stopped the embedded PostgreSQL");
  else if (run_pg({opts_.bin_dir + "/pg_ctl", "-D", data, "status"}).exit_code != 0)
    spdlog::info("the embedded PostgreSQL was already stopped");
  else
    spdlog::warn("could not stop the embedded PostgreSQL: {}", last_lines(res.output));
}

}  // namespace komentra::storage
