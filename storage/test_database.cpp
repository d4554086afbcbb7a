#include "storage/test_database.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

namespace komentra::storage::testing {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view dir_prefix = "komentra-test-";

bool alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

}  // namespace

// What a test binary killed before its destructor ran leaves: the directory of its cluster
// (its server died with it). A directory is its owner's while the owner lives (the pid in its
// name) or holds its lock, and while a server runs in it; else it is removed.
void remove_abandoned_clusters() {
  std::error_code ec;
  for (auto& entry : fs::directory_iterator("/tmp", ec)) {
    auto name = entry.path().filename().string();
    if (name.rfind(dir_prefix, 0) != 0) continue;
    auto owner = std::atoi(name.c_str() + dir_prefix.size());
    if (owner <= 0 || alive(owner)) continue;  // a pid-less name is from before this rule
    int lock = open((entry.path() / "komentra.lock").c_str(), O_RDWR | O_CLOEXEC);
    if (lock < 0) continue;
    std::ifstream pid_file(entry.path() / "pg/data/postmaster.pid");
    pid_t server = 0;
    pid_file >> server;
    if (flock(lock, LOCK_EX | LOCK_NB) == 0 && !alive(server)) fs::remove_all(entry.path(), ec);
    close(lock);
  }
}

namespace {

struct test_cluster {
  std::string dir;
  std::unique_ptr<embedded_postgres> pg;

  test_cluster() {
    remove_abandoned_clusters();
    auto path = "/tmp/" + std::string(dir_prefix) + std::to_string(getpid()) + "-XXXXXX";
    std::vector<char> tmpl(path.begin(), path.end());
    tmpl.push_back('\0');
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir = tmpl.data();
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all |
                                          std::filesystem::perms::others_exec |
                                          std::filesystem::perms::group_exec);
    embedded_options opts;
    opts.data_dir = dir;
    opts.bin_dir = "/usr/lib/postgresql/15/bin";
    opts.run_as_user = "postgres";
    opts.database = "komentra_test";
    opts.tied_to_process = true;
    pg = std::make_unique<embedded_postgres>(opts);
    if (auto err = pg->start(); !err.empty())
      throw std::runtime_error("cannot start the test PostgreSQL: " + err);
  }

  ~test_cluster() {
    pg.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

test_cluster& instance() {
  static test_cluster c;
  return c;
}

std::string replace_dbname(const std::string& url, const std::string& db) {
  auto pos = url.find("dbname=");
  if (pos == std::string::npos) return url + " dbname=" + db;
  auto end = url.find(' ', pos);
  return url.substr(0, pos) + "dbname=" + db + (end == std::string::npos ? "" : url.substr(end));
}

}  // namespace

embedded_postgres& cluster() {
  return *instance().pg;
}

std::string fresh_database() {
  static std::atomic<int> counter{0};
  auto& c = instance();
  std::string name = "t" + std::to_string(getpid()) + "_" + std::to_string(++counter);
  pqxx::connection admin(replace_dbname(c.pg->url(), "postgres"));
  pqxx::nontransaction tx(admin);
  tx.exec0("CREATE DATABASE " + tx.quote_name(name));
  return replace_dbname(c.pg->url(), name);
}

}  // namespace komentra::storage::testing
