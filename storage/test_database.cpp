#include "storage/test_database.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include <pqxx/pqxx>

namespace komentra::storage::testing {

namespace {

struct test_cluster {
  std::string dir;
  std::unique_ptr<embedded_postgres> pg;

  test_cluster() {
    char tmpl[] = "/tmp/komentra-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all |
                                          std::filesystem::perms::others_exec |
                                          std::filesystem::perms::group_exec);
    embedded_options opts;
    opts.data_dir = dir;
    opts.bin_dir = "/usr/lib/postgresql/15/bin";
    opts.run_as_user = "postgres";
    opts.database = "komentra_test";
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
