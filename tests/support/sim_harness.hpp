#pragma once
/// Test support for end-to-end tests: komentra-sim and komentra as child processes wired
/// together (Graph API -> sim, sim webhooks -> komentra), a seeded workspace and account
/// with an encrypted token, and helpers to read the simulator's call log.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/komentra_process.hpp"

namespace komentra::testing {

/// Rule R1 of the field cases on our schema, as add_automation columns: comments with the
/// whole word "link" on media_id get a public reply and a DM with one https button.
std::map<std::string, std::string> r1_columns();

/// One Graph API call the simulator recorded.
struct sim_call {
  std::string method, path, body;
  int status = 0;
};

class e2e_harness {
 public:
  static constexpr const char* account_id = "17841400000000001";
  static constexpr const char* username = "our_brand";
  static constexpr const char* user_id = "9000000000000001";
  static constexpr const char* media_id = "18000000000000001";
  static constexpr const char* token = "IGAA_TEST_TOKEN_1";
  static constexpr const char* token_key =
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

  explicit e2e_harness(std::map<std::string, std::string> komentra_env = {},
                       std::vector<std::string> sim_args = {});
  ~e2e_harness();

  /// Starts (or restarts) komentra on the same database and port as before.
  void start_komentra();
  /// Stops komentra and starts it again with extra environment.
  void restart_komentra(const std::map<std::string, std::string>& extra_env);
  child_process& komentra() { return *komentra_; }
  std::uint16_t port() const { return port_; }
  std::uint16_t sim_port() const { return sim_port_; }
  const std::string& database_url() const { return db_url_; }

  /// Creates the account in the sim and in the database (login type, page id).
  void seed_account(const std::string& login = "instagram", const std::string& page_id = "");
  /// Inserts an automation with the given column values (SQL literals); returns its id.
  std::int64_t add_automation(const std::map<std::string, std::string>& columns);

  /// POST/GET on the sim's control API; returns the body (fails the test on non-2xx).
  std::string sim(const std::string& method, const std::string& path, const std::string& body = "");
  std::vector<sim_call> calls();
  /// Calls whose method is `method` and path contains `path_part`.
  std::vector<sim_call> calls(const std::string& method, const std::string& path_part);

  /// Polls `pred` until it is true or `timeout` passes.
  static bool eventually(const std::function<bool()>& pred,
                         std::chrono::milliseconds timeout = std::chrono::seconds(15));

  /// One value of a single-row query.
  std::string query(const std::string& sql);
  /// Runs a statement in its own committed transaction (test set-up).
  void exec(const std::string& sql);

 private:
  std::string db_url_;
  std::unique_ptr<child_process> sim_;
  std::unique_ptr<child_process> komentra_;
  std::uint16_t sim_port_ = 0;
  std::uint16_t port_ = 0;
  std::map<std::string, std::string> env_;
};

}  // namespace komentra::testing
