#define CAF_SUITE startup
#include <caf/test/unit_test.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <pqxx/pqxx>

#include "http/test_client.hpp"
#include "storage/pool.hpp"
#include "storage/test_database.hpp"
#include "tests/support/komentra_process.hpp"

using namespace komentra;
using komentra::testing::child_process;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/komentra-startup-XXXXXX";
  if (!mkdtemp(tmpl)) CAF_FAIL("mkdtemp");
  return tmpl;
}

struct run_result {
  int status;
  std::string output;
};

run_result run(std::vector<std::string> args, std::map<std::string, std::string> env) {
  child_process p(komentra::testing::binary_path("KOMENTRA_BINARY"), std::move(args),
                  std::move(env));
  int status = p.wait_exit(std::chrono::seconds(60));
  return {status, p.output()};
}

// One clear line, no stack trace.
void check_one_line(const run_result& r, const std::string& needle) {
  CAF_CHECK_EQUAL(r.status, 2);
  if (r.output.find(needle) == std::string::npos) CAF_MESSAGE("output: " << r.output);
  CAF_CHECK(r.output.find(needle) != std::string::npos);
  CAF_CHECK(r.output.find("terminate called") == std::string::npos);
  CAF_CHECK(r.output.find("Aborted") == std::string::npos);
}

}  // namespace

CAF_TEST(a malformed config file stops start up with its position) {
  auto dir = temp_dir();
  std::ofstream(dir + "/bad.toml") << "listen = [\n";
  auto r = run({"--config", dir + "/bad.toml", "serve"}, {{"KOMENTRA_DATA_DIR", dir + "/var"}});
  check_one_line(r, "bad.toml:");
  CAF_CHECK(access((dir + "/var").c_str(), F_OK) != 0);  // nothing half-created
}

CAF_TEST(an unknown command is named as such) {
  check_one_line(run({"frobnicate"}, {}), "unknown command 'frobnicate'");
}

CAF_TEST(an unknown config key stops start up naming the key) {
  auto dir = temp_dir();
  std::ofstream(dir + "/k.toml") << "[http]\nbody_limit = 1\n";
  auto r = run({"--config", dir + "/k.toml", "serve"}, {{"KOMENTRA_DATA_DIR", dir + "/var"}});
  check_one_line(r, "unknown configuration key 'http.body_limit'");
}

CAF_TEST(an invalid value stops start up naming the accepted values) {
  auto r = run({"serve"}, {{"KOMENTRA_LOG_FORMAT", "xml"}});
  check_one_line(r, "log.format");
  CAF_CHECK(r.output.find("text, json") != std::string::npos);
}

CAF_TEST(an unreachable database stops start up) {
  auto r = run({"serve"}, {{"KOMENTRA_DATABASE_URL", "host=/nonexistent-dir dbname=x"},
                           {"KOMENTRA_LISTEN", "127.0.0.1:0"}});
  check_one_line(r, "cannot reach the database");
  CAF_CHECK(r.output.find("KOMENTRA_DATABASE_URL") != std::string::npos);
}

CAF_TEST(a data directory that cannot be created stops start up) {
  auto r = run({"serve"},
               {{"KOMENTRA_DATA_DIR", "/proc/komentra-var"}, {"KOMENTRA_LISTEN", "127.0.0.1:0"}});
  check_one_line(r, "cannot create data directory");
}

CAF_TEST(a port in use stops start up before anything is created) {
  auto dir = temp_dir();
  child_process first(komentra::testing::binary_path("KOMENTRA_BINARY"), {"serve"},
                      {{"KOMENTRA_DATABASE_URL", storage::testing::fresh_database()},
                       {"KOMENTRA_LISTEN", "127.0.0.1:0"}});
  auto port = first.wait_for_port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  auto r = run({"serve"}, {{"KOMENTRA_LISTEN", "127.0.0.1:" + std::to_string(port)},
                           {"KOMENTRA_DATA_DIR", dir + "/var"}});
  check_one_line(r, "Address already in use");
  CAF_CHECK(r.output.find("KOMENTRA_LISTEN") != std::string::npos);
  CAF_CHECK(access((dir + "/var").c_str(), F_OK) != 0);
}

CAF_TEST(serve answers health and readiness and stops on sigterm) {
  child_process p(komentra::testing::binary_path("KOMENTRA_BINARY"), {"serve"},
                  {{"KOMENTRA_DATABASE_URL", storage::testing::fresh_database()},
                   {"KOMENTRA_LISTEN", "127.0.0.1:0"}});
  auto port = p.wait_for_port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  CAF_CHECK_EQUAL(http::testing::request(port, "GET", "/healthz").status, 200);
  auto ready = http::testing::request(port, "GET", "/readyz");
  CAF_CHECK_EQUAL(ready.status, 200);
  CAF_CHECK(ready.body.find("\"ready\"") != std::string::npos);
  p.terminate();
  CAF_CHECK_EQUAL(p.wait_exit(), 0);
  CAF_CHECK(p.output().find("stopped") != std::string::npos);
}

CAF_TEST(readiness follows the database going away and coming back) {
  child_process p(komentra::testing::binary_path("KOMENTRA_BINARY"), {"serve"},
                  {{"KOMENTRA_DATABASE_URL", storage::testing::fresh_database()},
                   {"KOMENTRA_LISTEN", "127.0.0.1:0"}});
  auto port = p.wait_for_port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  CAF_CHECK_EQUAL(http::testing::request(port, "GET", "/readyz").status, 200);
  storage::testing::cluster().stop();
  auto down = http::testing::request(port, "GET", "/readyz");
  CAF_CHECK_EQUAL(down.status, 503);
  CAF_CHECK(down.body.find("\"reason\"") != std::string::npos);
  CAF_REQUIRE_EQUAL(storage::testing::cluster().start(), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // pool connections now idle
  CAF_CHECK_EQUAL(http::testing::request(port, "GET", "/readyz").status, 200);
}

CAF_TEST(a database newer than this build is refused at start up) {
  auto url = storage::testing::fresh_database();
  {
    child_process m(komentra::testing::binary_path("KOMENTRA_BINARY"), {"migrate"},
                    {{"KOMENTRA_DATABASE_URL", url}});
    CAF_REQUIRE_EQUAL(m.wait_exit(), 0);
  }
  auto conn = storage::connect(url);
  {
    pqxx::work tx(*conn);
    tx.exec0("INSERT INTO schema_migrations(version, name) VALUES (9999, 'future')");
    tx.commit();
  }
  auto r = run({"serve"}, {{"KOMENTRA_DATABASE_URL", url}, {"KOMENTRA_LISTEN", "127.0.0.1:0"}});
  check_one_line(r, "newer than this komentra knows");
}

CAF_TEST(config prints the effective configuration with secrets masked) {
  auto r = run({"config"}, {{"KOMENTRA_META_APP_SECRETS", "s3cr3t-value"},
                            {"KOMENTRA_LISTEN", "127.0.0.1:9999"}});
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_CHECK(r.output.find("listen = \"127.0.0.1:9999\"") != std::string::npos);
  CAF_CHECK(r.output.find("s3cr3t-value") == std::string::npos);
}
