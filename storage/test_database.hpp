#pragma once
/// Test support: throwaway PostgreSQL databases for integration tests. The first call
/// starts a private cluster in a temporary directory, /tmp/komentra-test-<pid>-XXXXXX (the
/// same embedded_postgres the product uses, its server a child of the test binary that dies
/// with it), removed when the test binary exits, or by the next test binary when this one was
/// killed. Each call returns a new, empty database, so tests never see each other's rows.

#include <string>

#include "storage/embedded_postgres.hpp"

namespace komentra::storage::testing {

/// libpq URL of a new empty database in the test cluster.
std::string fresh_database();

/// The cluster itself, for tests that stop and restart the server.
embedded_postgres& cluster();

/// Removes the cluster directories of test binaries that were killed (the first call of
/// either function above does it once).
void remove_abandoned_clusters();

}  // namespace komentra::storage::testing
