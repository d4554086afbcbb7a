#pragma once
/// Test support: throwaway PostgreSQL databases for integration tests. The first call
/// starts a private cluster in a temporary directory (the same embedded_postgres the
/// product uses), removed when the test binary exits. Each call returns a new, empty
/// database, so tests never see each other's rows.

#include <string>

#include "storage/embedded_postgres.hpp"

namespace komentra::storage::testing {

/// libpq URL of a new empty database in the test cluster.
std::string fresh_database();

/// The cluster itself, for tests that stop and restart the server.
embedded_postgres& cluster();

}  // namespace komentra::storage::testing
