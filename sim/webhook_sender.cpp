#include "sim/webhook_sender.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/crypto.hpp"
#include "sim/meta_json.hpp"

namespace komentra::sim {

namespace {

std::string hmac_sha1_hex(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return crypto::to_hex(std::string(reinterpret_cast<char*>(out), len));
}

}  // namespace

webhook_sender::webhook_sender(sender_settings s, clock_fn now, schedule_fn schedule,
                               std::uint64_t seed)
    : s_(std::move(s)), now_(std::move(now)), schedule_(std::move(schedule)), rng_(seed) {
  http::client_options o;
  o.user_agent = "facebookexternalua";
  client_ = std::make_unique<http::client>(o);
}

webhook_sender::~webhook_sender() {
  stop();
}

void webhook_sender::stop() {
  {
    std::lock_guard<std::mutex> lock(mtx_);
    abandon_pending();
  }
  if (client_) client_->stop();
}

// Callbacks and timers of an older generation do nothing: nothing is delivered or retried.
void webhook_sender::abandon_pending() {
  ++generation_;
  queue_.clear();
  flush_scheduled_ = false;
  in_flight_ = 0;
}

std::string webhook_sender::signature(const std::string& secret, const std::string& body) {
  return "sha256=" + crypto::to_hex(crypto::hmac_sha256(secret, body));
}

std::string webhook_sender::envelope(const std::vector<webhook_event>& events,
                                     std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  auto secs = duration_cast<seconds>(now.time_since_epoch()).count();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  std::string out = R"({"object":"instagram","entry":[)";
  for (std::size_t i = 0; i < events.size();) {
    // Consecutive events of one account and kind share an entry.
    std::size_t j = i + 1;
    while (j < events.size() && events[j].account_id == events[i].account_id &&
           events[j].messaging == events[i].messaging)
      ++j;
    if (i > 0) out += ',';
    out += R"({"id":)" + meta_quote(events[i].account_id) + R"(,"time":)" +
           std::to_string(events[i].messaging ? ms : secs) +
           (events[i].messaging ? R"(,"messaging":[)" : R"(,"changes":[)");
    for (std::size_t k = i; k < j; ++k) {
      if (k > i) out += ',';
      out += events[k].item_json;
    }
    out += "]}";
    i = j;
  }
  out += "]}";
  return out;
}

void webhook_sender::enqueue(webhook_event ev) {
  std::lock_guard<std::mutex> lock(mtx_);
  queue_.push_back(std::move(ev));
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  auto gen = generation_;
  schedule_(std::chrono::milliseconds(s_.batch_window_ms), [this, gen] {
    {
      std::lock_guard<std::mutex> lock(mtx_);
      if (gen != generation_) return;
    }
    flush();
  });
}

void webhook_sender::flush() {
  std::vector<webhook_event> batch;
  std::uint64_t id;
  std::string body;
  int entries;
  {
    std::lock_guard<std::mutex> lock(mtx_);
    flush_scheduled_ = false;
    if (queue_.empty()) return;
    auto n =
        std::min<std::size_t>(queue_.size(), static_cast<std::size_t>(std::max(1, s_.batch_max)));
    batch.assign(std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    id = next_id_++;
    body = envelope(batch, now_());
    entries = static_cast<int>(batch.size());
    ++in_flight_;
    if (!queue_.empty()) {
      flush_scheduled_ = true;
      auto gen = generation_;
      schedule_(std::chrono::milliseconds(0), [this, gen] {
        {
          std::lock_guard<std::mutex> lock(mtx_);
          if (gen != generation_) return;
        }
        flush();
      });
    }
  }
  deliver(id, std::move(body), entries, 1, false);
}

void webhook_sender::deliver(std::uint64_t id, std::string body, int entries, int attempt,
                             bool duplicate) {
  sender_settings s;
  std::uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mtx_);
    s = s_;
    gen = generation_;
  }
  auto sig = signature(s.app_secret, body);
  auto record = [this, id, entries, attempt, duplicate, gen, sig, url = s.url](
                    const std::string& body, int status, std::string error, std::int64_t us) {
    std::lock_guard<std::mutex> lock(mtx_);
    if (gen != generation_) return false;
    delivery_record r;
    r.seq = next_seq_++;
    r.delivery_id = id;
    r.attempt = attempt;
    r.duplicate = duplicate;
    r.at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now_().time_since_epoch()).count();
    r.url = url;
    r.body = body;
    r.signature = sig;
    r.status = status;
    r.error = std::move(error);
    r.latency_us = us;
    r.entries = entries;
    log_.push_back(std::move(r));
    return true;
  };
  if (s.url.empty()) {
    record(body, 0, "no webhook URL configured", 0);
    std::lock_guard<std::mutex> lock(mtx_);
    if (gen == generation_ && in_flight_ > 0) --in_flight_;
    return;
  }
  http::client_request req;
  req.method = "POST";
  req.url = s.url;
  req.body = body;
  req.timeout = std::chrono::milliseconds(s.timeout_ms);
  req.headers = {{"Content-Type", "application/json"}, {"X-Hub-Signature-256", sig}};
  if (s.sha1_header)
    req.headers.emplace_back("X-Hub-Signature", "sha1=" + hmac_sha1_hex(s.app_secret, body));
  client_->send(std::move(req), [this, id, body, entries, attempt, duplicate, gen, s,
                                 record](http::client_response res) {
    bool ok = res.ok() && res.status >= 200 && res.status < 300;
    if (!record(body, res.status, res.error, res.elapsed.count())) return;
    bool retry = !ok && attempt < s.max_attempts;
    bool dup = false;
    {
      std::lock_guard<std::mutex> lock(mtx_);
      if (gen != generation_) return;
      if (ok && !duplicate && attempt == 1 && s.duplicate_rate > 0) {
        std::uniform_real_distribution<double> d(0.0, 1.0);
        dup = d(rng_) < s.duplicate_rate;
      }
      if (!retry) --in_flight_;
      if (dup) ++in_flight_;
    }
    if (retry) {
      auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(s.retry_base_ms)
                                             << std::min(attempt - 1, 20));
      schedule_(delay, [this, id, body, entries, attempt, duplicate, gen] {
        {
          std::lock_guard<std::mutex> lock(mtx_);
          if (gen != generation_) return;
        }
        deliver(id, body, entries, attempt + 1, duplicate);
      });
    }
    if (dup)
      schedule_(std::chrono::milliseconds(30), [this, id, body, entries, gen] {
        {
          std::lock_guard<std::mutex> lock(mtx_);
          if (gen != generation_) return;
        }
        deliver(id, body, entries, 1, true);
      });
  });
}

sender_settings webhook_sender::settings() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return s_;
}

void webhook_sender::update(const std::function<void(sender_settings&)>& change) {
  std::lock_guard<std::mutex> lock(mtx_);
  change(s_);
}

std::vector<delivery_record> webhook_sender::log(std::uint64_t since_seq) const {
  std::lock_guard<std::mutex> lock(mtx_);
  std::vector<delivery_record> out;
  for (auto& r : log_)
    if (r.seq > since_seq) out.push_back(r);
  return out;
}

std::size_t webhook_sender::pending() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return queue_.size() + in_flight_;
}

void webhook_sender::reset() {
  std::lock_guard<std::mutex> lock(mtx_);
  abandon_pending();
  log_.clear();
  next_seq_ = 1;
}

}  // namespace komentra::sim
