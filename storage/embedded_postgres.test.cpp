#define CAF_SUITE embedded_postgres
#include <caf/test/unit_test.hpp>

#include <filesystem>

#include <pqxx/pqxx>

#include "storage/test_database.hpp"

using namespace komentra::storage;

CAF_TEST(the test cluster answers queries over its unix socket) {
  auto& pg = testing::cluster();
  CAF_CHECK(pg.url().find("host=/") != std::string::npos);
  pqxx::connection c(pg.url());
  pqxx::read_transaction tx(c);
  CAF_CHECK_EQUAL(tx.exec1("SELECT current_setting('listen_addresses')")[0].as<std::string>(), "");
  CAF_CHECK(tx.exec1("SELECT version()")[0].as<std::string>().find("PostgreSQL 15") !=
            std::string::npos);
}

CAF_TEST(a second komentra on the same data directory is refused) {
  embedded_options opts;
  opts.data_dir =
      testing::cluster().cluster_dir().substr(0, testing::cluster().cluster_dir().size() - 3);
  opts.bin_dir = "/usr/lib/postgresql/15/bin";
  opts.run_as_user = "postgres";
  embedded_postgres second(opts);
  auto err = second.start();
  CAF_CHECK(err.find("another komentra is using the data directory") != std::string::npos);
}

CAF_TEST(a data directory that cannot be created is reported with what to do) {
  embedded_options opts;
  opts.data_dir = "/dev/null/komentra";
  opts.bin_dir = "/usr/lib/postgresql/15/bin";
  opts.run_as_user = "postgres";
  embedded_postgres pg(opts);
  auto err = pg.start();
  CAF_CHECK(err.find("cannot create data directory /dev/null/komentra") != std::string::npos);
  CAF_CHECK(err.find("KOMENTRA_DATA_DIR") != std::string::npos);
}

CAF_TEST(a missing postgresql installation is reported) {
  char tmpl[] = "/tmp/komentra-nopg-XXXXXX";
  CAF_REQUIRE(mkdtemp(tmpl) != nullptr);
  embedded_options opts;
  opts.data_dir = tmpl;
  opts.bin_dir = "/nonexistent/bin";
  opts.run_as_user = "postgres";
  embedded_postgres pg(opts);
  auto err = pg.start();
  CAF_CHECK(err.find("PostgreSQL 15 is not installed") != std::string::npos);
  std::filesystem::remove_all(tmpl);
}
