#pragma once
/// Versioned schema migrations: storage/migrations/NNNN_name.sql, embedded into the
/// binary at build time, applied in order, each in its own transaction, and recorded in
/// schema_migrations. An advisory lock keeps two komentra processes from migrating at
/// once. Runs at start-up (and in `komentra migrate`), never on a request path.

#include <string>
#include <vector>

#include <pqxx/connection>

namespace komentra::storage {

struct migration {
  int version;
  const char* name;
  const char* sql;
};

/// Every migration this build knows, in version order (generated source).
const std::vector<migration>& migrations();

/// The highest version this build knows.
int latest_schema_version();

struct migrate_result {
  int from_version = 0;
  int to_version = 0;
  std::string error;  ///< non-empty: nothing after the failing migration was applied
};

/// Applies every migration the database lacks, in version order. Refuses (error, nothing
/// changed) when the database has a migration this build does not know.
migrate_result migrate(pqxx::connection& conn);

/// How many of this build's migrations the database has not applied.
int missing_migrations(pqxx::connection& conn);

/// The database's current schema version (0 when never migrated).
int current_schema_version(pqxx::connection& conn);

}  // namespace komentra::storage
