#include "sim/simulator.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "http/server.hpp"
#include "sim/meta_json.hpp"
#include "sim/webhook_sender.hpp"

namespace komentra::sim {

namespace {

using sys_clock = std::chrono::system_clock;
using time_point = sys_clock::time_point;
using namespace std::chrono_literals;

constexpr auto long_lived = std::chrono::seconds(5184000);  // 60 days
constexpr auto short_lived = std::chrono::seconds(3600);

std::int64_t epoch_s(time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
std::int64_t epoch_ms(time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

/// "2024-06-10T06:13:20+0000", as Graph writes timestamps.
std::string iso_time(time_point t) {
  std::time_t s = sys_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+0000", &tm);
  return buf;
}

/// "Tuesday, 01-Dec-26 06:00:00 PST", as in Meta's expired-session message.
std::string pst_time(time_point t) {
  std::time_t s = sys_clock::to_time_t(t - 8h);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%A, %d-%b-%y %H:%M:%S PST", &tm);
  return buf;
}

/// A JSON document parsed with simdjson's DOM API, with forgiving accessors.
class json_doc {
 public:
  bool parse(const std::string& text) {
    if (text.empty()) return false;
    return !parser_.parse(text.data(), text.size(), true).get(root_);
  }
  simdjson::dom::element root() const { return root_; }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

std::optional<simdjson::dom::element> member(simdjson::dom::element e, std::string_view key) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return std::nullopt;
  simdjson::dom::element v;
  if (o.at_key(key).get(v)) return std::nullopt;
  return v;
}

std::optional<std::string> str_of(simdjson::dom::element e, std::string_view key) {
  auto v = member(e, key);
  if (!v) return std::nullopt;
  std::string_view s;
  if (!v->get_string().get(s)) return std::string(s);
  std::int64_t i;
  if (!v->get_int64().get(i)) return std::to_string(i);
  std::uint64_t u;
  if (!v->get_uint64().get(u)) return std::to_string(u);
  return std::nullopt;
}

std::optional<std::int64_t> int_of(simdjson::dom::element e, std::string_view key) {
  auto v = member(e, key);
  if (!v) return std::nullopt;
  std::int64_t i;
  if (!v->get_int64().get(i)) return i;
  double d;
  if (!v->get_double().get(d)) return static_cast<std::int64_t>(d);
  std::string_view s;
  if (!v->get_string().get(s)) {
    try {
      return std::stoll(std::string(s));
    } catch (...) {
    }
  }
  return std::nullopt;
}

std::optional<double> num_of(simdjson::dom::element e, std::string_view key) {
  auto v = member(e, key);
  if (!v) return std::nullopt;
  double d;
  if (!v->get_double().get(d)) return d;
  std::int64_t i;
  if (!v->get_int64().get(i)) return static_cast<double>(i);
  return std::nullopt;
}

std::optional<bool> bool_of(simdjson::dom::element e, std::string_view key) {
  auto v = member(e, key);
  if (!v) return std::nullopt;
  bool b;
  if (!v->get_bool().get(b)) return b;
  std::string_view s;
  if (!v->get_string().get(s)) return s == "true" || s == "1";
  return std::nullopt;
}

std::size_t utf8_chars(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    auto part = s.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

/// Graph parameters: query string, form body and top-level JSON body fields (objects and
/// arrays kept as JSON text), later sources overriding earlier ones.
std::map<std::string, std::string> collect_params(const http::request& req) {
  std::map<std::string, std::string> out;
  auto add_pairs = [&](std::string_view text) {
    for (auto& pair : split(text, '&')) {
      auto eq = pair.find('=');
      auto k = http::percent_decode(pair.substr(0, eq));
      auto v = eq == std::string::npos ? std::optional<std::string>("")
                                       : http::percent_decode(pair.substr(eq + 1));
      if (k && v) out[*k] = *v;
    }
  };
  add_pairs(req.query);
  auto ct = req.header("content-type");
  if (ct.find("application/x-www-form-urlencoded") != std::string_view::npos) {
    add_pairs(req.body);
  } else if (!req.body.empty()) {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    simdjson::dom::object obj;
    if (!p.parse(req.body.data(), req.body.size(), true).get(doc) && !doc.get_object().get(obj)) {
      for (auto f : obj) {
        std::string_view s;
        if (!f.value.get_string().get(s))
          out[std::string(f.key)] = std::string(s);
        else
          out[std::string(f.key)] = simdjson::minify(f.value);
      }
    }
  }
  return out;
}

struct account_rec {
  std::string id, username, name, self_igsid, app_scoped_id;
  std::vector<std::string> subscribed_fields;
  std::vector<std::string> media_ids;
  std::deque<time_point> buc_calls, send_calls, private_replies, conversation_calls;
  std::int64_t followers = 1280;
};

struct user_rec {
  std::string id, account_id, username, name;
  bool follows_business = false, business_follows = false, consent = false, can_receive = true;
  std::optional<time_point> last_inbound;
};

struct media_rec {
  std::string id, account_id, caption, media_type = "VIDEO", product_type = "REELS";
  std::string ad_id, ad_title;
  time_point created;
  bool live = false;
  std::vector<std::string> comment_ids;  ///< top-level, oldest first
};

struct comment_rec {
  std::string id, media_id, account_id, from_id, from_username, text, parent_id;
  time_point created;
  bool hidden = false, deleted = false, from_self = false;
  std::string private_reply_mid;
  std::vector<std::string> reply_ids;
};

struct message_rec {
  std::uint64_t seq = 0;
  std::string mid, account_id, user_id, kind, text, comment_id, json;
  std::string listed_text;  ///< "message" in conversation listings (a template's text)
  bool outbound = false;
  time_point at;
};

struct token_rec {
  std::string token, account_id, kind;
  time_point issued, expires;
  bool invalidated = false;
};

struct code_rec {
  std::string account_id, redirect_uri;
  time_point issued;
  bool used = false;
};

struct call_rec {
  std::uint64_t seq = 0;
  time_point at;
  std::string method, path, query, body, account_id, fault;
  int status = 0;
  std::string response;
};

struct fault_rec {
  std::uint64_t id = 0;
  std::string kind;  ///< error, latency, http_status, drop, write_then_error
  std::string method, path_contains, account_id;
  int code = 2, subcode = 0, http_status = 0;
  std::string message;
  std::int64_t remaining = -1;  ///< calls left; -1 = unlimited
  double share = 1.0;           ///< share of matching calls affected
  int latency_ms = 0;
  std::uint64_t hits = 0;
};

struct graph_error {
  int http_status = 400;
  int code = 100;
  int subcode = 0;
  std::string message;
  std::string type = "OAuthException";
  bool transient = false;
  std::string user_title, user_msg;
};

/// Meta's wording for the codes the simulator produces or injects.
graph_error standard_error(int code, int subcode = 0) {
  graph_error e;
  e.code = code;
  e.subcode = subcode;
  switch (code) {
    case 1:
      e.message = "An unknown error has occurred.";
      e.http_status = 500;
      e.transient = true;
      break;
    case 2:
      e.message = "An unexpected error has occurred. Please retry your request later.";
      e.http_status = 500;
      e.transient = true;
      break;
    case 4:
      e.message = "(#4) Application request limit reached";
      e.transient = true;
      break;
    case 10:
      e.message = subcode == 2534025 ? "(#10) This comment has already been replied to privately."
                                     : "(#10) This message is sent outside of allowed window.";
      if (subcode == 2534022) {
        e.user_title = "Message Not Sent";
        e.user_msg =
            "This message was sent outside of the allowed window. Learn more about the messaging "
            "window.";
      }
      break;
    case 17:
      e.message = "(#17) User request limit reached";
      e.transient = true;
      break;
    case 32:
      e.message = "(#32) Page request limit reached";
      e.transient = true;
      break;
    case 100:
      e.message = subcode == 2018001 ? "(#100) No matching user found" : "(#100) Invalid parameter";
      if (subcode == 33) e.type = "GraphMethodException";
      break;
    case 190:
      e.message = subcode == 460
                      ? "Error validating access token: The session has been invalidated because "
                        "the user changed their password or Facebook has changed the session for "
                        "security reasons."
                  : subcode == 463 ? "Error validating access token: Session has expired."
                                   : "Invalid OAuth access token - Cannot parse access token";
      break;
    case 230:
      e.message = "(#230) User consent is required to access user profile";
      break;
    case 368:
      e.message = "(#368) The action attempted has been deemed abusive or is otherwise disallowed";
      break;
    case 551:
      e.message = "(#551) This person isn't available right now.";
      break;
    case 613:
      e.message = "(#613) Calls to this api have exceeded the rate limit.";
      e.transient = true;
      break;
    case 80002:
      e.message =
          "(#80002) There have been too many calls to this Instagram account. Wait a bit and try "
          "again. For more info, please refer to "
          "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.";
      e.transient = true;
      break;
    default:
      e.message = "(#" + std::to_string(code) + ") Simulated error";
  }
  return e;
}

graph_error invalid_param(std::string message) {
  graph_error e;
  e.message = "(#100) " + std::move(message);
  return e;
}

graph_error no_object(const std::string& id, const std::string& method) {
  graph_error e;
  e.code = 100;
  e.subcode = 33;
  e.type = "GraphMethodException";
  e.message = "Unsupported " + method + " request. Object with ID '" + id +
              "' does not exist, cannot be loaded due to missing permissions, or does not support "
              "this operation.";
  return e;
}

}  // namespace

struct simulator::impl : std::enable_shared_from_this<simulator::impl> {
  explicit impl(sim_options o) : opts(std::move(o)) {
    rng.seed(opts.seed ? opts.seed : std::random_device{}());
  }

  // ---- time, ids ---------------------------------------------------------------------------

  time_point now() const {
    return sys_clock::now() + std::chrono::microseconds(clock_offset_us.load());
  }

  std::string next_id(const char* prefix, int digits) {
    auto n = std::to_string(++id_counter);
    std::string out = prefix;
    out +=
        std::string(static_cast<std::size_t>(digits) - std::string(prefix).size() - n.size(), '0');
    return out + n;
  }

  std::string new_mid(const std::string& account_id) {
    return crypto::base64url_encode("ig_dm_item:1:IGMessageThread:" + account_id + ":" +
                                    std::to_string(++id_counter) + ":" +
                                    crypto::to_hex(crypto::random_bytes(6)));
  }

  std::string new_token() { return "IGAA" + crypto::base64url_encode(crypto::random_bytes(45)); }

  std::string fbtrace() { return crypto::base64url_encode(crypto::random_bytes(9)); }

  double random01() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  // ---- responses ----------------------------------------------------------------------------

  http::response error_response(const graph_error& e) {
    meta_writer w;
    w.begin_object().key("error").begin_object();
    w.field("message", e.message).field("type", e.type).field("code", e.code);
    if (e.subcode) w.field("error_subcode", e.subcode);
    w.field("is_transient", e.transient);
    if (!e.user_title.empty()) w.field("error_user_title", e.user_title);
    if (!e.user_msg.empty()) w.field("error_user_msg", e.user_msg);
    w.field("fbtrace_id", fbtrace());
    w.end_object().end_object();
    return http::response::json(e.http_status, w.take());
  }

  static http::response ok_json(std::string body) {
    return http::response::json(200, std::move(body));
  }

  static http::response success() { return ok_json(R"({"success":true})"); }

  static http::response control_error(int status, std::string message) {
    meta_writer w;
    w.begin_object().field("error", message).end_object();
    return http::response::json(status, w.take());
  }

  // ---- rate limits ---------------------------------------------------------------------------

  static void prune(std::deque<time_point>& q, time_point cutoff) {
    while (!q.empty() && q.front() <= cutoff) q.pop_front();
  }

  static int percent(std::size_t used, int limit) {
    if (limit <= 0) return 0;
    return static_cast<int>(
        std::min<std::size_t>(100, used * 100 / static_cast<std::size_t>(limit)));
  }

  /// The usage headers for an answer to a call of `acct`.
  void usage_headers(http::response& res, account_rec* acct, bool messaging) {
    auto t = now();
    prune(app_calls, t - 1h);
    int app_pct = percent(app_calls.size(), opts.app_calls_per_hour);
    meta_writer a;
    a.begin_object()
        .field("call_count", app_pct)
        .field("total_cputime", app_pct / 4)
        .field("total_time", app_pct / 3)
        .end_object();
    res.headers.emplace_back("X-App-Usage", a.take());
    if (!acct) return;
    prune(acct->buc_calls, t - 1h);
    prune(acct->send_calls, t - 1s);
    prune(acct->private_replies, t - 1h);
    int pct;
    std::int64_t regain = 0;
    if (messaging) {
      pct = std::max(percent(acct->send_calls.size(), opts.send_per_second),
                     percent(acct->private_replies.size(), opts.private_replies_per_hour));
      if (!acct->private_replies.empty() &&
          acct->private_replies.size() >= static_cast<std::size_t>(opts.private_replies_per_hour))
        regain =
            std::chrono::duration_cast<std::chrono::minutes>(acct->private_replies.front() + 1h - t)
                .count() +
            1;
    } else {
      pct = percent(acct->buc_calls.size(), opts.buc_calls_per_hour);
      if (pct >= 100 && !acct->buc_calls.empty())
        regain = std::chrono::duration_cast<std::chrono::minutes>(acct->buc_calls.front() + 1h - t)
                     .count() +
                 1;
    }
    meta_writer b;
    b.begin_object().key(acct->id).begin_array().begin_object();
    b.field("type", messaging ? "messenger" : "instagram")
        .field("call_count", pct)
        .field("total_cputime", pct / 4)
        .field("total_time", pct / 3)
        .field("estimated_time_to_regain_access", regain);
    b.end_object().end_array().end_object();
    res.headers.emplace_back("X-Business-Use-Case-Usage", b.take());
  }

  // ---- authentication -----------------------------------------------------------------------

  struct auth_result {
    account_rec* account = nullptr;
    token_rec* token = nullptr;
    std::optional<graph_error> error;
  };

  auth_result authenticate(const http::request& req,
                           const std::map<std::string, std::string>& params) {
    auth_result r;
    std::string token;
    if (auto it = params.find("access_token"); it != params.end()) token = it->second;
    auto authz = req.header("authorization");
    if (token.empty() && authz.size() > 7 &&
        (authz.substr(0, 7) == "Bearer " || authz.substr(0, 7) == "bearer "))
      token = std::string(authz.substr(7));
    if (token.empty()) {
      graph_error e;
      e.code = 2500;
      e.message =
          "An active access token must be used to query information about the current user.";
      r.error = e;
      return r;
    }
    auto it = tokens.find(token);
    if (it == tokens.end()) {
      r.error = standard_error(190);
      return r;
    }
    auto& t = it->second;
    if (t.invalidated) {
      r.error = standard_error(190, 460);
      return r;
    }
    if (now() >= t.expires) {
      auto e = standard_error(190, 463);
      e.message = "Error validating access token: Session has expired on " + pst_time(t.expires) +
                  ". The current time is " + pst_time(now()) + ".";
      r.error = e;
      return r;
    }
    r.token = &t;
    r.account = &accounts.at(t.account_id);
    return r;
  }

  // ---- webhook events ------------------------------------------------------------------------

  bool subscribed(const account_rec& a, const std::string& field) const {
    if (!opts.require_subscription) return true;
    return std::find(a.subscribed_fields.begin(), a.subscribed_fields.end(), field) !=
           a.subscribed_fields.end();
  }

  void emit(const account_rec& a, const std::string& field, bool messaging, std::string item) {
    if (!subscribed(a, field)) {
      skipped_events.push_back(field + " for " + a.id);
      return;
    }
    sender->enqueue(webhook_event{a.id, messaging, std::move(item)});
  }

  std::string comment_value(const comment_rec& c) {
    auto& m = media.at(c.media_id);
    meta_writer w;
    w.begin_object().key("value").begin_object();
    w.key("from").begin_object().field("id", c.from_id).field("username", c.from_username);
    if (c.from_self) w.field("self_ig_scoped_id", accounts.at(c.account_id).self_igsid);
    w.end_object();
    w.key("media").begin_object().field("id", m.id).field("media_product_type", m.product_type);
    if (!m.ad_id.empty()) w.field("ad_id", m.ad_id).field("ad_title", m.ad_title);
    w.end_object();
    w.field("id", c.id);
    if (!c.parent_id.empty()) w.field("parent_id", c.parent_id);
    w.field("text", c.text);
    w.end_object();
    w.field("field", m.live ? "live_comments" : "comments");
    w.end_object();
    return w.take();
  }

  /// A messaging item; `body` writes the event-specific members.
  std::string messaging_item(const std::string& sender_id, const std::string& recipient_id,
                             time_point at, const std::function<void(meta_writer&)>& body) {
    meta_writer w;
    w.begin_object();
    w.key("sender").begin_object().field("id", sender_id).end_object();
    w.key("recipient").begin_object().field("id", recipient_id).end_object();
    w.field("timestamp", epoch_ms(at));
    body(w);
    w.end_object();
    return w.take();
  }

  message_rec& record_message(std::string account_id, std::string user_id, bool outbound,
                              std::string kind, std::string text, std::string json,
                              std::string mid = {}) {
    message_rec m;
    m.seq = ++message_seq;
    m.mid = mid.empty() ? new_mid(account_id) : std::move(mid);
    m.account_id = std::move(account_id);
    m.user_id = std::move(user_id);
    m.outbound = outbound;
    m.kind = std::move(kind);
    m.text = std::move(text);
    m.json = std::move(json);
    m.at = now();
    messages.push_back(std::move(m));
    return messages.back();
  }

  // ---- Graph API -----------------------------------------------------------------------------

  struct call_ctx {
    http::request req;
    std::map<std::string, std::string> params;
    std::vector<std::string> segments;  ///< path after the version prefix
    account_rec* account = nullptr;
    bool messaging = false;
    std::string host;
  };

  /// Runs one Graph API call against the state (mutex held).
  http::response graph(call_ctx& c);
  http::response graph_oauth(call_ctx& c);
  http::response graph_get(call_ctx& c, auth_result& auth);
  http::response graph_post(call_ctx& c, auth_result& auth);
  http::response graph_delete(call_ctx& c, auth_result& auth);
  http::response send_message(call_ctx& c, account_rec& acct);
  http::response conversations(call_ctx& c, account_rec& acct);
  std::optional<graph_error> validate_message(simdjson::dom::element msg);
  void write_media(meta_writer& w, const media_rec& m, const std::vector<std::string>& fields);
  void write_comment(meta_writer& w, const comment_rec& c, const std::vector<std::string>& fields);
  http::response list_page(call_ctx& c, const std::vector<std::string>& ids,
                           const std::function<void(meta_writer&, const std::string&)>& write_one);

  void handle(http::request&& req, http::responder respond);
  void handle_graph(http::request&& req, http::responder respond);
  void finish_call(std::uint64_t seq, const http::response& res, const std::string& fault);
  http::response control(const http::request& req);

  sim_options opts;
  std::mutex mtx;
  std::mt19937_64 rng;
  std::atomic<std::int64_t> clock_offset_us{0};  ///< read by the sender's thread too
  std::uint64_t id_counter = 0, message_seq = 0, call_seq = 0, fault_seq = 0;
  std::map<std::string, account_rec> accounts;
  std::map<std::string, user_rec> users;
  std::map<std::string, media_rec> media;
  std::map<std::string, comment_rec> comments;
  std::deque<message_rec> messages;
  std::map<std::string, token_rec> tokens;
  std::map<std::string, code_rec> codes;
  std::deque<call_rec> calls;
  std::vector<fault_rec> faults;
  std::deque<time_point> app_calls;
  std::vector<std::string> skipped_events;
  std::unique_ptr<http::server> server;
  std::unique_ptr<webhook_sender> sender;
};

namespace {

std::vector<std::string> path_segments(const std::string& path) {
  auto segs = split(path, '/');
  // Drop a version prefix: v25.0, v3.2, ...
  if (!segs.empty() && segs[0].size() >= 2 && segs[0][0] == 'v' &&
      std::isdigit(static_cast<unsigned char>(segs[0][1])) &&
      segs[0].find('.') != std::string::npos)
    segs.erase(segs.begin());
  return segs;
}

std::vector<std::string> requested_fields(const std::map<std::string, std::string>& params,
                                          std::vector<std::string> defaults) {
  auto it = params.find("fields");
  if (it == params.end() || it->second.empty()) return defaults;
  return split(it->second, ',');
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

// ---- request entry ---------------------------------------------------------------------------

void simulator::impl::handle(http::request&& req, http::responder respond) {
  if (req.path.rfind("/_sim", 0) == 0) {
    std::lock_guard<std::mutex> lock(mtx);
    return respond(control(req));
  }
  handle_graph(std::move(req), std::move(respond));
}

void simulator::impl::finish_call(std::uint64_t seq, const http::response& res,
                                  const std::string& fault) {
  for (auto it = calls.rbegin(); it != calls.rend(); ++it)
    if (it->seq == seq) {
      it->status = res.close_without_answer ? 0 : res.status;
      it->response = res.close_without_answer ? "" : res.body;
      it->fault = fault;
      return;
    }
}

void simulator::impl::handle_graph(http::request&& req, http::responder respond) {
  std::unique_lock<std::mutex> lock(mtx);
  call_ctx c;
  c.params = collect_params(req);
  c.segments = path_segments(req.path);
  c.host = std::string(req.header("host"));
  call_rec rec;
  rec.seq = ++call_seq;
  rec.at = now();
  rec.method = req.method;
  rec.path = req.path;
  rec.query = req.query;
  rec.body = req.body;
  calls.push_back(rec);
  if (calls.size() > 100000) calls.pop_front();
  auto seq = rec.seq;
  c.req = std::move(req);

  // Faults: the first matching rule that fires decides.
  fault_rec* fired = nullptr;
  for (auto& f : faults) {
    if (f.remaining == 0) continue;
    if (!f.method.empty() && f.method != c.req.method) continue;
    if (!f.path_contains.empty() && c.req.path.find(f.path_contains) == std::string::npos) continue;
    if (!f.account_id.empty()) {
      auto auth = authenticate(c.req, c.params);
      if (!auth.account || auth.account->id != f.account_id) continue;
    }
    if (f.share < 1.0 && random01() >= f.share) continue;
    if (f.remaining > 0) --f.remaining;
    ++f.hits;
    fired = &f;
    break;
  }
  if (fired && fired->kind == "latency") {
    auto delay = std::chrono::milliseconds(fired->latency_ms);
    auto self = shared_from_this();
    lock.unlock();
    server->schedule(delay, [self, c = std::move(c), seq, respond]() mutable {
      std::lock_guard<std::mutex> lock(self->mtx);
      auto res = self->graph(c);
      self->finish_call(seq, res, "latency");
      respond(std::move(res));
    });
    return;
  }
  http::response res;
  std::string fault_name;
  if (!fired) {
    res = graph(c);
  } else if (fired->kind == "error") {
    auto e = standard_error(fired->code, fired->subcode);
    if (!fired->message.empty()) e.message = fired->message;
    if (fired->http_status) e.http_status = fired->http_status;
    res = error_response(e);
    if (c.account) usage_headers(res, c.account, c.messaging);
    fault_name = "error";
  } else if (fired->kind == "http_status") {
    if (fired->message.empty()) {
      auto e = standard_error(2);
      e.http_status = fired->http_status ? fired->http_status : 503;
      res = error_response(e);
    } else {
      res = http::response::text(fired->http_status ? fired->http_status : 503, fired->message);
    }
    fault_name = "http_status";
  } else if (fired->kind == "drop") {
    res.close_without_answer = true;
    fault_name = "drop";
  } else if (fired->kind == "write_then_error") {
    auto real = graph(c);
    auto e = standard_error(fired->code ? fired->code : 2, fired->subcode);
    if (!fired->message.empty()) e.message = fired->message;
    if (fired->http_status) e.http_status = fired->http_status;
    res = error_response(e);
    fault_name = "write_then_error (real status " + std::to_string(real.status) + ")";
  } else {
    res = graph(c);
  }
  finish_call(seq, res, fault_name);
  lock.unlock();
  respond(std::move(res));
}

// ---- Graph API -------------------------------------------------------------------------------

http::response simulator::impl::graph(call_ctx& c) {
  auto& segs = c.segments;
  if (!segs.empty() && segs[0] == "oauth") return graph_oauth(c);
  if (segs.empty()) return error_response(invalid_param("Unknown path components: /"));
  auto auth = authenticate(c.req, c.params);
  if (auth.error) {
    auto e = *auth.error;
    return error_response(e);
  }
  c.account = auth.account;
  c.messaging = segs.size() == 2 && segs[1] == "messages";
  auto t = now();
  prune(app_calls, t - 1h);
  if (static_cast<int>(app_calls.size()) >= opts.app_calls_per_hour) {
    auto res = error_response(standard_error(4));
    usage_headers(res, c.account, c.messaging);
    return res;
  }
  if (!c.messaging) {
    prune(c.account->buc_calls, t - 1h);
    if (static_cast<int>(c.account->buc_calls.size()) >= opts.buc_calls_per_hour) {
      auto res = error_response(standard_error(80002));
      usage_headers(res, c.account, false);
      return res;
    }
    c.account->buc_calls.push_back(t);
  }
  app_calls.push_back(t);
  http::response res;
  if (c.req.method == "GET")
    res = graph_get(c, auth);
  else if (c.req.method == "POST")
    res = graph_post(c, auth);
  else if (c.req.method == "DELETE")
    res = graph_delete(c, auth);
  else
    res = error_response(invalid_param("Unsupported method " + c.req.method));
  usage_headers(res, c.account, c.messaging);
  return res;
}

http::response simulator::impl::graph_oauth(call_ctx& c) {
  auto& segs = c.segments;
  auto param = [&](const char* k) {
    auto it = c.params.find(k);
    return it == c.params.end() ? std::string() : it->second;
  };
  auto oauth_error = [&](int code, const std::string& message) {
    meta_writer w;
    w.begin_object()
        .field("error_type", "OAuthException")
        .field("code", code)
        .field("error_message", message)
        .end_object();
    return http::response::json(code, w.take());
  };
  if (segs.size() == 2 && segs[1] == "authorize" && c.req.method == "GET") {
    auto redirect = param("redirect_uri");
    if (param("client_id") != opts.app_id)
      return http::response::text(400, "Invalid platform app (client_id does not match)");
    if (redirect.empty() || param("response_type") != "code")
      return http::response::text(400, "redirect_uri and response_type=code are required");
    auto state = param("state");
    auto sep = redirect.find('?') == std::string::npos ? "?" : "&";
    auto state_part = state.empty() ? std::string() : "&state=" + state;
    if (param("deny") == "1") {
      http::response res;
      res.status = 302;
      res.content_type = "text/html";
      res.headers.emplace_back(
          "Location", redirect + sep +
                          "error=access_denied&error_reason=user_denied&error_description=The+"
                          "user+denied+your+request" +
                          state_part);
      return res;
    }
    auto account_id = param("account_id");
    if (!account_id.empty()) {
      if (!accounts.count(account_id))
        return http::response::text(400, "unknown test account " + account_id);
      auto code = "AQB" + crypto::base64url_encode(crypto::random_bytes(30));
      codes[code] = code_rec{account_id, redirect, now(), false};
      http::response res;
      res.status = 302;
      res.content_type = "text/html";
      res.headers.emplace_back("Location", redirect + sep + "code=" + code + state_part + "#_");
      return res;
    }
    // The consent page: one link per test account.
    std::string html =
        "<!doctype html><html><head><title>Log in to Instagram (komentra-sim)</title></head>"
        "<body><h1>komentra-sim: allow access</h1><p>Scopes: " +
        param("scope") + "</p><ul>";
    auto base = c.req.target;
    for (auto& [id, a] : accounts)
      html += "<li><a href=\"" + base + "&account_id=" + id + "\">Allow as @" + a.username + " (" +
              id + ")</a></li>";
    html += "</ul><p><a href=\"" + base + "&deny=1\">Deny</a></p></body></html>";
    http::response res = http::response::text(200, html);
    res.content_type = "text/html; charset=utf-8";
    return res;
  }
  if (segs.size() == 2 && segs[1] == "access_token" && c.req.method == "POST") {
    if (param("client_id") != opts.app_id || param("client_secret") != opts.app_secret)
      return oauth_error(400, "Invalid platform app");
    if (param("grant_type") != "authorization_code")
      return oauth_error(400, "Invalid grant_type: " + param("grant_type"));
    auto it = codes.find(param("code"));
    if (it == codes.end() || it->second.used || now() - it->second.issued > 1h)
      return oauth_error(400, "Matching code was not found or was already used");
    if (it->second.redirect_uri != param("redirect_uri"))
      return oauth_error(400,
                         "Error validating verification code. Please make sure your "
                         "redirect_uri is identical to the one you used in the OAuth dialog "
                         "request");
    it->second.used = true;
    auto token = new_token();
    tokens[token] = token_rec{token, it->second.account_id, "short", now(), now() + short_lived};
    static const char* perms[] = {"instagram_business_basic", "instagram_business_manage_messages",
                                  "instagram_business_manage_comments"};
    meta_writer w;
    w.begin_object();
    if (opts.wrapped_token_response) {
      w.key("data").begin_array().begin_object();
      w.field("access_token", token).field("user_id", it->second.account_id);
      w.field("permissions", std::string(perms[0]) + "," + perms[1] + "," + perms[2]);
      w.end_object().end_array();
    } else {
      w.field("access_token", token).key("user_id").raw(it->second.account_id);
      w.key("permissions").begin_array();
      for (auto p : perms) w.string(p);
      w.end_array();
    }
    w.end_object();
    return ok_json(w.take());
  }
  return error_response(invalid_param("Unknown OAuth path"));
}

http::response simulator::impl::list_page(
    call_ctx& c, const std::vector<std::string>& ids,
    const std::function<void(meta_writer&, const std::string&)>& write_one) {
  std::size_t limit = 25, start = 0;
  if (auto it = c.params.find("limit"); it != c.params.end()) {
    try {
      limit = std::clamp<std::size_t>(std::stoul(it->second), 1, 100);
    } catch (...) {
      return error_response(invalid_param("Param limit must be a number"));
    }
  }
  auto cursor = [](std::size_t i) { return crypto::base64url_encode("idx:" + std::to_string(i)); };
  if (auto it = c.params.find("after"); it != c.params.end()) {
    auto raw = crypto::base64url_decode(it->second);
    if (!raw || raw->rfind("idx:", 0) != 0) return error_response(invalid_param("Invalid cursor"));
    start = std::stoul(raw->substr(4)) + 1;
  }
  meta_writer w;
  w.begin_object().key("data").begin_array();
  std::size_t end = std::min(ids.size(), start + limit);
  for (std::size_t i = start; i < end; ++i) write_one(w, ids[i]);
  w.end_array();
  if (end > start) {
    w.key("paging").begin_object().key("cursors").begin_object();
    w.field("before", cursor(start)).field("after", cursor(end - 1));
    w.end_object();
    if (end < ids.size()) {
      std::string next = "http://" + c.host + c.req.path + "?";
      for (auto& [k, v] : c.params) {
        if (k == "after") continue;
        if (k != "fields" && k != "limit" && k != "access_token") continue;
        next += k + "=" + v + "&";
      }
      next += "limit=" + std::to_string(limit) + "&after=" + cursor(end - 1);
      w.field("next", next);
    }
    w.end_object();
  }
  w.end_object();
  return ok_json(w.take());
}

void simulator::impl::write_media(meta_writer& w, const media_rec& m,
                                  const std::vector<std::string>& fields) {
  w.begin_object();
  for (auto& f : fields) {
    if (f == "id")
      w.field("id", m.id);
    else if (f == "caption")
      w.field("caption", m.caption);
    else if (f == "media_type")
      w.field("media_type", m.media_type);
    else if (f == "media_product_type")
      w.field("media_product_type", m.product_type);
    else if (f == "permalink")
      w.field("permalink", "https://www.instagram.com/reel/" + m.id + "/");
    else if (f == "timestamp")
      w.field("timestamp", iso_time(m.created));
    else if (f == "comments_count" || f == "total_comments_count") {
      std::int64_t n = 0;
      for (auto& id : m.comment_ids)
        if (!comments.at(id).deleted)
          n += 1 + static_cast<std::int64_t>(comments.at(id).reply_ids.size());
      w.field(f, n);
    } else if (f == "like_count" || f == "total_like_count")
      w.field(f, 0);
    else if (f == "username")
      w.field("username", accounts.at(m.account_id).username);
    else if (f == "is_comment_enabled")
      w.field("is_comment_enabled", true);
    else if (f == "media_url" || f == "thumbnail_url")
      w.field(f, "https://scontent.cdninstagram.com/sim/" + m.id + ".jpg");
  }
  if (!has(fields, "id")) w.field("id", m.id);
  w.end_object();
}

void simulator::impl::write_comment(meta_writer& w, const comment_rec& c,
                                    const std::vector<std::string>& fields) {
  w.begin_object();
  for (auto& f : fields) {
    if (f == "id")
      w.field("id", c.id);
    else if (f == "text")
      w.field("text", c.text);
    else if (f == "timestamp")
      w.field("timestamp", iso_time(c.created));
    else if (f == "from")
      w.key("from")
          .begin_object()
          .field("id", c.from_id)
          .field("username", c.from_username)
          .end_object();
    else if (f == "username")
      w.field("username", c.from_username);
    else if (f == "parent_id" && !c.parent_id.empty())
      w.field("parent_id", c.parent_id);
    else if (f == "hidden")
      w.field("hidden", c.hidden);
    else if (f == "like_count")
      w.field("like_count", 0);
    else if (f == "media")
      w.key("media")
          .begin_object()
          .field("id", c.media_id)
          .field("media_product_type", media.at(c.media_id).product_type)
          .end_object();
    else if (f == "user" && c.from_self)
      w.key("user").begin_object().field("id", c.account_id).end_object();
  }
  if (!has(fields, "id")) w.field("id", c.id);
  w.end_object();
}

http::response simulator::impl::graph_get(call_ctx& c, auth_result& auth) {
  auto& segs = c.segments;
  auto& acct = *auth.account;
  auto node = segs[0];
  if (segs.size() == 1 && (node == "access_token" || node == "refresh_access_token")) {
    auto grant = c.params["grant_type"];
    if (node == "access_token") {
      if (grant != "ig_exchange_token")
        return error_response(invalid_param("Unsupported grant_type: " + grant));
      if (c.params["client_secret"] != opts.app_secret) {
        graph_error e;
        e.code = 101;
        e.message = "Error validating client secret.";
        return error_response(e);
      }
      if (auth.token->kind != "short")
        return error_response(invalid_param("ig_exchange_token needs a short-lived token"));
    } else {
      if (grant != "ig_refresh_token")
        return error_response(invalid_param("Unsupported grant_type: " + grant));
      if (auth.token->kind != "long")
        return error_response(invalid_param("Only long-lived tokens can be refreshed"));
      if (now() - auth.token->issued < 24h)
        return error_response(
            invalid_param("The access token must be at least 24 hours old to be refreshed"));
    }
    auto token = new_token();
    tokens[token] = token_rec{token, acct.id, "long", now(), now() + long_lived};
    meta_writer w;
    w.begin_object()
        .field("access_token", token)
        .field("token_type", "bearer")
        .field("expires_in", static_cast<std::int64_t>(long_lived.count() - 56))
        .end_object();
    return ok_json(w.take());
  }
  bool me = node == "me" || node == acct.id;
  if (me && segs.size() == 1) {
    auto fields = requested_fields(c.params, {"id"});
    meta_writer w;
    w.begin_object();
    for (auto& f : fields) {
      if (f == "user_id")
        w.field("user_id", acct.id);
      else if (f == "username")
        w.field("username", acct.username);
      else if (f == "name")
        w.field("name", acct.name);
      else if (f == "account_type")
        w.field("account_type", "Business");
      else if (f == "profile_picture_url")
        w.field(f, "https://scontent.cdninstagram.com/sim/" + acct.id + ".jpg");
      else if (f == "followers_count")
        w.field(f, acct.followers);
      else if (f == "follows_count")
        w.field(f, 42);
      else if (f == "media_count")
        w.field(f, static_cast<std::int64_t>(acct.media_ids.size()));
    }
    w.field("id", node == "me" ? acct.app_scoped_id : acct.id);
    w.end_object();
    return ok_json(w.take());
  }
  if (me && segs.size() == 2 && segs[1] == "media") {
    auto fields = requested_fields(c.params, {"id"});
    std::vector<std::string> ids(acct.media_ids.rbegin(), acct.media_ids.rend());  // newest first
    return list_page(c, ids, [&](meta_writer& w, const std::string& id) {
      write_media(w, media.at(id), fields);
    });
  }
  if (me && segs.size() == 2 && segs[1] == "conversations") return conversations(c, acct);
  if (me && segs.size() == 2 && segs[1] == "subscribed_apps") {
    meta_writer w;
    w.begin_object().key("data").begin_array();
    if (!acct.subscribed_fields.empty()) {
      w.begin_object().key("subscribed_fields").begin_array();
      for (auto& f : acct.subscribed_fields) w.string(f);
      w.end_array().field("name", "komentra-sim app").field("id", opts.app_id).end_object();
    }
    w.end_array().end_object();
    return ok_json(w.take());
  }
  if (auto m = media.find(node); m != media.end() && m->second.account_id == acct.id) {
    if (segs.size() == 1) {
      meta_writer w;
      write_media(
          w, m->second,
          requested_fields(c.params, {"id", "media_type", "media_product_type", "timestamp"}));
      return ok_json(w.take());
    }
    if (segs.size() == 2 && segs[1] == "comments") {
      auto fields = requested_fields(c.params, {"timestamp", "text", "id"});
      std::vector<std::string> ids;
      for (auto& id : m->second.comment_ids)
        if (!comments.at(id).deleted) ids.push_back(id);
      std::reverse(ids.begin(), ids.end());  // newest first
      return list_page(c, ids, [&](meta_writer& w, const std::string& id) {
        write_comment(w, comments.at(id), fields);
      });
    }
  }
  if (auto cm = comments.find(node);
      cm != comments.end() && cm->second.account_id == acct.id && !cm->second.deleted) {
    if (segs.size() == 1) {
      meta_writer w;
      write_comment(w, cm->second, requested_fields(c.params, {"id", "text", "timestamp"}));
      return ok_json(w.take());
    }
    if (segs.size() == 2 && segs[1] == "replies") {
      auto fields = requested_fields(c.params, {"timestamp", "text", "id"});
      std::vector<std::string> ids;
      for (auto& id : cm->second.reply_ids)
        if (!comments.at(id).deleted) ids.push_back(id);
      return list_page(c, ids, [&](meta_writer& w, const std::string& id) {
        write_comment(w, comments.at(id), fields);
      });
    }
  }
  if (auto u = users.find(node);
      u != users.end() && u->second.account_id == acct.id && segs.size() == 1) {
    auto& user = u->second;
    auto fields = requested_fields(c.params, {"name", "username"});
    bool needs_consent = false;
    for (auto& f : fields)
      if (f != "id") needs_consent = true;
    if (needs_consent && !user.consent) return error_response(standard_error(230));
    if (!user.can_receive) return error_response(no_object(node, "get"));
    meta_writer w;
    w.begin_object();
    for (auto& f : fields) {
      if (f == "name")
        w.field("name", user.name);
      else if (f == "username")
        w.field("username", user.username);
      else if (f == "profile_pic")
        w.field(f, "https://scontent.cdninstagram.com/sim/u" + user.id + ".jpg");
      else if (f == "follower_count")
        w.field(f, 812);
      else if (f == "is_user_follow_business")
        w.field(f, user.follows_business);
      else if (f == "is_business_follow_user")
        w.field(f, user.business_follows);
      else if (f == "is_verified_user")
        w.field(f, false);
    }
    w.field("id", user.id).end_object();
    return ok_json(w.take());
  }
  return error_response(no_object(node, "get"));
}

http::response simulator::impl::graph_post(call_ctx& c, auth_result& auth) {
  auto& segs = c.segments;
  auto& acct = *auth.account;
  auto node = segs[0];
  bool me = node == "me" || node == acct.id;
  if (me && segs.size() == 2 && segs[1] == "messages") return send_message(c, acct);
  if (me && segs.size() == 2 && segs[1] == "conversations") return conversations(c, acct);
  if (me && segs.size() == 2 && segs[1] == "subscribed_apps") {
    auto it = c.params.find("subscribed_fields");
    if (it == c.params.end() || it->second.empty())
      return error_response(invalid_param("The parameter subscribed_fields is required."));
    static const std::set<std::string> known = {
        "comments",          "live_comments",       "messages",
        "message_reactions", "messaging_postbacks", "messaging_referral",
        "messaging_seen",    "messaging_optins",    "messaging_handover",
        "standby",           "message_echoes",      "mentions",
        "story_insights"};
    std::string text = it->second;
    if (!text.empty() && text.front() == '[') {  // a JSON array is accepted too
      text.erase(std::remove_if(text.begin(), text.end(),
                                [](char ch) { return ch == '[' || ch == ']' || ch == '"'; }),
                 text.end());
    }
    auto fields = split(text, ',');
    for (auto& f : fields)
      if (!known.count(f))
        return error_response(invalid_param("Param subscribed_fields[" + f +
                                            "] must be one of the subscribable fields"));
    acct.subscribed_fields = fields;
    return success();
  }
  auto cm = comments.find(node);
  if (cm == comments.end() || cm->second.account_id != acct.id || cm->second.deleted)
    return error_response(no_object(node, "post"));
  auto& comment = cm->second;
  auto& m = media.at(comment.media_id);
  if (segs.size() == 1) {
    auto hide = c.params.find("hide");
    if (hide == c.params.end())
      return error_response(invalid_param("The parameter hide is required"));
    if (m.live)
      return error_response(invalid_param("Hiding comments is not supported on live media"));
    comment.hidden = hide->second == "true" || hide->second == "1";
    return success();
  }
  if (segs.size() == 2 && segs[1] == "replies") {
    auto text = c.params["message"];
    if (text.empty()) return error_response(invalid_param("The parameter message is required"));
    if (comment.hidden) return error_response(invalid_param("Cannot reply to a hidden comment"));
    if (m.live) return error_response(invalid_param("Replies are not supported on live media"));
    auto top = comment.parent_id.empty() ? comment.id : comment.parent_id;
    comment_rec r;
    r.id = next_id("179", 17);
    r.media_id = m.id;
    r.account_id = acct.id;
    r.from_id = acct.id;
    r.from_username = acct.username;
    r.text = text;
    r.parent_id = top;
    r.created = now();
    r.from_self = true;
    comments.at(top).reply_ids.push_back(r.id);
    auto id = r.id;
    comments[id] = r;
    emit(acct, "comments", false, comment_value(comments.at(id)));
    meta_writer w;
    w.begin_object().field("id", id).end_object();
    return ok_json(w.take());
  }
  return error_response(no_object(node, "post"));
}

http::response simulator::impl::graph_delete(call_ctx& c, auth_result& auth) {
  auto& segs = c.segments;
  auto& acct = *auth.account;
  auto node = segs[0];
  if ((node == "me" || node == acct.id) && segs.size() == 2 && segs[1] == "subscribed_apps") {
    acct.subscribed_fields.clear();
    return success();
  }
  auto cm = comments.find(node);
  if (segs.size() != 1 || cm == comments.end() || cm->second.account_id != acct.id ||
      cm->second.deleted)
    return error_response(no_object(node, "delete"));
  if (media.at(cm->second.media_id).live)
    return error_response(invalid_param("Deleting comments is not supported on live media"));
  cm->second.deleted = true;
  return success();
}

std::optional<graph_error> simulator::impl::validate_message(simdjson::dom::element msg) {
  simdjson::dom::object obj;
  if (msg.get_object().get(obj)) return invalid_param("param message must be a JSON object");
  auto text = member(msg, "text");
  auto attachment = member(msg, "attachment");
  auto attachments = member(msg, "attachments");
  if (text && (attachment || attachments))
    return invalid_param("Only one of text, attachment or attachments may be set");
  if (!text && !attachment && !attachments)
    return invalid_param("param message must contain text, attachment or attachments");
  if (text) {
    std::string_view s;
    if (text->get_string().get(s)) return invalid_param("param message[text] must be a string");
    if (s.empty()) return invalid_param("param message[text] must be non-empty");
    if (s.size() > 1000)
      return invalid_param(
          "Length of param message[text] must be less than or equal to 1000 bytes (got " +
          std::to_string(s.size()) + ")");
  }
  if (auto qr = member(msg, "quick_replies")) {
    simdjson::dom::array arr;
    if (qr->get_array().get(arr))
      return invalid_param("param message[quick_replies] must be an array");
    if (arr.size() > 13)
      return invalid_param("param message[quick_replies] must have at most 13 elements");
    if (!text) return invalid_param("Quick replies need message[text]");
    for (auto q : arr) {
      auto ct = str_of(q, "content_type").value_or("");
      if (ct != "text" && ct != "user_phone_number" && ct != "user_email")
        return invalid_param(
            "param quick_replies[content_type] must be text, user_phone_number or user_email");
      if (ct == "text" && (!str_of(q, "title") || !str_of(q, "payload")))
        return invalid_param("Text quick replies need title and payload");
    }
  }
  auto check_buttons = [&](simdjson::dom::element holder,
                           const char* where) -> std::optional<graph_error> {
    auto buttons = member(holder, "buttons");
    if (!buttons) return std::nullopt;
    simdjson::dom::array arr;
    if (buttons->get_array().get(arr))
      return invalid_param(std::string(where) + "[buttons] must be an array");
    if (arr.size() < 1 || arr.size() > 3)
      return invalid_param(std::string(where) + "[buttons] must have 1 to 3 buttons (got " +
                           std::to_string(arr.size()) + ")");
    for (auto b : arr) {
      auto type = str_of(b, "type").value_or("");
      auto title = str_of(b, "title");
      if (!title || title->empty()) return invalid_param("Button title is required");
      if (type == "web_url") {
        auto url = str_of(b, "url").value_or("");
        if (url.rfind("https://", 0) != 0 || url.size() <= 8)
          return invalid_param("Button url must be a valid https URL: " + url);
      } else if (type == "postback") {
        auto payload = str_of(b, "payload");
        if (!payload || payload->empty()) return invalid_param("Postback buttons need a payload");
        if (payload->size() > 1000)
          return invalid_param("Postback payload must be at most 1000 characters");
      } else {
        return invalid_param("Button type must be web_url or postback (got '" + type + "')");
      }
    }
    return std::nullopt;
  };
  if (attachment) {
    auto type = str_of(*attachment, "type").value_or("");
    auto payload = member(*attachment, "payload");
    if (type == "template") {
      if (!payload) return invalid_param("Template attachments need a payload");
      auto tt = str_of(*payload, "template_type").value_or("");
      if (tt == "button") {
        auto t = str_of(*payload, "text");
        if (!t || t->empty()) return invalid_param("Button template needs text");
        if (utf8_chars(*t) > 640)
          return invalid_param(
              "param message[attachment][payload][text] must be at most 640 characters (got " +
              std::to_string(utf8_chars(*t)) + ")");
        if (!member(*payload, "buttons")) return invalid_param("Button template needs buttons");
        if (auto e = check_buttons(*payload, "payload")) return e;
      } else if (tt == "generic") {
        auto elements = member(*payload, "elements");
        simdjson::dom::array arr;
        if (!elements || elements->get_array().get(arr) || arr.size() < 1 || arr.size() > 10)
          return invalid_param("Generic template needs 1 to 10 elements");
        for (auto el : arr) {
          auto title = str_of(el, "title");
          if (!title || title->empty())
            return invalid_param("Generic template elements need a title");
          if (utf8_chars(*title) > 80)
            return invalid_param("Element title must be at most 80 characters");
          if (auto sub = str_of(el, "subtitle"); sub && utf8_chars(*sub) > 80)
            return invalid_param("Element subtitle must be at most 80 characters");
          if (auto e = check_buttons(el, "elements")) return e;
        }
      } else {
        return invalid_param("Unsupported template_type '" + tt + "'");
      }
    } else if (type == "image" || type == "video" || type == "audio" || type == "file") {
      if (!payload || (!str_of(*payload, "url") && !str_of(*payload, "attachment_id")))
        return invalid_param("Media attachments need payload.url or payload.attachment_id");
    } else if (type == "like_heart") {
    } else if (type == "MEDIA_SHARE") {
      if (!payload || !str_of(*payload, "id")) return invalid_param("MEDIA_SHARE needs payload.id");
    } else {
      return invalid_param("Unsupported attachment type '" + type + "'");
    }
  }
  return std::nullopt;
}

http::response simulator::impl::send_message(call_ctx& c, account_rec& acct) {
  auto t = now();
  prune(acct.send_calls, t - 1s);
  if (static_cast<int>(acct.send_calls.size()) >= opts.send_per_second)
    return error_response(standard_error(613));
  acct.send_calls.push_back(t);
  json_doc recipient_doc, message_doc;
  auto rit = c.params.find("recipient");
  if (rit == c.params.end() || !recipient_doc.parse(rit->second))
    return error_response(invalid_param("param recipient must be a JSON object"));
  auto recipient = recipient_doc.root();
  if (auto action = c.params.find("sender_action"); action != c.params.end()) {
    // Reactions and typing indicators: accepted, no echo.
    auto rid = str_of(recipient, "id");
    if (!rid || !users.count(*rid) || users.at(*rid).account_id != acct.id)
      return error_response(standard_error(100, 2018001));
    meta_writer w;
    w.begin_object().field("recipient_id", *rid).end_object();
    return ok_json(w.take());
  }
  auto mit = c.params.find("message");
  if (mit == c.params.end() || !message_doc.parse(mit->second))
    return error_response(invalid_param("param message must be a JSON object"));
  auto msg = message_doc.root();
  if (auto e = validate_message(msg)) return error_response(*e);
  auto text = str_of(msg, "text").value_or("");
  auto kind = member(msg, "attachment") ? "attachment" : "text";
  auto message_json = to_meta_json(mit->second);

  user_rec* user = nullptr;
  comment_rec* comment = nullptr;
  if (auto cid = str_of(recipient, "comment_id")) {
    auto it = comments.find(*cid);
    if (it == comments.end() || it->second.account_id != acct.id || it->second.deleted)
      return error_response(no_object(*cid, "post"));
    comment = &it->second;
    if (comment->from_self)
      return error_response(invalid_param("Cannot send a private reply to your own comment"));
    if (!comment->private_reply_mid.empty()) return error_response(standard_error(10, 2534025));
    if (t - comment->created > std::chrono::hours(24 * 7))
      return error_response(standard_error(10, 2534022));
    prune(acct.private_replies, t - 1h);
    if (static_cast<int>(acct.private_replies.size()) >= opts.private_replies_per_hour)
      return error_response(standard_error(613));
    user = &users.at(comment->from_id);
    if (!user->can_receive) return error_response(standard_error(551, 1545041));
    acct.private_replies.push_back(t);
  } else if (auto rid = str_of(recipient, "id")) {
    auto it = users.find(*rid);
    if (it == users.end() || it->second.account_id != acct.id)
      return error_response(standard_error(100, 2018001));
    user = &it->second;
    if (!user->can_receive) return error_response(standard_error(551, 1545041));
    bool human_agent = c.params["tag"] == "HUMAN_AGENT";
    auto window = human_agent ? std::chrono::hours(24 * 7) : std::chrono::hours(24);
    if (!user->last_inbound || t - *user->last_inbound > window)
      return error_response(standard_error(10, 2534022));
  } else {
    return error_response(invalid_param("param recipient must have id or comment_id"));
  }
  auto& rec =
      record_message(acct.id, user->id, true, comment ? "private_reply" : kind, text, message_json);
  rec.listed_text = text;
  if (auto a = member(msg, "attachment"); a && text.empty())
    if (auto p = member(*a, "payload")) rec.listed_text = str_of(*p, "text").value_or("");
  if (comment) {
    comment->private_reply_mid = rec.mid;
    rec.comment_id = comment->id;
  }
  auto mid = rec.mid;
  // The echo Meta sends for every message the business sends.
  emit(acct, "messages", true, messaging_item(acct.id, user->id, t, [&](meta_writer& w) {
         w.key("message").begin_object().field("mid", mid);
         if (!text.empty()) {
           w.field("text", text);
         } else if (auto a = member(msg, "attachment")) {
           w.key("attachments").begin_array().begin_object();
           w.field("type", str_of(*a, "type").value_or("template"));
           if (auto p = member(*a, "payload"))
             w.key("payload").raw(to_meta_json(simdjson::minify(*p)));
           w.end_object().end_array();
         }
         w.field("is_echo", true).end_object();
       }));
  meta_writer w;
  w.begin_object().field("recipient_id", user->id).field("message_id", mid).end_object();
  return ok_json(w.take());
}

// The Conversations API (fact sheet §4): one conversation per user, its 20 latest
// messages newest first, with id, message, from and created_time whatever fields ask for
// (the nested field syntax is not parsed).
http::response simulator::impl::conversations(call_ctx& c, account_rec& acct) {
  if (c.params["platform"] != "instagram")
    return error_response(invalid_param("Param platform must be instagram"));
  auto t = now();
  prune(acct.conversation_calls, t - 1s);
  if (acct.conversation_calls.size() >= 2) return error_response(standard_error(613));
  acct.conversation_calls.push_back(t);
  auto only = c.params["user_id"];
  std::vector<std::string> users_seen;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it)
    if (it->account_id == acct.id && (only.empty() || it->user_id == only) &&
        std::find(users_seen.begin(), users_seen.end(), it->user_id) == users_seen.end())
      users_seen.push_back(it->user_id);
  return list_page(c, users_seen, [&](meta_writer& w, const std::string& user_id) {
    w.begin_object().field("id", crypto::base64url_encode("conv:" + acct.id + ":" + user_id));
    w.key("messages").begin_object().key("data").begin_array();
    int n = 0;
    for (auto it = messages.rbegin(); it != messages.rend() && n < 20; ++it) {
      if (it->account_id != acct.id || it->user_id != user_id) continue;
      ++n;
      auto from_id = it->outbound ? acct.id : user_id;
      auto from_name = it->outbound           ? acct.username
                       : users.count(user_id) ? users.at(user_id).username
                                              : "";
      w.begin_object().field("id", it->mid).field("created_time", iso_time(it->at));
      w.key("from").begin_object().field("id", from_id).field("username", from_name).end_object();
      w.field("message", it->outbound ? it->listed_text : it->text).end_object();
    }
    w.end_array().end_object().end_object();
  });
}

// ---- control API -----------------------------------------------------------------------------

http::response simulator::impl::control(const http::request& req) {
  auto segs = split(req.path, '/');  // "_sim", ...
  json_doc doc;
  bool has_body = doc.parse(req.body);
  if (!req.body.empty() && !has_body) return control_error(400, "body must be JSON");
  simdjson::dom::parser empty_parser;
  simdjson::dom::element body = doc.root();
  if (!has_body && empty_parser.parse(std::string_view("{}")).get(body))
    return control_error(500, "internal JSON error");
  auto str = [&](const char* k, std::string def = {}) { return str_of(body, k).value_or(def); };
  // The record's "id" when the body names one (text, or an integer as its digits, like every
  // id here), else `generated`; nullopt for an empty id or one of another type, which
  // nothing could address later.
  auto id_or = [&](std::string generated) -> std::optional<std::string> {
    if (!member(body, "id")) return generated;
    auto id = str_of(body, "id");
    if (!id || id->empty()) return std::nullopt;
    return id;
  };
  const char* bad_id = "id must be a non-empty string";
  auto what = segs.size() > 1 ? segs[1] : std::string();
  auto method = req.method;
  auto created = [](std::function<void(meta_writer&)> f) {
    meta_writer w;
    w.begin_object();
    f(w);
    w.end_object();
    return http::response::json(200, w.take());
  };
  auto user_for = [&](std::string& err) -> user_rec* {
    auto id = str("user_id");
    auto it = users.find(id);
    if (it == users.end()) {
      err = "unknown user_id '" + id + "'";
      return nullptr;
    }
    return &it->second;
  };
  auto backdate = [&]() {
    auto t = now();
    if (auto age = int_of(body, "age_seconds")) t -= std::chrono::seconds(*age);
    if (auto at = int_of(body, "created_time")) t = time_point(std::chrono::seconds(*at));
    return t;
  };

  if (what == "" || (what == "help" && method == "GET")) {
    return http::response::text(
        200,
        "komentra-sim control API: POST /_sim/accounts, /_sim/media, /_sim/users, "
        "/_sim/users/{id}, /_sim/comments, /_sim/messages, /_sim/postbacks, "
        "/_sim/story_mentions, /_sim/story_replies, /_sim/reactions, /_sim/tokens, "
        "/_sim/tokens/expire, /_sim/tokens/invalidate, /_sim/faults (GET, DELETE), "
        "/_sim/clock (GET), /_sim/config (GET), /_sim/webhooks/verify, /_sim/reset; "
        "GET /_sim/calls, /_sim/deliveries, /_sim/messages, /_sim/state. See sim/README.md.\n");
  }
  if (what == "reset" && method == "POST") {
    accounts.clear();
    users.clear();
    media.clear();
    comments.clear();
    messages.clear();
    tokens.clear();
    codes.clear();
    calls.clear();
    faults.clear();
    app_calls.clear();
    skipped_events.clear();
    clock_offset_us = 0;
    sender->reset();
    return success();
  }
  if (what == "accounts" && method == "POST" && segs.size() == 2) {
    account_rec a;
    auto id = id_or(next_id("178414", 17));
    if (!id) return control_error(400, bad_id);
    a.id = *id;
    if (accounts.count(a.id)) return control_error(409, "account " + a.id + " exists");
    a.username = str("username", "sim.account" + std::to_string(accounts.size() + 1));
    a.name = str("name", a.username);
    a.self_igsid = next_id("98", 16);
    a.app_scoped_id = next_id("27", 17);
    if (auto f = int_of(body, "followers_count")) a.followers = *f;
    auto token = str("access_token", new_token());
    tokens[token] = token_rec{token, a.id, "long", now(), now() + long_lived};
    if (bool_of(body, "subscribed").value_or(false))
      a.subscribed_fields = {"comments", "messages", "messaging_postbacks", "message_reactions"};
    accounts[a.id] = a;
    return created([&](meta_writer& w) {
      w.field("id", a.id).field("username", a.username).field("access_token", token);
      w.field("self_ig_scoped_id", a.self_igsid).field("app_scoped_id", a.app_scoped_id);
    });
  }
  if (what == "media" && method == "POST") {
    auto acct = accounts.find(str("account_id"));
    if (acct == accounts.end()) return control_error(404, "unknown account_id");
    media_rec m;
    auto id = id_or(next_id("180", 17));
    if (!id) return control_error(400, bad_id);
    m.id = *id;
    if (media.count(m.id)) return control_error(409, "media " + m.id + " exists");
    m.account_id = acct->first;
    m.caption = str("caption");
    m.media_type = str("media_type", "VIDEO");
    m.product_type = str("media_product_type", "REELS");
    m.ad_id = str("ad_id");
    m.ad_title = str("ad_title");
    if (!m.ad_id.empty()) m.product_type = "AD";
    m.live = bool_of(body, "live").value_or(false);
    m.created = backdate();
    acct->second.media_ids.push_back(m.id);
    media[m.id] = m;
    return created([&](meta_writer& w) { w.field("id", m.id); });
  }
  if (what == "users" && method == "POST" && segs.size() == 2) {
    auto acct = accounts.find(str("account_id"));
    if (acct == accounts.end()) return control_error(404, "unknown account_id");
    user_rec u;
    auto id = id_or(next_id("1", 16));
    if (!id) return control_error(400, bad_id);
    u.id = *id;
    if (users.count(u.id)) return control_error(409, "user " + u.id + " exists");
    u.account_id = acct->first;
    // "user" and the id's last four characters (all of a shorter one).
    u.username =
        str("username", "user" + u.id.substr(u.id.size() - std::min<std::size_t>(u.id.size(), 4)));
    u.name = str("name", u.username);
    u.follows_business = bool_of(body, "follows").value_or(false);
    u.business_follows = bool_of(body, "business_follows").value_or(false);
    u.can_receive = bool_of(body, "can_receive").value_or(true);
    users[u.id] = u;
    return created([&](meta_writer& w) { w.field("id", u.id).field("username", u.username); });
  }
  if (what == "users" && method == "POST" && segs.size() == 3) {
    auto it = users.find(segs[2]);
    if (it == users.end()) return control_error(404, "unknown user");
    if (auto v = bool_of(body, "follows")) it->second.follows_business = *v;
    if (auto v = bool_of(body, "business_follows")) it->second.business_follows = *v;
    if (auto v = bool_of(body, "can_receive")) it->second.can_receive = *v;
    if (auto v = bool_of(body, "consent")) it->second.consent = *v;
    return success();
  }
  if (what == "comments" && method == "POST") {
    auto mit = media.find(str("media_id"));
    std::string parent = str("parent_id");
    if (mit == media.end() && !parent.empty() && comments.count(parent))
      mit = media.find(comments.at(parent).media_id);
    if (mit == media.end()) return control_error(404, "unknown media_id");
    auto& acct = accounts.at(mit->second.account_id);
    comment_rec c;
    auto id = id_or(next_id("179", 17));
    if (!id) return control_error(400, bad_id);
    c.id = *id;
    if (comments.count(c.id)) return control_error(409, "comment " + c.id + " exists");
    c.media_id = mit->first;
    c.account_id = acct.id;
    c.text = str("text");
    c.created = backdate();
    if (bool_of(body, "as_account").value_or(false)) {
      c.from_id = acct.id;
      c.from_username = acct.username;
      c.from_self = true;
    } else {
      std::string err;
      auto u = user_for(err);
      if (!u) return control_error(404, err);
      if (u->account_id != acct.id) return control_error(400, "user belongs to another account");
      c.from_id = u->id;
      c.from_username = u->username;
    }
    if (!parent.empty()) {
      auto p = comments.find(parent);
      if (p == comments.end()) return control_error(404, "unknown parent_id");
      c.parent_id = p->second.parent_id.empty() ? p->first : p->second.parent_id;
      comments.at(c.parent_id).reply_ids.push_back(c.id);
    } else {
      mit->second.comment_ids.push_back(c.id);
    }
    comments[c.id] = c;
    if (bool_of(body, "deliver").value_or(true))
      emit(acct, "comments", false, comment_value(comments.at(c.id)));
    return created([&](meta_writer& w) { w.field("id", c.id); });
  }
  // User-side messaging events.
  if ((what == "messages" || what == "postbacks" || what == "story_mentions" ||
       what == "story_replies" || what == "reactions") &&
      method == "POST") {
    std::string sender_id, account_id;
    user_rec* u = nullptr;
    if (bool_of(body, "as_account").value_or(false)) {
      account_id = str("account_id");
      if (!accounts.count(account_id)) return control_error(404, "unknown account_id");
      sender_id = account_id;
    } else {
      std::string err;
      u = user_for(err);
      if (!u) return control_error(404, err);
      sender_id = u->id;
      account_id = u->account_id;
    }
    auto& acct = accounts.at(account_id);
    auto t = backdate();
    auto mid = new_mid(account_id);
    auto text = str("text");
    std::string field = "messages";
    std::string item;
    if (what == "messages") {
      item = messaging_item(sender_id, acct.id, t, [&](meta_writer& w) {
        w.key("message").begin_object().field("mid", mid);
        if (!text.empty()) w.field("text", text);
        if (auto qr = str_of(body, "quick_reply_payload"))
          w.key("quick_reply").begin_object().field("payload", *qr).end_object();
        if (auto r = str_of(body, "reply_to_mid"))
          w.key("reply_to").begin_object().field("mid", *r).end_object();
        if (auto a = member(body, "attachments"))
          w.key("attachments").raw(to_meta_json(simdjson::minify(*a)));
        w.end_object();
      });
    } else if (what == "postbacks") {
      field = "messaging_postbacks";
      item = messaging_item(sender_id, acct.id, t, [&](meta_writer& w) {
        w.key("postback")
            .begin_object()
            .field("mid", mid)
            .field("title", str("title", "Tap"))
            .field("payload", str("payload"))
            .end_object();
      });
    } else if (what == "story_mentions") {
      auto asset = next_id("181", 17);
      item = messaging_item(sender_id, acct.id, t, [&](meta_writer& w) {
        w.key("message").begin_object().field("mid", mid).key("attachments").begin_array();
        w.begin_object().field("type", "story_mention").key("payload").begin_object();
        w.field("url", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=" + asset +
                           "&signature=sim");
        w.end_object().end_object().end_array().end_object();
      });
    } else if (what == "story_replies") {
      auto story = str("story_id", next_id("181", 17));
      item = messaging_item(sender_id, acct.id, t, [&](meta_writer& w) {
        w.key("message").begin_object().field("mid", mid).field("text", text);
        w.key("reply_to").begin_object().key("story").begin_object().field("id", story);
        w.field("url", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=" + story +
                           "&signature=sim");
        w.end_object().end_object().end_object();
      });
    } else {
      field = "message_reactions";
      auto action = str("action", "react");
      item = messaging_item(sender_id, acct.id, t, [&](meta_writer& w) {
        w.key("reaction").begin_object().field("mid", str("mid")).field("action", action);
        if (action == "react")
          w.field("reaction", str("reaction", "love"))
              .field("emoji", str("emoji", "\xE2\x9D\xA4\xEF\xB8\x8F"));
        w.end_object();
      });
    }
    if (u && what != "reactions") {
      u->last_inbound = t;
      if (what != "postbacks" || opts.postback_grants_consent) u->consent = true;
    }
    if (what != "reactions")
      record_message(account_id, u ? u->id : account_id, false, what, text, item, mid);
    emit(acct, field, true, std::move(item));
    return created([&](meta_writer& w) { w.field("mid", mid); });
  }
  if (what == "tokens" && method == "POST") {
    if (segs.size() == 3 && (segs[2] == "expire" || segs[2] == "invalidate")) {
      auto it = tokens.find(str("token"));
      if (it == tokens.end()) return control_error(404, "unknown token");
      if (segs[2] == "expire")
        it->second.expires = now() - 1s;
      else
        it->second.invalidated = true;
      return success();
    }
    auto acct = accounts.find(str("account_id"));
    if (acct == accounts.end()) return control_error(404, "unknown account_id");
    auto kind = str("kind", "long");
    auto token = str("token", new_token());
    auto issued = now() - std::chrono::seconds(int_of(body, "age_seconds").value_or(0));
    auto life = kind == "short" ? short_lived : long_lived;
    if (auto e = int_of(body, "expires_in")) life = std::chrono::seconds(*e);
    tokens[token] = token_rec{token, acct->first, kind, issued, now() + life};
    return created([&](meta_writer& w) {
      w.field("access_token", token).field("expires_at", epoch_s(now() + life));
    });
  }
  if (what == "faults") {
    if (method == "DELETE") {
      faults.clear();
      return success();
    }
    if (method == "POST") {
      fault_rec f;
      f.id = ++fault_seq;
      f.kind = str("kind", "error");
      static const std::set<std::string> kinds = {"error", "latency", "http_status", "drop",
                                                  "write_then_error"};
      if (!kinds.count(f.kind))
        return control_error(400,
                             "kind must be error, latency, http_status, drop or write_then_error");
      f.method = str("method");
      f.path_contains = str("path_contains");
      f.account_id = str("account_id");
      f.code = static_cast<int>(int_of(body, "code").value_or(2));
      f.subcode = static_cast<int>(int_of(body, "subcode").value_or(0));
      f.http_status = static_cast<int>(int_of(body, "http_status").value_or(0));
      f.message = str("message");
      f.remaining = int_of(body, "count").value_or(-1);
      f.share = num_of(body, "share").value_or(1.0);
      f.latency_ms = static_cast<int>(int_of(body, "latency_ms").value_or(0));
      faults.push_back(f);
      return created([&](meta_writer& w) { w.field("id", static_cast<std::int64_t>(f.id)); });
    }
    if (method == "GET") {
      meta_writer w;
      w.begin_object().key("faults").begin_array();
      for (auto& f : faults) {
        w.begin_object().field("id", static_cast<std::int64_t>(f.id)).field("kind", f.kind);
        w.field("method", f.method)
            .field("path_contains", f.path_contains)
            .field("account_id", f.account_id);
        w.field("code", f.code).field("subcode", f.subcode).field("http_status", f.http_status);
        w.field("remaining", f.remaining).key("share").raw(std::to_string(f.share));
        w.field("latency_ms", f.latency_ms).field("hits", static_cast<std::int64_t>(f.hits));
        w.end_object();
      }
      w.end_array().end_object();
      return ok_json(w.take());
    }
  }
  if (what == "clock") {
    if (method == "POST") {
      if (auto adv = int_of(body, "advance_seconds")) clock_offset_us += *adv * 1000000;
      if (auto set = int_of(body, "set_epoch_seconds"))
        clock_offset_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              time_point(std::chrono::seconds(*set)) - sys_clock::now())
                              .count();
    }
    return created([&](meta_writer& w) {
      w.field("now", iso_time(now())).field("epoch_ms", epoch_ms(now()));
      w.field("offset_seconds", clock_offset_us.load() / 1000000);
    });
  }
  if (what == "config") {
    if (method == "POST") {
      sender->update([&](sender_settings& s) {
        if (auto v = str_of(body, "webhook_url")) s.url = *v;
        if (auto v = num_of(body, "duplicate_rate")) s.duplicate_rate = *v;
        if (auto v = int_of(body, "batch_window_ms")) s.batch_window_ms = static_cast<int>(*v);
        if (auto v = int_of(body, "batch_max")) s.batch_max = static_cast<int>(*v);
        if (auto v = int_of(body, "delivery_timeout_ms")) s.timeout_ms = static_cast<int>(*v);
        if (auto v = int_of(body, "max_attempts")) s.max_attempts = static_cast<int>(*v);
        if (auto v = int_of(body, "retry_base_ms")) s.retry_base_ms = static_cast<int>(*v);
      });
      if (auto v = int_of(body, "send_per_second")) opts.send_per_second = static_cast<int>(*v);
      if (auto v = int_of(body, "private_replies_per_hour"))
        opts.private_replies_per_hour = static_cast<int>(*v);
      if (auto v = int_of(body, "buc_calls_per_hour"))
        opts.buc_calls_per_hour = static_cast<int>(*v);
      if (auto v = int_of(body, "app_calls_per_hour"))
        opts.app_calls_per_hour = static_cast<int>(*v);
      if (auto v = bool_of(body, "require_subscription")) opts.require_subscription = *v;
      if (auto v = bool_of(body, "postback_grants_consent")) opts.postback_grants_consent = *v;
    }
    auto s = sender->settings();
    return created([&](meta_writer& w) {
      w.field("webhook_url", s.url).key("duplicate_rate").raw(std::to_string(s.duplicate_rate));
      w.field("batch_window_ms", s.batch_window_ms).field("batch_max", s.batch_max);
      w.field("delivery_timeout_ms", s.timeout_ms).field("max_attempts", s.max_attempts);
      w.field("retry_base_ms", s.retry_base_ms).field("send_per_second", opts.send_per_second);
      w.field("private_replies_per_hour", opts.private_replies_per_hour);
      w.field("buc_calls_per_hour", opts.buc_calls_per_hour)
          .field("app_calls_per_hour", opts.app_calls_per_hour);
      w.field("require_subscription", opts.require_subscription);
      w.field("postback_grants_consent", opts.postback_grants_consent);
    });
  }
  if (what == "webhooks" && segs.size() == 3 && segs[2] == "verify" && method == "POST") {
    auto url = str("url", sender->settings().url);
    if (url.empty()) return control_error(400, "no webhook URL");
    auto challenge = std::to_string(1000000000 + (rng() % 999999999));
    auto token = str("verify_token", opts.verify_token);
    http::client cl;
    http::client_request r;
    r.url = url + (url.find('?') == std::string::npos ? "?" : "&") +
            "hub.mode=subscribe&hub.challenge=" + challenge + "&hub.verify_token=" + token;
    r.timeout = std::chrono::seconds(5);
    auto res = cl.send_and_wait(r);
    return created([&](meta_writer& w) {
      w.field("status", res.status).field("body", res.body).field("error", res.error);
      w.field("challenge", challenge).field("verified", res.status == 200 && res.body == challenge);
    });
  }
  if (what == "calls" && method == "GET") {
    std::uint64_t since = 0;
    if (auto s = req.query_param("since")) since = std::strtoull(s->c_str(), nullptr, 10);
    meta_writer w;
    w.begin_object().key("calls").begin_array();
    for (auto& cr : calls) {
      if (cr.seq <= since) continue;
      w.begin_object().field("seq", static_cast<std::int64_t>(cr.seq));
      w.field("at", iso_time(cr.at)).field("at_ms", epoch_ms(cr.at));
      w.field("at_us",
              static_cast<std::int64_t>(
                  std::chrono::duration_cast<std::chrono::microseconds>(cr.at.time_since_epoch())
                      .count()));
      w.field("method", cr.method).field("path", cr.path).field("query", cr.query);
      w.field("body", cr.body).field("status", cr.status).field("response", cr.response);
      w.field("fault", cr.fault).end_object();
    }
    w.end_array().end_object();
    return ok_json(w.take());
  }
  if (what == "deliveries" && method == "GET") {
    std::uint64_t since = 0;
    if (auto s = req.query_param("since")) since = std::strtoull(s->c_str(), nullptr, 10);
    meta_writer w;
    w.begin_object().field("pending", static_cast<std::int64_t>(sender->pending()));
    w.key("skipped").begin_array();
    for (auto& s : skipped_events) w.string(s);
    w.end_array().key("deliveries").begin_array();
    for (auto& d : sender->log(since)) {
      w.begin_object().field("seq", static_cast<std::int64_t>(d.seq));
      w.field("delivery_id", static_cast<std::int64_t>(d.delivery_id));
      w.field("attempt", d.attempt).field("duplicate", d.duplicate).field("at_ms", d.at_ms);
      w.field("url", d.url).field("entries", d.entries).field("status", d.status);
      w.field("error", d.error).field("latency_us", d.latency_us);
      w.field("signature", d.signature).field("body", d.body).end_object();
    }
    w.end_array().end_object();
    return ok_json(w.take());
  }
  if (what == "messages" && method == "GET") {
    meta_writer w;
    w.begin_object().key("messages").begin_array();
    for (auto& m : messages) {
      w.begin_object().field("seq", static_cast<std::int64_t>(m.seq)).field("mid", m.mid);
      w.field("account_id", m.account_id).field("user_id", m.user_id);
      w.field("direction", m.outbound ? "out" : "in").field("kind", m.kind);
      w.field("text", m.text).field("comment_id", m.comment_id);
      w.field("at", iso_time(m.at)).key("json").raw(m.json.empty() ? "null" : m.json);
      w.end_object();
    }
    w.end_array().end_object();
    return ok_json(w.take());
  }
  if (what == "state" && method == "GET") {
    meta_writer w;
    w.begin_object().key("accounts").begin_array();
    for (auto& [id, a] : accounts) {
      w.begin_object().field("id", id).field("username", a.username);
      w.key("subscribed_fields").begin_array();
      for (auto& f : a.subscribed_fields) w.string(f);
      w.end_array().end_object();
    }
    w.end_array().key("comments").begin_array();
    for (auto& [id, c] : comments) {
      w.begin_object().field("id", id).field("media_id", c.media_id).field("from_id", c.from_id);
      w.field("text", c.text).field("parent_id", c.parent_id).field("hidden", c.hidden);
      w.field("deleted", c.deleted).field("private_reply_mid", c.private_reply_mid);
      w.field("timestamp", iso_time(c.created)).end_object();
    }
    w.end_array().key("users").begin_array();
    for (auto& [id, u] : users) {
      w.begin_object()
          .field("id", id)
          .field("account_id", u.account_id)
          .field("username", u.username);
      w.field("follows", u.follows_business).field("consent", u.consent);
      w.field("can_receive", u.can_receive);
      if (u.last_inbound) w.field("last_inbound", iso_time(*u.last_inbound));
      w.end_object();
    }
    w.end_array().end_object();
    return ok_json(w.take());
  }
  return control_error(404, "unknown control endpoint " + method + " " + req.path);
}

// ---- lifecycle -------------------------------------------------------------------------------

simulator::simulator(sim_options opts) : impl_(std::make_shared<impl>(std::move(opts))) {}

simulator::~simulator() {
  stop();
}

std::string simulator::start() {
  auto& o = impl_->opts;
  http::server_options so;
  so.host = o.host;
  so.port = o.port;
  so.threads = o.threads;
  std::weak_ptr<impl> weak = impl_;
  impl_->server =
      std::make_unique<http::server>(so, [weak](http::request&& req, http::responder r) {
        if (auto self = weak.lock()) self->handle(std::move(req), std::move(r));
      });
  sender_settings ss;
  ss.url = o.webhook_url;
  ss.app_secret = o.app_secret;
  ss.duplicate_rate = o.duplicate_rate;
  ss.batch_window_ms = o.batch_window_ms;
  ss.batch_max = o.batch_max;
  ss.timeout_ms = o.delivery_timeout_ms;
  ss.max_attempts = o.max_attempts;
  ss.retry_base_ms = o.retry_base_ms;
  ss.sha1_header = o.sha1_header;
  auto* srv = impl_->server.get();
  impl_->sender = std::make_unique<webhook_sender>(
      ss,
      [weak] {
        auto s = weak.lock();
        return s ? s->now() : sys_clock::now();
      },
      [srv](std::chrono::milliseconds d, std::function<void()> fn) {
        srv->schedule(d, std::move(fn));
      },
      impl_->rng());
  return impl_->server->start();
}

std::uint16_t simulator::port() const {
  return impl_->server ? impl_->server->port() : 0;
}

void simulator::stop() {
  // Deliveries first: none starts or retries while the server finishes its requests.
  if (impl_->sender) impl_->sender->stop();
  if (impl_->server) impl_->server->stop(std::chrono::milliseconds(200));
}

}  // namespace komentra::sim
