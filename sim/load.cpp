#include "sim/load.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "http/client.hpp"
#include "sim/meta_json.hpp"
#include "sim/webhook_sender.hpp"

namespace komentra::sim {

namespace {

const char* const plain_texts[] = {
    "Quel est le pr\xC3\xA9"
    "fixe de la r\xC3\xA9"
    "f\xC3\xA9rence ? tr\xC3\xA8s joli",
    "\xC2\xBF"
    "Cu\xC3\xA1nto cuesta? me encanta \xF0\x9F\x98\x8D",
    "pre\xC3\xA7o por favor \xF0\x9F\x94\xA5",
    "Sch\xC3\xB6nes Video, gr\xC3\xBC\xC3\x9F"
    "e aus M\xC3\xBCnchen",
    "\xD0\x9A\xD0\xB0\xD0\xBA\xD0\xB0\xD1\x8F \xD1\x86\xD0\xB5\xD0\xBD\xD0\xB0? "
    "\xD0\xBE\xD1\x87\xD0\xB5\xD0\xBD\xD1\x8C "
    "\xD0\xBA\xD1\x80\xD0\xB0\xD1\x81\xD0\xB8\xD0\xB2\xD0\xBE",
    "\xE3\x81\x93\xE3\x82\x8C\xE3\x81\xAF\xE3\x81\x84\xE3\x81\x8F\xE3\x82\x89\xE3\x81\xA7\xE3\x81"
    "\x99\xE3\x81\x8B\xEF\xBC\x9F",
    "\xE8\xBF\x99\xE4\xB8\xAA\xE5\xA4\x9A\xE5\xB0\x91\xE9\x92\xB1\xEF\xBC\x9F \xF0\x9F\x91\x8D",
    "\xD9\x83\xD9\x85 \xD8\xA7\xD9\x84\xD8\xB3\xD8\xB9\xD8\xB1\xD8\x9F "
    "\xD8\xB1\xD8\xA7\xD8\xA6\xD8\xB9 \xE2\x9D\xA4\xEF\xB8\x8F",
    "love this \xF0\x9F\x98\x82\xF0\x9F\x98\x82 so good",
    "na\xC3\xAFve caf\xC3\xA9 vibes \xE2\x98\x95\xEF\xB8\x8F",
};

const char* const match_frames[] = {
    "%s please \xF0\x9F\x99\x8F",
    "Je veux le %s, merci \xC3\xA0 vous",
    "\xD0\xBF\xD1\x80\xD0\xB8\xD1\x88\xD0\xBB\xD0\xB8\xD1\x82\xD0\xB5 %s",
    "%s \xE3\x81\x8F\xE3\x81\xA0\xE3\x81\x95\xE3\x81\x84",
    "\xD8\xA3\xD8\xB1\xD9\x8A\xD8\xAF %s \xD9\x85\xD9\x86 \xD9\x81\xD8\xB6\xD9\x84\xD9\x83",
    "\xF0\x9F\x94\xA5\xF0\x9F\x94\xA5 %s \xF0\x9F\x94\xA5\xF0\x9F\x94\xA5",
};

}  // namespace

std::string load_comment_text(std::uint64_t n, bool match,
                              const std::vector<std::string>& keywords) {
  if (!match || keywords.empty()) return plain_texts[n % std::size(plain_texts)];
  std::string frame = match_frames[n % std::size(match_frames)];
  const auto& kw = keywords[(n / std::size(match_frames)) % keywords.size()];
  auto pos = frame.find("%s");
  return frame.replace(pos, 2, kw);
}

load_report run_load(const load_options& opts) {
  using clock = std::chrono::steady_clock;
  http::client_options co;
  co.threads = std::max(1, opts.client_threads);
  co.max_idle_per_host = 256;
  co.user_agent = "facebookexternalua";
  http::client cl(co);
  std::mt19937_64 rng(opts.seed);
  std::uniform_real_distribution<double> u(0, 1);

  std::mutex m;
  std::condition_variable cv;
  load_report rep;
  std::vector<double> latencies;
  std::uint64_t outstanding = 0;

  auto total = static_cast<std::uint64_t>(opts.rate * opts.duration_s);
  auto interval = std::chrono::duration<double>(1.0 / std::max(opts.rate, 0.001));
  auto start = clock::now();
  for (std::uint64_t i = 0; i < total; ++i) {
    auto due =
        start + std::chrono::duration_cast<clock::duration>(interval * static_cast<double>(i));
    std::this_thread::sleep_until(due);
    bool match = u(rng) < opts.match_share;
    auto account = std::to_string(17841400000000001ULL +
                                  i % static_cast<std::uint64_t>(std::max(1, opts.accounts)));
    auto comment_id = std::to_string(17900000000000000ULL + i);
    auto user_id = std::to_string(1000000000000000ULL + (i * 7919) % 100000);
    meta_writer w;
    w.begin_object().key("value").begin_object();
    w.key("from")
        .begin_object()
        .field("id", user_id)
        .field("username", "load.user" + user_id.substr(11))
        .end_object();
    w.key("media")
        .begin_object()
        .field("id", std::to_string(18000000000000000ULL + i % 50))
        .field("media_product_type", "REELS")
        .end_object();
    w.field("id", comment_id).field("text", load_comment_text(i, match, opts.keywords));
    w.end_object().field("field", "comments").end_object();
    auto body = webhook_sender::envelope({webhook_event{account, false, w.take()}},
                                         std::chrono::system_clock::now());
    http::client_request req;
    req.method = "POST";
    req.url = opts.target;
    req.timeout = std::chrono::milliseconds(opts.timeout_ms);
    req.headers = {{"Content-Type", "application/json"},
                   {"X-Hub-Signature-256", webhook_sender::signature(opts.app_secret, body)}};
    req.body = std::move(body);
    {
      std::lock_guard<std::mutex> lock(m);
      ++rep.sent;
      if (match) ++rep.matching;
      ++outstanding;
    }
    cl.send(std::move(req), [&](http::client_response res) {
      std::lock_guard<std::mutex> lock(m);
      ++rep.by_status[res.ok() ? res.status : 0];
      if (!res.ok())
        ++rep.errors[res.error];
      else
        latencies.push_back(static_cast<double>(res.elapsed.count()) / 1000.0);
      if (--outstanding == 0) cv.notify_all();
    });
  }
  auto sending_done = clock::now();
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::milliseconds(opts.timeout_ms + 1000),
                [&] { return outstanding == 0; });
  }
  cl.stop();
  std::lock_guard<std::mutex> lock(m);
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    auto idx = static_cast<std::size_t>(p * static_cast<double>(latencies.size() - 1) + 0.5);
    return latencies[std::min(idx, latencies.size() - 1)];
  };
  rep.p50_ms = pct(0.50);
  rep.p99_ms = pct(0.99);
  rep.max_ms = latencies.empty() ? 0 : latencies.back();
  rep.elapsed_s = std::chrono::duration<double>(sending_done - start).count();
  rep.achieved_rate = rep.elapsed_s > 0 ? static_cast<double>(rep.sent) / rep.elapsed_s : 0;
  return rep;
}

std::string format_report(const load_report& r) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(2);
  o << "sent:      " << r.sent << " (" << r.matching << " matching a keyword) in " << r.elapsed_s
    << " s = " << r.achieved_rate << "/s\n";
  o << "answered:";
  for (auto& [status, n] : r.by_status)
    o << "  " << (status ? std::to_string(status) : "error") << ": " << n;
  o << "\n";
  for (auto& [e, n] : r.errors) o << "  error " << n << "x: " << e << "\n";
  o << "latency:   p50 " << r.p50_ms << " ms, p99 " << r.p99_ms << " ms, max " << r.max_ms
    << " ms\n";
  return o.str();
}

}  // namespace komentra::sim
