#include "tests/support/sim_harness.hpp"

#include <simdjson.h>

#include <stdexcept>
#include <thread>

#include <pqxx/pqxx>

#include "http/test_client.hpp"
#include "storage/engine_store.hpp"
#include "storage/pool.hpp"
#include "storage/test_database.hpp"

namespace komentra::testing {

std::map<std::string, std::string> r1_columns() {
  return {{"trigger", "'comment'"},
          {"media_scope", "'selected'"},
          {"media_ids", "'{18000000000000001}'"},
          {"keywords", "'{link}'"},
          {"match_type", "'whole_word'"},
          {"public_replies", "'{\"Sent you a DM!\"}'"},
          {"dm_text", "'Here is your link'"},
          {"dm_buttons", R"('[{"title":"Open","url":"https://shop.example/a"}]')"}};
}

e2e_harness::e2e_harness(std::map<std::string, std::string> komentra_env,
                         std::vector<std::string> sim_args)
    : db_url_(storage::testing::fresh_database()), env_(std::move(komentra_env)) {
  std::vector<std::string> args{"serve",
                                "--listen",
                                "127.0.0.1:0",
                                "--app-secret",
                                "test_app_secret",
                                "--batch-window-ms",
                                "1",
                                "--retry-base-ms",
                                "200",
                                "--seed",
                                "7"};
  args.insert(args.end(), sim_args.begin(), sim_args.end());
  sim_ = std::make_unique<child_process>(binary_path("KOMENTRA_SIM_BINARY"), args,
                                         std::map<std::string, std::string>{});
  sim_port_ = sim_->wait_for_port();
  if (sim_port_ == 0) throw std::runtime_error("komentra-sim did not start: " + sim_->output());
  start_komentra();
}

e2e_harness::~e2e_harness() {
  if (komentra_) komentra_->terminate();
  if (komentra_) komentra_->wait_exit(std::chrono::seconds(10));
}

void e2e_harness::start_komentra() {
  std::map<std::string, std::string> env{
      {"KOMENTRA_DATABASE_URL", db_url_},
      {"KOMENTRA_LISTEN", "127.0.0.1:" + std::to_string(port_)},
      {"KOMENTRA_META_APP_SECRETS", "test_app_secret"},
      {"KOMENTRA_GRAPH_BASE_URL", "http://127.0.0.1:" + std::to_string(sim_port_)},
      {"KOMENTRA_GRAPH_FACEBOOK_BASE_URL", "http://127.0.0.1:" + std::to_string(sim_port_)},
      {"KOMENTRA_OAUTH_BASE_URL", "http://127.0.0.1:" + std::to_string(sim_port_)},
      {"KOMENTRA_TOKEN_KEY", token_key},
      {"KOMENTRA_ENGINE_RETRY_BASE_MS", "100"},
      {"KOMENTRA_ENGINE_VERIFY_DELAY_MS", "300"},
      {"KOMENTRA_LOG_LEVEL", "debug"}};
  for (auto& [k, v] : env_) env[k] = v;
  komentra_ = std::make_unique<child_process>(binary_path("KOMENTRA_BINARY"),
                                              std::vector<std::string>{"serve"}, env);
  port_ = komentra_->wait_for_port();
  if (port_ == 0) throw std::runtime_error("komentra did not start: " + komentra_->output());
  sim("POST", "/_sim/config",
      R"({"webhook_url":"http://127.0.0.1:)" + std::to_string(port_) + R"(/webhooks/instagram"})");
}

void e2e_harness::restart_komentra(const std::map<std::string, std::string>& extra_env) {
  komentra_->terminate();
  komentra_->wait_exit();
  for (auto& [k, v] : extra_env) env_[k] = v;
  start_komentra();
}

void e2e_harness::seed_account(const std::string& login, const std::string& page_id) {
  sim("POST", "/_sim/accounts",
      std::string(R"({"id":")") + account_id + R"(","username":")" + username +
          R"(","access_token":")" + token + R"("})");
  sim("POST", "/_sim/users",
      std::string(R"({"account_id":")") + account_id + R"(","id":")" + user_id +
          R"(","username":"user_a"})");
  sim("POST", "/_sim/media",
      std::string(R"({"account_id":")") + account_id + R"(","id":")" + media_id + R"("})");
  auto sealed = storage::seal_token(token_key, token, account_id);
  auto conn = storage::connect(db_url_);
  pqxx::work tx(*conn);
  auto ws =
      tx.exec1("INSERT INTO workspaces (name) VALUES ('test') RETURNING id")[0].as<std::int64_t>();
  std::optional<std::string> page;
  if (!page_id.empty()) page = page_id;
  tx.exec_params0(
      "INSERT INTO ig_accounts (id, workspace_id, username, login_type, page_id, token_ciphertext,"
      " token_key_id) VALUES ($1, $2, $3, $4, $5, decode($6, 'hex'), $7)",
      std::string(account_id), ws, std::string(username), login, page, sealed.ciphertext_hex,
      sealed.key_id);
  tx.commit();
}

std::int64_t e2e_harness::add_automation(const std::map<std::string, std::string>& columns) {
  std::string names = "account_id, name", values = "'" + std::string(account_id) + "', 'test'";
  for (auto& [k, v] : columns) {
    names += ", " + k;
    values += ", " + v;
  }
  auto conn = storage::connect(db_url_);
  pqxx::work tx(*conn);
  auto id =
      tx.exec1("INSERT INTO automations (" + names + ") VALUES (" + values + ") RETURNING id")[0]
          .as<std::int64_t>();
  tx.commit();
  return id;
}

std::string e2e_harness::sim(const std::string& method, const std::string& path,
                             const std::string& body) {
  auto r = http::testing::request(sim_port_, method, path, body);
  if (r.status < 200 || r.status >= 300)
    throw std::runtime_error("sim " + method + " " + path + " -> " + std::to_string(r.status) +
                             ": " + r.body);
  return r.body;
}

std::vector<sim_call> e2e_harness::calls() {
  std::vector<sim_call> out;
  auto text = sim("GET", "/_sim/calls");
  simdjson::padded_string buf(text);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(buf).get(doc)) return out;
  simdjson::ondemand::array arr;
  if (doc["calls"].get_array().get(arr)) return out;
  for (auto item : arr) {
    simdjson::ondemand::object o;
    if (item.get_object().get(o)) continue;
    sim_call c;
    std::string_view s;
    if (!o["method"].get_string().get(s)) c.method = std::string(s);
    if (!o["path"].get_string().get(s)) c.path = std::string(s);
    if (!o["body"].get_string().get(s)) c.body = std::string(s);
    std::int64_t st = 0;
    if (!o["status"].get_int64().get(st)) c.status = static_cast<int>(st);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<sim_call> e2e_harness::calls(const std::string& method, const std::string& path_part) {
  std::vector<sim_call> out;
  for (auto& c : calls())
    if (c.method == method && c.path.find(path_part) != std::string::npos) out.push_back(c);
  return out;
}

bool e2e_harness::eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

std::string e2e_harness::query(const std::string& sql) {
  auto conn = storage::connect(db_url_);
  pqxx::read_transaction tx(*conn);
  auto r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

void e2e_harness::exec(const std::string& sql) {
  auto conn = storage::connect(db_url_);
  pqxx::work tx(*conn);
  tx.exec0(sql);
  tx.commit();
}

}  // namespace komentra::testing
