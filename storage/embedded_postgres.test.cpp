#define CAF_SUITE embedded_postgres
#include <caf/test/unit_test.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <pqxx/pqxx>

#include "common/child_process.hpp"
#include "storage/test_database.hpp"

using namespace komentra::storage;

namespace {

// Whether a process runs (a zombie waiting for its new parent to reap it has ended).
bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, comm, state;
  return stat >> pid_field >> comm >> state && state != "Z";
}

}  // namespace

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

CAF_TEST(a test binary killed with sigkill leaves no server of its cluster running) {
  if (std::getenv("KOMENTRA_TEST_HOLD_CLUSTER")) {
    // The test binary to be killed: starts its cluster, says where, waits for the end.
    std::printf("cluster in %s\n", testing::cluster().cluster_dir().c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::minutes(2));
    return;
  }
  komentra::child_process victim(std::filesystem::read_symlink("/proc/self/exe").string(),
                                 {"-s", "embedded_postgres", "-t", "a test binary killed.*"},
                                 {{"KOMENTRA_TEST_HOLD_CLUSTER", "1"}});
  std::smatch m;
  std::string out;
  static const std::regex where("cluster in (\\S+)/pg\n");
  for (int i = 0; i < 1500 && !std::regex_search(out = victim.output(), m, where); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CAF_REQUIRE(!m.empty());
  std::string dir = m[1];
  pid_t server = 0;
  std::ifstream(dir + "/pg/data/postmaster.pid") >> server;
  CAF_REQUIRE(server > 0 && running(server));
  victim.kill();
  CAF_CHECK_EQUAL(victim.wait_exit(std::chrono::seconds(10)), -1);
  bool gone = false;
  for (int i = 0; i < 500 && !(gone = !running(server)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CAF_CHECK(gone);
  if (!gone) {  // this test leaves nothing behind either way
    ::kill(server, SIGQUIT);
    for (int i = 0; i < 500 && running(server); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The next test binary removes the directory; that one's own stays.
  testing::remove_abandoned_clusters();
  CAF_CHECK(!std::filesystem::exists(dir));
  CAF_CHECK(std::filesystem::exists(testing::cluster().cluster_dir()));
  std::filesystem::remove_all(dir);
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
