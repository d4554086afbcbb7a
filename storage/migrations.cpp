#include "storage/migrations.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <set>

#include <pqxx/pqxx>

namespace komentra::storage {

namespace {

// Any constant shared by every komentra: serializes concurrent migrators.
constexpr std::int64_t migration_lock_key = 0x6b6f6d656e747261;  // "komentra"

void ensure_table(pqxx::connection& conn) {
  pqxx::work tx(conn);
  tx.exec0(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY, name text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  tx.commit();
}

}  // namespace

int latest_schema_version() {
  auto& all = migrations();
  return all.empty() ? 0 : all.back().version;
}

int current_schema_version(pqxx::connection& conn) {
  pqxx::read_transaction tx(conn);
  auto exists = tx.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].as<bool>();
  if (!exists) return 0;
  return tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
}

// A session-level advisory lock, held across the per-migration transactions.
class migration_lock {
 public:
  explicit migration_lock(pqxx::connection& conn) : conn_(conn) {
    exec("SELECT pg_advisory_lock($1)");
  }
  ~migration_lock() {
    try {
      exec("SELECT pg_advisory_unlock($1)");
    } catch (...) {
      // The lock dies with the session anyway.
    }
  }

 private:
  void exec(const char* sql) {
    pqxx::nontransaction tx(conn_);
    tx.exec_params(sql, migration_lock_key);
  }
  pqxx::connection& conn_;
};

migrate_result migrate(pqxx::connection& conn) {
  migrate_result res;
  try {
    ensure_table(conn);
    migration_lock lock(conn);
    res.from_version = res.to_version = current_schema_version(conn);
    // Every migration missing from the table is applied, not only those above the
    // highest: migrations written on parallel branches may land out of order.
    std::set<int> applied;
    {
      pqxx::read_transaction tx(conn);
      for (auto const& row : tx.exec("SELECT version FROM schema_migrations"))
        applied.insert(row[0].as<int>());
    }
    std::set<int> known;
    for (auto& m : migrations()) known.insert(m.version);
    for (int v : applied)
      if (!known.count(v)) {
        res.error = "the database schema has migration " + std::to_string(v) +
                    ", newer than this komentra knows (up to " +
                    std::to_string(latest_schema_version()) +
                    "); run a newer komentra or point KOMENTRA_DATABASE_URL at another database";
        return res;
      }
    for (auto& m : migrations()) {
      if (applied.count(m.version)) continue;
      try {
        pqxx::work tx(conn);
        tx.exec0(m.sql);
        tx.exec_params0("INSERT INTO schema_migrations(version, name) VALUES ($1, $2)", m.version,
                        std::string(m.name));
        tx.commit();
      } catch (const std::exception& e) {
        res.error = "migration " + std::string(m.name) + " failed: " + e.what();
        return res;
      }
      spdlog::info("applied migration {}", m.name);
      res.to_version = std::max(res.to_version, m.version);
    }
  } catch (const std::exception& e) {
    res.error = std::string("cannot migrate the database: ") + e.what();
  }
  return res;
}

int missing_migrations(pqxx::connection& conn) {
  std::set<int> applied;
  pqxx::read_transaction tx(conn);
  if (!tx.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].as<bool>())
    return static_cast<int>(migrations().size());
  for (auto const& row : tx.exec("SELECT version FROM schema_migrations"))
    applied.insert(row[0].as<int>());
  int missing = 0;
  for (auto& m : migrations()) missing += applied.count(m.version) ? 0 : 1;
  return missing;
}

}  // namespace komentra::storage
