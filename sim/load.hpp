#pragma once
/// komentra-sim's load mode: an open-loop stream of signed `comments` webhook deliveries
/// at a fixed rate (each POST is sent on schedule whether or not earlier ones were
/// answered), with a multilingual mix of comment texts, a share of which contain one of the
/// given keywords. Reports what was sent and what the target answered. Blocking; runs on
/// the calling thread plus the http::client's threads.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace komentra::sim {

struct load_options {
  double rate = 100;  ///< deliveries per second
  int accounts = 10;
  double duration_s = 10;
  std::string target;  ///< the engine's webhook URL
  std::string app_secret = "test_app_secret";
  double match_share = 0.2;
  std::vector<std::string> keywords = {"link"};
  int timeout_ms = 10000;
  int client_threads = 2;
  std::uint64_t seed = 1;
};

struct load_report {
  std::uint64_t sent = 0;
  std::uint64_t matching = 0;              ///< deliveries whose comment contains a keyword
  std::map<int, std::uint64_t> by_status;  ///< 0 = transport error
  std::map<std::string, std::uint64_t> errors;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double elapsed_s = 0;
  double achieved_rate = 0;
};

/// One comment text of the mix: Latin with accents, emoji, Cyrillic, CJK, Arabic.
std::string load_comment_text(std::uint64_t n, bool match,
                              const std::vector<std::string>& keywords);

load_report run_load(const load_options& opts);

/// The report as human-readable text.
std::string format_report(const load_report& r);

}  // namespace komentra::sim
