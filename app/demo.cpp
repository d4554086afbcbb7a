#include "app/demo.hpp"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include "actors/engine.hpp"
#include "actors/journal.hpp"
#include "app/service.hpp"
#include "common/child_process.hpp"
#include "common/crypto.hpp"
#include "common/json_writer.hpp"
#include "common/signals.hpp"
#include "http/api/support.hpp"
#include "http/client.hpp"
#include "storage/engine_store.hpp"
#include "storage/pool.hpp"

namespace komentra::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* demo_account = "17841400000000001";
constexpr const char* demo_username = "demo.shop";
constexpr const char* demo_token = "IGAA_DEMO_ACCESS_TOKEN";
constexpr const char* demo_user_email = "demo@komentra.example";
constexpr const char* post_links = "18000000000000001";
constexpr const char* post_guide = "18000000000000002";
constexpr const char* demo_secret = "demo_app_secret";

std::string find_sim(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto candidate :
         {self.parent_path() / "sim" / "komentra-sim", self.parent_path() / "komentra-sim"})
      if (fs::exists(candidate)) return candidate.string();
  }
  return "komentra-sim";  // PATH
}

// The token key encrypting the demo account's token: configured, or made once and kept
// in the data directory so a later run can still read what an earlier one stored.
std::string demo_token_key(const config::settings& cfg) {
  if (!cfg.str("token_key").empty()) return cfg.str("token_key");
  auto path = fs::path(cfg.str("data_dir")) / "demo-token-key";
  std::string key;
  if (std::ifstream in(path); in >> key && key.size() == 64) return key;
  fs::create_directories(path.parent_path());
  key = crypto::to_hex(crypto::random_bytes(32));
  std::ofstream(path) << key << "\n";
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  return key;
}

// Set once on Ctrl-C; the demo's threads sleep on it, so they end at once instead of after
// their current pause.
class stop_flag {
 public:
  void set() {
    std::lock_guard<std::mutex> lock(m_);
    set_ = true;
    cv_.notify_all();
  }
  /// Sleeps up to `d`; true once set.
  template <class Duration>
  bool wait_for(Duration d) {
    std::unique_lock<std::mutex> lock(m_);
    return cv_.wait_for(lock, d, [this] { return set_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool set_ = false;
};

struct sim_client {
  http::client& http;
  std::string base;

  std::string call(const std::string& method, const std::string& path,
                   const std::string& body = "") {
    http::client_request req;
    req.method = method;
    req.url = base + path;
    req.body = body;
    if (!body.empty()) req.headers = {{"Content-Type", "application/json"}};
    req.timeout = std::chrono::seconds(5);
    auto res = http.send_and_wait(std::move(req));
    if (!res.ok() || res.status >= 300)
      spdlog::debug("demo: simulator {} {} answered {} {}", method, path, res.status, res.error);
    return res.body;
  }
};

// The demo workspace, its account and automations, and a dashboard user who owns it; the
// user's password is new at every start (`password_hash`: argon2id of it).
void seed_database(const std::string& url, const std::string& key_hex,
                   const std::string& password_hash) {
  auto conn = storage::connect(url);
  pqxx::work tx(*conn);
  auto ws = tx.exec("SELECT id FROM workspaces WHERE name = 'Komentra demo'");
  std::int64_t workspace =
      ws.empty()
          ? tx.exec1("INSERT INTO workspaces (name) VALUES ('Komentra demo') RETURNING id")[0]
                .as<std::int64_t>()
          : ws[0][0].as<std::int64_t>();
  tx.exec_params0(
      "WITH u AS (INSERT INTO users (email, password_hash, name, email_verified_at)"
      " VALUES ($1, $2, 'Demo owner', now())"
      " ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash RETURNING id)"
      " INSERT INTO memberships (workspace_id, user_id, role) SELECT $3, id, 'owner' FROM u"
      " ON CONFLICT DO NOTHING",
      std::string(demo_user_email), password_hash, workspace);
  auto sealed = storage::seal_token(key_hex, demo_token, demo_account);
  tx.exec_params0(
      "INSERT INTO ig_accounts (id, workspace_id, username, account_type, token_ciphertext, "
      "token_key_id, token_expires_at) VALUES ($1, $2, $3, 'Business', decode($4, 'hex'), $5, "
      "now() + interval '60 days') ON CONFLICT (id) DO UPDATE SET token_ciphertext = "
      "excluded.token_ciphertext, token_key_id = excluded.token_key_id, status = 'active', "
      "status_reason = NULL, throttled_until = NULL",
      std::string(demo_account), workspace, std::string(demo_username), sealed.ciphertext_hex,
      sealed.key_id);
  tx.exec_params0("UPDATE automations SET status = 'active' WHERE account_id = $1",
                  std::string(demo_account));
  if (tx.exec_params1("SELECT count(*) FROM automations WHERE account_id = $1",
                      std::string(demo_account))[0]
          .as<int>() == 0) {
    tx.exec_params0(
        "INSERT INTO automations (account_id, name, trigger, media_scope, media_ids, match_type, "
        "keywords,"
        " public_replies, dm_text, dm_buttons) VALUES ($1, 'Price and link', 'comment', "
        "'selected', ARRAY[$2],"
        " 'whole_word', ARRAY['link', 'price', 'preço', 'цена', '价格'],"
        " ARRAY['Sent you a DM, {username}!', 'Check your DMs ✨', 'Just sent it to your inbox!'],"
        " 'Hi {username}! Here is the link you asked for 👇',"
        " '[{\"title\": \"Open the shop\", \"url\": \"https://shop.example/spring\"}]')",
        std::string(demo_account), std::string(post_links));
    tx.exec_params0(
        "INSERT INTO automations (account_id, name, trigger, media_scope, media_ids, match_type, "
        "keywords,"
        " public_replies, dm_text, dm_buttons, follow_gate, follow_prompt_text, "
        "follow_button_title)"
        " VALUES ($1, 'Free guide for followers', 'comment', 'selected', ARRAY[$2], 'contains',"
        " ARRAY['guide'], ARRAY['Check your DMs for the guide!'], 'Here is your free guide 📘',"
        " '[{\"title\": \"Get the guide\", \"url\": \"https://shop.example/guide.pdf\"}]', true,"
        " 'Follow @demo.shop, then tap the button and the guide is yours.', 'I''m following')",
        std::string(demo_account), std::string(post_guide));
  }
  tx.commit();
}

std::int64_t guide_automation(const std::string& url) {
  auto conn = storage::connect(url);
  pqxx::read_transaction tx(*conn);
  return tx
      .exec_params1(
          "SELECT id FROM automations WHERE account_id = $1 AND follow_gate ORDER BY id LIMIT 1",
          std::string(demo_account))[0]
      .as<std::int64_t>(0);
}

// Simulated people: comments in several languages, some matching, replies, DMs, taps.
void stream(sim_client& sim, stop_flag& stop, double per_second, std::int64_t guide_id) {
  std::mt19937 rng(std::random_device{}());
  const std::vector<std::string> on_links = {"LINK please!",
                                             "price?",
                                             "qual o preço?? 🔥",
                                             "Цена?",
                                             "请问价格多少",
                                             "send me the link",
                                             "love this 😍",
                                             "where is this from?",
                                             "so pretty",
                                             "#link",
                                             "unlinked lol",
                                             "Price 💸💸",
                                             "wow",
                                             "سعر؟",
                                             "link pls 🙏"};
  const std::vector<std::string> on_guide = {"guide please", "GUIDE!", "I want the guide 📘",
                                             "nice"};
  std::uniform_real_distribution<double> u(0, 1);
  int n = 0;
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> taps;
  auto period = std::chrono::microseconds(static_cast<long>(1e6 / std::max(0.1, per_second)));
  do {
    ++n;
    auto user = "90000000000000" + std::to_string(10 + n % 40);
    auto pick = u(rng);
    auto comment_id = std::to_string(
        17900000000000000LL + (static_cast<long long>(time(nullptr)) % 100000) * 1000 + n % 1000);
    if (pick < 0.65) {
      auto& text = on_links[rng() % on_links.size()];
      sim.call("POST", "/_sim/comments",
               R"({"media_id":")" + std::string(post_links) + R"(","user_id":")" + user +
                   R"(","id":")" + comment_id + R"(","text":)" + json::quote(text) + "}");
    } else if (pick < 0.85) {
      auto& text = on_guide[rng() % on_guide.size()];
      sim.call("POST", "/_sim/comments",
               R"({"media_id":")" + std::string(post_guide) + R"(","user_id":")" + user +
                   R"(","id":")" + comment_id + R"(","text":)" + json::quote(text) + "}");
      if (text != "nice")
        taps.emplace_back(std::chrono::steady_clock::now() + std::chrono::seconds(3),
                          R"({"user_id":")" + user +
                              R"(","title":"I'm following","payload":"KOMENTRA_FG:)" +
                              std::to_string(guide_id) + ":" + comment_id + "\"}");
    } else if (pick < 0.95) {
      sim.call("POST", "/_sim/messages",
               R"({"user_id":")" + user + R"(","text":"hi! do you ship abroad?"})");
    } else {
      sim.call("POST", "/_sim/story_replies", R"({"user_id":")" + user + R"(","text":"😍"})");
    }
    auto now = std::chrono::steady_clock::now();
    for (auto it = taps.begin(); it != taps.end();) {
      if (it->first <= now) {
        sim.call("POST", "/_sim/postbacks", it->second);
        it = taps.erase(it);
      } else {
        ++it;
      }
    }
  } while (!stop.wait_for(period));
}

// The skips of this run by reason, commonest first, from the decisions recorded since
// `since_s` (the line's other figures count this run only, and the database keeps earlier
// runs' decisions). Empty when the database cannot be read.
std::vector<std::pair<std::string, std::uint64_t>> skip_reasons(const std::string& url,
                                                                std::int64_t since_s) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  try {
    auto conn = storage::connect(url);
    pqxx::read_transaction tx(*conn);
    for (auto const& r : tx.exec_params(
             "SELECT substr(outcome, 9), count(*) FROM decisions WHERE outcome LIKE 'skipped:%'"
             " AND created_at >= to_timestamp($1) GROUP BY 1 ORDER BY 2 DESC, 1",
             static_cast<double>(since_s)))
      out.emplace_back(r[0].as<std::string>(), r[1].as<std::uint64_t>());
  } catch (const std::exception&) {
  }
  return out;
}

struct progress_figures {
  std::uint64_t received = 0;  ///< events stored in the journal
  std::uint64_t decided = 0, matched = 0, skipped = 0;
  std::uint64_t public_replies = 0, dms = 0;
  std::int64_t queued = 0;
  std::vector<std::pair<std::string, std::uint64_t>> reasons;  ///< commonest first
};

// One line whose parts add up: received = matched + skipped + other + deciding, and the
// reasons in brackets add up to skipped (the three commonest, then "N more": the rest, and
// skips decided since the reasons were last read).
std::string progress_line(const progress_figures& f) {
  auto deciding = f.received > f.decided ? f.received - f.decided : 0;
  auto other = f.decided - std::min(f.decided, f.matched + f.skipped);
  std::string why;
  std::uint64_t shown = 0;
  for (std::size_t i = 0; i < f.reasons.size() && i < 3 && shown + f.reasons[i].second <= f.skipped;
       ++i) {
    why +=
        (why.empty() ? "" : ", ") + f.reasons[i].first + " " + std::to_string(f.reasons[i].second);
    shown += f.reasons[i].second;
  }
  if (f.skipped > shown)
    why += (why.empty() ? "" : ", ") + std::to_string(f.skipped - shown) + " more";
  return "received " + std::to_string(f.received) + " | matched " + std::to_string(f.matched) +
         " | public replies " + std::to_string(f.public_replies) + " | DMs " +
         std::to_string(f.dms) + " | skipped " + std::to_string(f.skipped) +
         (why.empty() ? "" : " (" + why + ")") + " | other " + std::to_string(other) +
         " | deciding " + std::to_string(deciding) + " | queued " + std::to_string(f.queued);
}

}  // namespace

int run_demo(config::settings cfg, const demo_options& opts) {
  block_termination_signals();
  // The simulator first: the engine's Graph API is the simulator.
  std::vector<std::string> sim_args{"serve",        "--listen",    "127.0.0.1:0",
                                    "--app-secret", demo_secret,   "--verify-token",
                                    "demo-verify",  "--log-level", "warn"};
  child_process sim_proc(find_sim(opts.sim_binary), sim_args, {});
  auto sim_port = sim_proc.wait_for_port(std::chrono::seconds(15));
  if (sim_port == 0) {
    std::fprintf(stderr, "komentra: the simulator did not start (%s): %s\n",
                 find_sim(opts.sim_binary).c_str(), sim_proc.output().c_str());
    return 2;
  }
  auto sim_url = "http://127.0.0.1:" + std::to_string(sim_port);
  cfg.set("graph.base_url", sim_url);
  cfg.set("graph.facebook_base_url", sim_url);
  cfg.set("oauth.base_url", sim_url);
  if (cfg.list("meta.app_secrets").empty()) cfg.set("meta.app_secrets", demo_secret);
  if (cfg.str("meta.verify_token").empty()) cfg.set("meta.verify_token", "demo-verify");
  auto key = demo_token_key(cfg);
  cfg.set("token_key", key);
  std::string admin = cfg.str("admin_token");
  if (admin.empty()) {
    admin = crypto::to_hex(crypto::random_bytes(16));
    cfg.set("admin_token", admin);
  }

  // The dashboard user's password: printed below, valid until the next start.
  auto demo_password = crypto::base64url_encode(crypto::random_bytes(12));
  service svc(cfg);
  if (auto err = svc.start(); !err.empty()) {
    svc.stop();
    std::fprintf(stderr, "komentra: %s\n", err.c_str());
    return 2;
  }
  auto url = svc.database_url();
  try {
    seed_database(url, key, http::api::hash_password(cfg, demo_password));
  } catch (const std::exception& e) {
    svc.stop();
    std::fprintf(stderr, "komentra: seeding the demo data failed: %s\n", e.what());
    return 2;
  }
  http::client http_client(http::client_options{});
  sim_client sim{http_client, sim_url};
  sim.call("POST", "/_sim/accounts",
           std::string(R"({"id":")") + demo_account + R"(","username":")" + demo_username +
               R"(","access_token":")" + demo_token + R"("})");
  sim.call("POST", "/_sim/media",
           std::string(R"({"account_id":")") + demo_account + R"(","id":")" + post_links +
               R"(","caption":"Spring collection 🌸"})");
  sim.call("POST", "/_sim/media",
           std::string(R"({"account_id":")") + demo_account + R"(","id":")" + post_guide +
               R"(","caption":"Free styling guide for followers"})");
  for (int i = 10; i < 50; ++i)
    sim.call("POST", "/_sim/users",
             std::string(R"({"account_id":")") + demo_account + R"(","id":"90000000000000)" +
                 std::to_string(i) + R"(","username":"fan_)" + std::to_string(i) +
                 R"(","follows":)" + (i % 3 ? "true" : "false") + "}");
  auto [host, ignored] = config::split_host_port(cfg.str("listen"));
  auto base = "http://" + host + ":" + std::to_string(svc.port());
  sim.call("POST", "/_sim/config", R"({"webhook_url":")" + base + R"(/webhooks/instagram"})");

  std::printf(
      "\nKomentra demo is running. Simulated Instagram users comment on two posts of @%s;\n"
      "Komentra answers them through the simulated Graph API.\n\n"
      "  health        %s/healthz   %s/readyz\n"
      "  metrics       %s/metrics\n"
      "  actors        curl -H 'Authorization: Bearer %s' %s/admin/actors\n"
      "  dashboard API %s/api/v1/openapi.json\n"
      "                sign in as %s, password %s:\n"
      "                curl -c jar -H 'X-Requested-With: x' -H 'Content-Type: application/json' "
      "\\\n"
      "                  -d '{\"email\":\"%s\",\"password\":\"%s\"}' %s/api/v1/auth/login\n"
      "                curl -b jar %s/api/v1/me\n"
      "  simulator     %s/_sim/calls (every Graph API call Komentra made)\n\n"
      "Ctrl-C stops everything.\n\n",
      demo_username, base.c_str(), base.c_str(), base.c_str(), admin.c_str(), base.c_str(),
      base.c_str(), demo_user_email, demo_password.c_str(), demo_user_email, demo_password.c_str(),
      base.c_str(), base.c_str(), sim_url.c_str());
  std::fflush(stdout);

  stop_flag stop;
  auto guide_id = guide_automation(url);
  std::thread streamer([&] { stream(sim, stop, opts.events_per_second, guide_id); });
  std::thread progress([&] {
    bool tty = isatty(STDOUT_FILENO);
    auto& e = svc.engine_counters();
    auto& j = svc.journal_counters();
    int tick = 0;
    std::vector<std::pair<std::string, std::uint64_t>> reasons;
    auto since_s = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count() -
                   1;
    while (!stop.wait_for(std::chrono::seconds(1))) {
      if (++tick % 3 == 1) reasons = skip_reasons(url, since_s);
      // Read in the order the engine counts (stored, then decided, then how), backwards, so
      // that no part can exceed its whole.
      progress_figures f;
      f.matched = e.matched.load();
      f.skipped = e.skipped.load();
      f.decided = e.events.load();
      f.received = j.events_stored.load();
      f.public_replies = e.public_replies.load();
      f.dms = e.dms.load();
      f.queued = e.queued_actions.load();
      f.reasons = reasons;
      auto line = progress_line(f);
      if (tty) {
        std::printf("\r\033[K%s", line.c_str());
        std::fflush(stdout);
      } else if (tick % 5 == 0) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      }
    }
  });
  int sig = wait_for_termination_signal();
  std::printf("\n");
  spdlog::info("received {}, stopping the demo", sig == SIGINT ? "SIGINT" : "SIGTERM");
  stop.set();
  streamer.join();
  progress.join();
  http_client.stop();
  sim_proc.terminate();  // it stops in parallel with the engine
  svc.stop();
  sim_proc.wait_exit(std::chrono::seconds(5));
  spdlog::info("stopped");
  return 0;
}

}  // namespace komentra::app
