#define CAF_SUITE settings
#include <caf/test/unit_test.hpp>

#include <cstdio>
#include <fstream>

#include <unistd.h>

#include "config/settings.hpp"

using namespace komentra::config;

namespace {

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/komentra-config-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

settings ok(std::variant<settings, std::string> r) {
  if (auto* err = std::get_if<std::string>(&r)) CAF_FAIL("unexpected error: " << *err);
  return std::get<settings>(std::move(r));
}

std::string failure(std::variant<settings, std::string> r) {
  if (std::holds_alternative<settings>(r)) CAF_FAIL("expected an error");
  return std::get<std::string>(r);
}

}  // namespace

CAF_TEST(defaults apply when nothing is configured) {
  auto s = ok(load(std::nullopt, {}));
  CAF_CHECK_EQUAL(s.str("listen"), "127.0.0.1:8080");
  CAF_CHECK_EQUAL(s.integer("http.body_limit_bytes"), 4 * 1024 * 1024);
  CAF_CHECK_EQUAL(s.str("data_dir"), "var");
  CAF_CHECK(s.source("listen") == origin::schema_default);
}

CAF_TEST(the environment wins over the file) {
  auto file = write_temp("listen = \"0.0.0.0:9000\"\n[http]\nbody_limit_bytes = 2048\n");
  auto s = ok(load(file, {{"KOMENTRA_LISTEN", "127.0.0.1:7000"}}));
  CAF_CHECK_EQUAL(s.str("listen"), "127.0.0.1:7000");
  CAF_CHECK(s.source("listen") == origin::environment);
  CAF_CHECK_EQUAL(s.integer("http.body_limit_bytes"), 2048);
  CAF_CHECK(s.source("http.body_limit_bytes") == origin::file);
  std::remove(file.c_str());
}

CAF_TEST(stable environment names map to schema keys) {
  auto s = ok(load(std::nullopt, {{"KOMENTRA_DATABASE_URL", "postgresql:///x"},
                                  {"KOMENTRA_META_APP_SECRETS", "a, b"},
                                  {"KOMENTRA_META_VERIFY_TOKEN", "VT"},
                                  {"KOMENTRA_GRAPH_BASE_URL", "http://127.0.0.1:9"},
                                  {"KOMENTRA_OAUTH_BASE_URL", "http://127.0.0.1:9"},
                                  {"KOMENTRA_ADMIN_TOKEN", "adm"},
                                  {"KOMENTRA_LOG_FORMAT", "json"},
                                  {"KOMENTRA_DATA_DIR", "/tmp/x"}}));
  CAF_CHECK_EQUAL(s.list("meta.app_secrets"), (std::vector<std::string>{"a", "b"}));
  CAF_CHECK_EQUAL(s.str("log.format"), "json");
  CAF_CHECK_EQUAL(s.str("database.url"), "postgresql:///x");
}

CAF_TEST(an unknown file key names the key and the known ones) {
  auto file = write_temp("[http]\nbody_limit = 5\n");
  auto err = failure(load(file, {}));
  CAF_CHECK(err.find("unknown configuration key 'http.body_limit'") != std::string::npos);
  CAF_CHECK(err.find("http.body_limit_bytes") != std::string::npos);
  std::remove(file.c_str());
}

CAF_TEST(an unknown environment variable is refused) {
  auto err = failure(load(std::nullopt, {{"KOMENTRA_LISTN", "x"}}));
  CAF_CHECK(err.find("KOMENTRA_LISTN") != std::string::npos);
}

CAF_TEST(invalid values name the key and the accepted values) {
  auto err = failure(load(std::nullopt, {{"KOMENTRA_LOG_FORMAT", "xml"}}));
  CAF_CHECK(err.find("log.format") != std::string::npos);
  CAF_CHECK(err.find("text, json") != std::string::npos);
  err = failure(load(std::nullopt, {{"KOMENTRA_HTTP_BODY_LIMIT_BYTES", "12abc"}}));
  CAF_CHECK(err.find("KOMENTRA_HTTP_BODY_LIMIT_BYTES") != std::string::npos);
  err = failure(load(std::nullopt, {{"KOMENTRA_LISTEN", "localhost"}}));
  CAF_CHECK(err.find("host:port") != std::string::npos);
  err = failure(load(std::nullopt, {{"KOMENTRA_TOKEN_KEY", "zz"}}));
  CAF_CHECK(err.find("token_key") != std::string::npos);
  CAF_CHECK(err.find("zz") == std::string::npos);
}

CAF_TEST(a malformed file reports its position) {
  auto file = write_temp("listen = \n");
  auto err = failure(load(file, {}));
  CAF_CHECK(err.find(file + ":1:") != std::string::npos);
  std::remove(file.c_str());
}

CAF_TEST(a file value of the wrong type is refused) {
  auto file = write_temp("[http]\nbody_limit_bytes = \"big\"\n");
  auto err = failure(load(file, {}));
  CAF_CHECK(err.find("http.body_limit_bytes") != std::string::npos);
  std::remove(file.c_str());
}

CAF_TEST(render masks secrets) {
  auto s = ok(load(std::nullopt, {{"KOMENTRA_META_APP_SECRETS", "topsecret1"},
                                  {"KOMENTRA_DATABASE_URL", "postgresql://u:pw123@h/db"},
                                  {"KOMENTRA_ADMIN_TOKEN", "adm1n"}}));
  auto text = s.render();
  CAF_CHECK(text.find("topsecret1") == std::string::npos);
  CAF_CHECK(text.find("pw123") == std::string::npos);
  CAF_CHECK(text.find("adm1n") == std::string::npos);
  CAF_CHECK(text.find("postgresql://u:***@h/db") != std::string::npos);
}

CAF_TEST(mask database url handles key value strings) {
  CAF_CHECK_EQUAL(mask_database_url("host=x password=abc dbname=y"),
                  "host=x password=*** dbname=y");
}
