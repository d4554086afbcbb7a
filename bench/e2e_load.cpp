/// komentra-bench-e2e: end-to-end figures of the engine against komentra-sim, on loopback.
///
///   komentra-bench-e2e seed   --database-url URL --token-key HEX --accounts N [--first-account ID]
///                             [--sim-port P]          (also creates the accounts in the sim)
///   komentra-bench-e2e run    --port P --sim-port S --secret S --accounts N --rate R
///                             --duration D [--first-account ID] [--first-comment ID]
///                             [--connections 32] [--drain 5] [--warmup] [--pid LABEL=PID]...
///   komentra-bench-e2e events --port P --secret S --accounts N [--first-account ID]
///                             [--first-comment ID] [--connections 16]
///
/// seed: N Instagram accounts with ids first-account, first-account+1, ...: in the database a
/// workspace, the ig_accounts rows with the access token sealed per account (AES-256-GCM, AAD =
/// account id, as the dashboard does) and one active automation each (comment on any post,
/// whole word `link`, one public reply and one private reply); in the simulator (with
/// --sim-port) the account with the same token, one user and one media.
///
/// run: an open-loop stream of signed comment deliveries (one event each, every one matching)
/// at --rate per second for --duration seconds, round-robin over the accounts, sent directly
/// to komentra's POST /webhooks/instagram over --connections keep-alive connections. Each
/// comment is first created in the simulator (deliver: false) so that the engine's replies
/// succeed there. The time each 200 arrived is recorded per comment id; after the run the
/// simulator's call log (GET /_sim/calls, arrival time in µs) gives, per comment, the private
/// reply (POST .../messages with recipient.comment_id) and the first Graph call. Prints
/// key=value lines: offered_per_s (achieved send rate), answered, private_replies (found),
/// p50_ms/p99_ms/max_ms of (private reply arrival - 200 arrival), first_call_p50_ms/p99_ms,
/// lag_s (last private reply - last 200) and answered_per_s (private replies / (time from
/// the first 200 to the last private reply)), and cpu_LABEL_us_per_comment: the CPU time of
/// each --pid process tree from the first delivery to the last reply, per answered comment
/// (the capacity the engine needs, whatever else the machine was doing). --warmup sends one comment
/// per account and waits for their replies without printing figures (spawns the actors).
///
/// events: one non-matching comment per account, as fast as --connections allow, to make
/// every account's actor alive. Prints sent, answered and seconds.
///
/// The times of the 200s (this process) and of the simulator's call log are both the system
/// clock of the same machine.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "process_cpu.hpp"
#include "storage/engine_store.hpp"
#include "storage/pool.hpp"

namespace {

using steady = std::chrono::steady_clock;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- a minimal blocking HTTP/1.1 keep-alive client -------------------------------------------
struct http_conn {
  int port = 0;
  int fd = -1;
  std::string in;

  explicit http_conn(int p) : port(p) {}
  ~http_conn() {
    if (fd >= 0) ::close(fd);
  }
  http_conn(const http_conn&) = delete;
  http_conn& operator=(const http_conn&) = delete;

  void open() {
    if (fd >= 0) ::close(fd);
    in.clear();
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  /// Sends `request` (complete bytes) and reads one answer; returns the status, body in `body`.
  int exchange(const std::string& request, std::string* body = nullptr) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd < 0) open();
      if (send_all(request) && read_answer(body)) return status_;
      ::close(fd);
      fd = -1;
    }
    return 0;
  }

 private:
  int status_ = 0;

  bool send_all(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool fill() {
    char buf[65536];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  bool read_answer(std::string* body) {
    std::size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return false;
    auto head = lower(in.substr(0, head_end));
    status_ = std::atoi(head.c_str() + head.find(' ') + 1);
    std::size_t start = head_end + 4;
    if (head.find("transfer-encoding: chunked") != std::string::npos) {
      std::string out;
      std::size_t pos = start;
      for (;;) {
        std::size_t eol;
        while ((eol = in.find("\r\n", pos)) == std::string::npos)
          if (!fill()) return false;
        auto size = std::strtoul(in.c_str() + pos, nullptr, 16);
        while (in.size() < eol + 2 + size + 2)
          if (!fill()) return false;
        out.append(in, eol + 2, size);
        pos = eol + 2 + size + 2;
        if (size == 0) break;
      }
      in.erase(0, pos);
      if (body) *body = std::move(out);
      return true;
    }
    std::size_t length = 0;
    if (auto at = head.find("content-length:"); at != std::string::npos)
      length = std::strtoul(head.c_str() + at + 15, nullptr, 10);
    while (in.size() < start + length)
      if (!fill()) return false;
    if (body) body->assign(in, start, length);
    in.erase(0, start + length);
    return true;
  }
};

std::string request_bytes(const std::string& method, const std::string& path,
                          const std::string& body, const std::string& extra_headers = "") {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
  if (!body.empty() || method == "POST")
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

// --- options ------------------------------------------------------------------------------------
struct options {
  std::string mode;
  std::string database_url, token_key, secret;
  int port = 0, sim_port = 0, connections = 32;
  std::uint64_t accounts = 1000, first_account = 17841500000000001ULL,
                first_comment = 0;  // 0: derived from the clock
  double rate = 1000, duration = 5, drain = 5;
  bool warmup = false;
  std::vector<std::pair<std::string, int>> pids;  ///< --pid LABEL=PID: CPU per comment
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "komentra-bench-e2e: %s (see the comment at the top of bench/e2e_load.cpp)\n", why);
  std::exit(2);
}

options parse(int argc, char** argv) {
  if (argc < 2) usage("a mode is required: seed, run or events");
  options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--database-url")
      o.database_url = next();
    else if (a == "--token-key")
      o.token_key = next();
    else if (a == "--secret")
      o.secret = next();
    else if (a == "--port")
      o.port = std::stoi(next());
    else if (a == "--sim-port")
      o.sim_port = std::stoi(next());
    else if (a == "--connections")
      o.connections = std::stoi(next());
    else if (a == "--accounts")
      o.accounts = std::stoull(next());
    else if (a == "--first-account")
      o.first_account = std::stoull(next());
    else if (a == "--first-comment")
      o.first_comment = std::stoull(next());
    else if (a == "--rate")
      o.rate = std::stod(next());
    else if (a == "--duration")
      o.duration = std::stod(next());
    else if (a == "--drain")
      o.drain = std::stod(next());
    else if (a == "--warmup")
      o.warmup = true;
    else if (a == "--pid")
      o.pids.push_back(komentra::bench::parse_pid_option(next()));
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.first_comment == 0)
    o.first_comment = 18200000000000000ULL + static_cast<std::uint64_t>(now_us() % 1000000000000);
  return o;
}

std::string user_of(std::uint64_t account) {
  return std::to_string(account + 100000000000000ULL);
}
std::string media_of(std::uint64_t account) {
  return std::to_string(account + 200000000000000ULL);
}

// --- seed ---------------------------------------------------------------------------------------
int seed(const options& o) {
  if (o.database_url.empty() || o.token_key.empty())
    usage("seed needs --database-url and --token-key");
  if (!komentra::storage::token_key(o.token_key)) usage("--token-key is not 64 hex digits");
  auto t0 = steady::now();
  auto conn = komentra::storage::connect(o.database_url);
  pqxx::work tx(*conn);
  auto ws =
      tx.exec1("INSERT INTO workspaces (name) VALUES ('bench') RETURNING id")[0].as<std::int64_t>();
  const std::size_t batch = 2000;
  for (std::uint64_t i = 0; i < o.accounts; i += batch) {
    std::string sql =
        "INSERT INTO ig_accounts (id, workspace_id, username, account_type, token_ciphertext,"
        " token_key_id, token_expires_at) SELECT v.id, " +
        std::to_string(ws) +
        ", 'bench_' || v.id, 'Business', decode(v.t, 'hex'), v.k, now() + interval '60 days'"
        " FROM (VALUES ";
    for (std::uint64_t j = i; j < std::min<std::uint64_t>(o.accounts, i + batch); ++j) {
      auto id = std::to_string(o.first_account + j);
      auto sealed = komentra::storage::seal_token(o.token_key, "bench-token-" + id, id);
      if (j != i) sql += ',';
      sql += "('" + id + "','" + sealed.ciphertext_hex + "','" + sealed.key_id + "')";
    }
    sql += ") AS v(id, t, k)";
    tx.exec0(sql);
  }
  tx.exec0(
      "INSERT INTO automations (account_id, name, trigger, media_scope, match_type, keywords,"
      " public_replies, dm_text) SELECT id, 'bench', 'comment', 'any', 'whole_word',"
      " ARRAY['link', 'price', 'preço', 'цена', '价格'], ARRAY['Sent you a DM!'],"
      " 'Here is your link' FROM ig_accounts WHERE workspace_id = " +
      std::to_string(ws));
  tx.commit();
  double db_s = std::chrono::duration<double>(steady::now() - t0).count();
  std::fprintf(stderr, "seeded %llu accounts in the database in %.1f s\n",
               static_cast<unsigned long long>(o.accounts), db_s);
  if (o.sim_port) {
    http_conn c(o.sim_port);
    for (std::uint64_t j = 0; j < o.accounts; ++j) {
      auto id = std::to_string(o.first_account + j);
      std::string ans;
      int s1 = c.exchange(request_bytes("POST", "/_sim/accounts",
                                        R"({"id":")" + id + R"(","username":"bench_)" + id +
                                            R"(","access_token":"bench-token-)" + id + R"("})"),
                          &ans);
      int s2 = c.exchange(
          request_bytes("POST", "/_sim/users",
                        R"({"account_id":")" + id + R"(","id":")" + user_of(o.first_account + j) +
                            R"(","username":"fan_)" + id + R"("})"),
          &ans);
      int s3 = c.exchange(request_bytes("POST", "/_sim/media",
                                        R"({"account_id":")" + id + R"(","id":")" +
                                            media_of(o.first_account + j) + R"("})"),
                          &ans);
      if (s1 / 100 != 2 || s2 / 100 != 2 || s3 / 100 != 2) {
        std::fprintf(stderr, "sim seeding failed for %s: %d %d %d %s\n", id.c_str(), s1, s2, s3,
                     ans.c_str());
        return 1;
      }
    }
    std::fprintf(stderr, "seeded %llu accounts in the simulator in %.1f s\n",
                 static_cast<unsigned long long>(o.accounts),
                 std::chrono::duration<double>(steady::now() - t0).count() - db_s);
  }
  return 0;
}

// --- deliveries ---------------------------------------------------------------------------------
struct comment_msg {
  std::uint64_t comment_id;
  std::string request;  // complete, signed
};

std::string comment_body(std::uint64_t account, std::uint64_t comment, const std::string& text) {
  auto id = std::to_string(account);
  return R"({"object":"instagram","entry":[{"id":")" + id + R"(","time":)" +
         std::to_string(now_us() / 1000000) + R"(,"changes":[{"value":{"from":{"id":")" +
         user_of(account) + R"(","username":"fan_)" + id + R"("},"media":{"id":")" +
         media_of(account) + R"(","media_product_type":"FEED"},"id":")" + std::to_string(comment) +
         R"(","text":")" + text + R"("},"field":"comments"}]}]})";
}

std::string signed_request(const options& o, const std::string& body) {
  auto sig = komentra::crypto::to_hex(komentra::crypto::hmac_sha256(o.secret, body));
  return request_bytes("POST", "/webhooks/instagram", body,
                       "X-Hub-Signature-256: sha256=" + sig + "\r\n");
}

const char* const matching_texts[] = {"Send me the link please \\ud83d\\ude4f",
                                      "pre\\u00e7o? \\ud83d\\udd25",
                                      "\\u0446\\u0435\\u043d\\u0430 link?",
                                      "\\u4ef7\\u683c\\u591a\\u5c11",
                                      "LINK!!",
                                      "Je veux le link, merci \\u00e0 vous"};

/// Sends `msgs` open-loop at `rate`/s over `connections` threads; the 200 times (µs since the
/// epoch) are written to `answered_at` (index of msgs; 0 when not 200).
void send_open_loop(const options& o, const std::vector<comment_msg>& msgs, double rate,
                    std::vector<std::int64_t>& answered_at, double& elapsed_s) {
  answered_at.assign(msgs.size(), 0);
  int k = std::max(1, std::min<int>(o.connections, static_cast<int>(msgs.size())));
  auto start = steady::now() + std::chrono::milliseconds(50);
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  for (int t = 0; t < k; ++t) {
    threads.emplace_back([&, t] {
      http_conn c(o.port);
      try {
        c.open();
      } catch (const std::exception&) {
        failed = true;
        return;
      }
      for (std::size_t i = static_cast<std::size_t>(t); i < msgs.size(); i += k) {
        auto due = start + std::chrono::nanoseconds(
                               static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / rate));
        std::this_thread::sleep_until(due);
        int status = c.exchange(msgs[i].request);
        if (status == 200) answered_at[i] = now_us();
      }
    });
  }
  for (auto& th : threads) th.join();
  elapsed_s = std::chrono::duration<double>(steady::now() - start).count();
  if (failed) throw std::runtime_error("cannot connect to komentra");
}

struct sim_call {
  std::int64_t at_us = 0;
  std::uint64_t comment = 0;
  bool private_reply = false;
};

/// Reads the simulator's call log from `since`; returns the calls that name a comment.
std::vector<sim_call> read_calls(http_conn& sim, std::uint64_t& since) {
  std::vector<sim_call> out;
  std::string text;
  if (sim.exchange(request_bytes("GET", "/_sim/calls?since=" + std::to_string(since), ""), &text) !=
      200)
    throw std::runtime_error("GET /_sim/calls failed");
  simdjson::dom::parser parser;
  auto doc = parser.parse(text);
  for (auto item : doc["calls"].get_array()) {
    std::uint64_t seq = static_cast<std::uint64_t>(item["seq"].get_int64().value());
    since = std::max(since, seq);
    sim_call c;
    c.at_us = item["at_us"].get_int64().value();
    std::string_view path = item["path"].get_string().value();
    std::string_view body = item["body"].get_string().value();
    if (path.size() > 9 && path.substr(path.size() - 9) == "/messages") {
      auto at = body.find("\"comment_id\":\"");
      if (at == std::string_view::npos) continue;
      c.comment = std::strtoull(body.data() + at + 14, nullptr, 10);
      c.private_reply = true;
    } else if (auto r = path.find("/replies"); r != std::string_view::npos) {
      auto slash = path.rfind('/', r - 1);
      c.comment =
          std::strtoull(std::string(path.substr(slash + 1, r - slash - 1)).c_str(), nullptr, 10);
    } else {
      continue;
    }
    out.push_back(c);
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

int run(const options& o) {
  if (!o.port || !o.sim_port || o.secret.empty())
    usage("run needs --port, --sim-port and --secret");
  std::size_t n = o.warmup ? o.accounts : static_cast<std::size_t>(o.rate * o.duration + 0.5);
  double rate = o.warmup ? std::max(o.rate, 1.0) : o.rate;
  std::vector<comment_msg> msgs;
  msgs.reserve(n);
  // The comments, created in the simulator first (without a delivery), then signed.
  {
    auto t0 = steady::now();
    int k = 4;
    std::vector<std::thread> threads;
    std::vector<std::vector<comment_msg>> parts(k);
    std::atomic<bool> bad{false};
    for (int t = 0; t < k; ++t)
      threads.emplace_back([&, t] {
        http_conn sim(o.sim_port);
        for (std::size_t i = static_cast<std::size_t>(t); i < n; i += k) {
          auto account = o.first_account + i % o.accounts;
          auto comment = o.first_comment + i;
          std::string text = matching_texts[i % std::size(matching_texts)];
          int s = sim.exchange(request_bytes("POST", "/_sim/comments",
                                             R"({"media_id":")" + media_of(account) +
                                                 R"(","user_id":")" + user_of(account) +
                                                 R"(","id":")" + std::to_string(comment) +
                                                 R"(","text":")" + text + R"(","deliver":false})"));
          if (s / 100 != 2) bad = true;
          parts[t].push_back({comment, signed_request(o, comment_body(account, comment, text))});
        }
      });
    for (auto& th : threads) th.join();
    if (bad) std::fprintf(stderr, "some comments were not created in the simulator\n");
    for (std::size_t i = 0; i < n; ++i) msgs.push_back(std::move(parts[i % k][i / k]));
    std::fprintf(stderr, "prepared %zu comments in %.1f s\n", n,
                 std::chrono::duration<double>(steady::now() - t0).count());
  }
  http_conn sim(o.sim_port);
  std::uint64_t since = 0;
  read_calls(sim, since);  // start after the calls already logged
  std::vector<std::int64_t> answered_at;
  double elapsed = 0;
  std::vector<int> roots;
  for (auto& [label, pid] : o.pids) roots.push_back(pid);
  auto cpu_before = komentra::bench::tree_cpu_us(roots);
  send_open_loop(o, msgs, rate, answered_at, elapsed);
  std::int64_t last_200 = 0, first_200 = INT64_MAX;
  std::size_t answered = 0;
  std::unordered_map<std::uint64_t, std::int64_t> t200;
  for (std::size_t i = 0; i < msgs.size(); ++i)
    if (answered_at[i]) {
      ++answered;
      t200[msgs[i].comment_id] = answered_at[i];
      last_200 = std::max(last_200, answered_at[i]);
      first_200 = std::min(first_200, answered_at[i]);
    }
  // The replies: poll the call log until every answered comment has its private reply, or
  // --drain seconds pass without news.
  std::unordered_map<std::uint64_t, std::int64_t> private_at, first_at;
  auto quiet_since = steady::now();
  while (private_at.size() < answered) {
    auto calls = read_calls(sim, since);
    for (auto& c : calls) {
      if (!t200.count(c.comment)) continue;
      auto& f = first_at[c.comment];
      if (!f || c.at_us < f) f = c.at_us;
      if (c.private_reply && !private_at.count(c.comment)) private_at[c.comment] = c.at_us;
    }
    if (!calls.empty()) quiet_since = steady::now();
    if (steady::now() - quiet_since > std::chrono::duration<double>(o.drain)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto cpu_after = komentra::bench::tree_cpu_us(roots);  // the drain ends when the replies do
  if (o.warmup) {
    std::printf("warmup_answered=%zu\nwarmup_private_replies=%zu\n", answered, private_at.size());
    return 0;
  }
  std::vector<double> lat, first_lat;
  std::int64_t last_reply = 0;
  for (auto& [id, at] : private_at) {
    lat.push_back(static_cast<double>(at - t200[id]) / 1000.0);
    last_reply = std::max(last_reply, at);
  }
  for (auto& [id, at] : first_at) first_lat.push_back(static_cast<double>(at - t200[id]) / 1000.0);
  std::printf("target_rate=%.0f\n", o.rate);
  std::printf("offered_per_s=%.1f\n", static_cast<double>(msgs.size()) / elapsed);
  std::printf("sent=%zu\nanswered=%zu\nprivate_replies=%zu\n", msgs.size(), answered,
              private_at.size());
  std::printf("p50_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\n", percentile(lat, 0.5),
              percentile(lat, 0.99), percentile(lat, 1.0));
  std::printf("first_call_p50_ms=%.2f\nfirst_call_p99_ms=%.2f\n", percentile(first_lat, 0.5),
              percentile(first_lat, 0.99));
  if (!private_at.empty() && answered) {
    std::printf("lag_s=%.2f\n", static_cast<double>(last_reply - last_200) / 1e6);
    std::printf("answered_per_s=%.1f\n", static_cast<double>(private_at.size()) /
                                             (static_cast<double>(last_reply - first_200) / 1e6));
  }
  for (std::size_t k = 0; k < o.pids.size() && answered; ++k)
    std::printf("cpu_%s_us_per_comment=%.1f\n", o.pids[k].first.c_str(),
                (cpu_after[k] - cpu_before[k]) / static_cast<double>(answered));
  return 0;
}

int events(const options& o) {
  if (!o.port || o.secret.empty()) usage("events needs --port and --secret");
  std::vector<comment_msg> msgs;
  msgs.reserve(o.accounts);
  for (std::uint64_t i = 0; i < o.accounts; ++i)
    msgs.push_back({o.first_comment + i,
                    signed_request(o, comment_body(o.first_account + i, o.first_comment + i,
                                                   "love this \\ud83d\\ude0d"))});
  std::vector<std::int64_t> answered_at;
  double elapsed = 0;
  send_open_loop(o, msgs, 1e9, answered_at, elapsed);  // closed loop per connection
  std::size_t answered = 0;
  for (auto t : answered_at) answered += t != 0;
  std::printf("sent=%zu\nanswered=%zu\nseconds=%.2f\n", msgs.size(), answered, elapsed);
  return answered == msgs.size() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  try {
    if (o.mode == "seed") return seed(o);
    if (o.mode == "run") return run(o);
    if (o.mode == "events") return events(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "komentra-bench-e2e: %s\n", e.what());
    return 1;
  }
  usage(("unknown mode " + o.mode).c_str());
}
