#include "http/api/support.hpp"

#include <argon2.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/json_writer.hpp"
#include "config/settings.hpp"
#include "http/health_routes.hpp"
#include "http/server.hpp"
#include "storage/pool.hpp"

namespace komentra::http::api {

namespace od = simdjson::ondemand;

namespace {

// JSON's number grammar (RFC 8259 §6): no leading zeros ("007"), which simdjson's raw token
// lets through.
bool valid_number(std::string_view t) {
  std::size_t i = 0;
  if (i < t.size() && t[i] == '-') ++i;
  std::size_t digits = i;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
  if (i == digits) return false;
  if (t[digits] == '0' && i - digits > 1) return false;
  if (i < t.size() && t[i] == '.') {
    ++i;
    std::size_t f = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    if (i == f) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    std::size_t e = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    if (i == e) return false;
  }
  return i == t.size();
}

bool convert(od::value v, jvalue& out, int depth, std::string& err);

bool convert_object(od::object o, jvalue& out, int depth, std::string& err) {
  out.k = jvalue::kind::object;
  for (auto field : o) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return err = simdjson::error_message(e), false;
    if (key.find('\0') != std::string_view::npos)
      return err = "strings must not contain U+0000 (NUL)", false;
    jvalue child;
    od::value fv;
    if (auto e = field.value().get(fv)) return err = simdjson::error_message(e), false;
    if (!convert(fv, child, depth + 1, err)) return false;
    out.members.emplace_back(std::string(key), std::move(child));
  }
  return true;
}

bool convert(od::value v, jvalue& out, int depth, std::string& err) {
  if (depth <= 0) return err = "JSON nested too deeply", false;
  od::json_type t;
  if (auto e = v.type().get(t)) return err = simdjson::error_message(e), false;
  switch (t) {
    case od::json_type::object: {
      od::object o;
      if (auto e = v.get_object().get(o)) return err = simdjson::error_message(e), false;
      return convert_object(o, out, depth, err);
    }
    case od::json_type::array: {
      out.k = jvalue::kind::array;
      od::array a;
      if (auto e = v.get_array().get(a)) return err = simdjson::error_message(e), false;
      for (auto el : a) {
        od::value ev;
        if (auto e = el.get(ev)) return err = simdjson::error_message(e), false;
        jvalue child;
        if (!convert(ev, child, depth - 1, err)) return false;
        out.items.push_back(std::move(child));
      }
      return true;
    }
    case od::json_type::number: {
      out.k = jvalue::kind::number;
      std::string_view raw = v.raw_json_token();
      while (!raw.empty() &&
             (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
      if (!valid_number(raw)) return err = "malformed number", false;
      out.text = std::string(raw);
      return true;
    }
    case od::json_type::string: {
      out.k = jvalue::kind::string;
      std::string_view s;
      if (auto e = v.get_string().get(s)) return err = simdjson::error_message(e), false;
      // PostgreSQL text cannot hold NUL: it would fail the request or cut the value short.
      if (s.find('\0') != std::string_view::npos)
        return err = "strings must not contain U+0000 (NUL)", false;
      out.text = std::string(s);
      return true;
    }
    case od::json_type::boolean: {
      out.k = jvalue::kind::boolean;
      if (auto e = v.get_bool().get(out.b)) return err = simdjson::error_message(e), false;
      return true;
    }
    case od::json_type::null: {
      bool is_null = false;
      if (v.is_null().get(is_null) || !is_null) return err = "malformed null", false;
      out.k = jvalue::kind::null;
      return true;
    }
  }
  return err = "unexpected JSON value", false;
}

int role_rank(std::string_view role) {
  return role == "owner" ? 3 : role == "admin" ? 2 : role == "member" ? 1 : 0;
}

bool parse_id(const std::string& text, std::int64_t& out) {
  if (text.empty() || text.size() > 18) return false;
  for (char ch : text)
    if (ch < '0' || ch > '9') return false;
  out = std::stoll(text);
  return true;
}

/// Checks session, role and ownership; returns an error response when the caller may not go on.
std::optional<response> authorize(pqxx::work& w, api_context& ctx, access level, caller& c) {
  if (level == access::open || level == access::callback) return std::nullopt;
  auto rows = w.exec_params(
      "UPDATE sessions s SET last_seen_at = now() FROM users u "
      "WHERE s.id_hash = $1 AND u.id = s.user_id AND s.expires_at > now() "
      "AND s.last_seen_at > now() - make_interval(mins => $2) RETURNING s.user_id, u.email",
      c.session_hash, static_cast<int>(ctx.cfg.integer("auth.session_idle_minutes")));
  if (rows.empty()) {
    w.exec_params0("DELETE FROM sessions WHERE id_hash = $1", c.session_hash);
    return response::error(401, "unauthenticated", "sign in first (no valid session)");
  }
  c.user_id = rows[0][0].as<std::int64_t>();
  c.email = rows[0][1].as<std::string>();
  if (level == access::session) return std::nullopt;
  auto ws = c.params.find("workspace_id");
  if (ws == c.params.end() || !parse_id(ws->second, c.workspace_id)) return not_found("workspace");
  auto role = w.exec_params("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                            c.workspace_id, c.user_id);
  if (role.empty()) return not_found("workspace");
  c.role = role[0][0].as<std::string>();
  int need = level == access::owner ? 3 : level == access::admin ? 2 : 1;
  if (role_rank(c.role) < need)
    return forbidden("your role in this workspace (" + c.role + ") does not allow this");
  if (auto a = c.params.find("account_id"); a != c.params.end()) {
    auto acc = w.exec_params("SELECT 1 FROM ig_accounts WHERE id = $1 AND workspace_id = $2",
                             a->second, c.workspace_id);
    if (acc.empty()) return not_found("account");
    if (auto au = c.params.find("automation_id"); au != c.params.end()) {
      std::int64_t id = 0;
      if (!parse_id(au->second, id)) return not_found("automation");
      if (w.exec_params("SELECT 1 FROM automations WHERE id = $1 AND account_id = $2", id,
                        a->second)
              .empty())
        return not_found("automation");
    }
  }
  return std::nullopt;
}

std::string rfc2822_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string address_of(const std::string& from) {
  auto lt = from.find('<');
  auto gt = from.find('>');
  if (lt != std::string::npos && gt != std::string::npos && gt > lt)
    return from.substr(lt + 1, gt - lt - 1);
  return from;
}

/// Plain SMTP (RFC 5321) with blocking sockets and 10 s timeouts, run on its own thread.
std::string smtp_send(const std::string& host, int port, const std::string& from,
                      const std::string& to, const std::string& message) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    return "cannot resolve " + host;
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  bool connected = fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  if (!connected) {
    if (fd >= 0) close(fd);
    return "cannot connect to " + host;
  }
  auto reply = [&](char expect) -> bool {
    std::string line;
    char ch;
    while (true) {
      line.clear();
      while (recv(fd, &ch, 1, 0) == 1) {
        line.push_back(ch);
        if (ch == '\n') break;
      }
      if (line.size() < 4) return false;
      if (line[3] != '-') return line[0] == expect;
    }
  };
  auto say = [&](const std::string& s) {
    return send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  };
  std::string dotted;
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) dotted += '\r';
    dotted += message[i];
    if (message[i] == '\n' && i + 1 < message.size() && message[i + 1] == '.') dotted += '.';
  }
  bool ok = reply('2') && say("EHLO komentra\r\n") && reply('2') &&
            say("MAIL FROM:<" + address_of(from) + ">\r\n") && reply('2') &&
            say("RCPT TO:<" + to + ">\r\n") && reply('2') && say("DATA\r\n") && reply('3') &&
            say(dotted + "\r\n.\r\n") && reply('2');
  say("QUIT\r\n");
  close(fd);
  return ok ? std::string() : "the SMTP server refused the message";
}

}  // namespace

const jvalue* jvalue::get(std::string_view key) const {
  for (auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

std::optional<jvalue> parse_json(std::string& text, std::string& error, int max_depth) {
  thread_local od::parser parser;
  text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (auto e = parser.iterate(text).get(doc)) {
    error = simdjson::error_message(e);
    return std::nullopt;
  }
  jvalue root;
  od::json_type t;
  if (auto e = doc.type().get(t)) {
    error = simdjson::error_message(e);
    return std::nullopt;
  }
  if (t == od::json_type::object) {
    od::object o;
    if (auto e = doc.get_object().get(o)) {
      error = simdjson::error_message(e);
      return std::nullopt;
    }
    if (!convert_object(o, root, max_depth, error)) return std::nullopt;
  } else if (t == od::json_type::array) {
    od::array a;
    if (auto e = doc.get_array().get(a)) {
      error = simdjson::error_message(e);
      return std::nullopt;
    }
    root.k = jvalue::kind::array;
    for (auto el : a) {
      od::value ev;
      if (auto e = el.get(ev)) {
        error = simdjson::error_message(e);
        return std::nullopt;
      }
      jvalue child;
      if (!convert(ev, child, max_depth - 1, error)) return std::nullopt;
      root.items.push_back(std::move(child));
    }
  } else {
    error = "expected a JSON object or array";
    return std::nullopt;
  }
  return root;
}

body_reader::body_reader(std::string& body, std::vector<std::string_view> allowed) {
  root_.k = jvalue::kind::object;
  bool blank = body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) return;
  std::string err;
  auto parsed = parse_json(body, err);
  if (!parsed) {
    fail("", "the body is not valid JSON: " + err);
    return;
  }
  if (parsed->k != jvalue::kind::object) {
    fail("", "the body must be a JSON object");
    return;
  }
  root_ = std::move(*parsed);
  for (std::size_t i = 0; i < root_.members.size(); ++i) {
    auto& name = root_.members[i].first;
    bool known = false;
    for (auto a : allowed) known = known || a == name;
    if (!known) {
      fail(name, "unknown field");
      return;
    }
    for (std::size_t j = 0; j < i; ++j)
      if (root_.members[j].first == name) {
        fail(name, "field given twice");
        return;
      }
  }
}

void body_reader::fail(std::string field, std::string message) {
  if (!ok()) return;
  error_field_ = field.empty() ? std::string("body") : std::move(field);
  error_ = std::move(message);
}

response body_reader::error_response() const {
  return response::error(400, "invalid_request", error_, error_field_);
}

bool body_reader::has(std::string_view name) const {
  auto v = root_.get(name);
  return v && v->k != jvalue::kind::null;
}

const jvalue* body_reader::raw(std::string_view name) const {
  return root_.get(name);
}

std::optional<std::string> body_reader::str(std::string_view name, std::size_t max_bytes,
                                            bool required) {
  auto v = root_.get(name);
  if (!v || v->k == jvalue::kind::null) {
    if (required) fail(std::string(name), "required");
    return std::nullopt;
  }
  if (v->k != jvalue::kind::string)
    return fail(std::string(name), "must be a string"), std::nullopt;
  if (v->text.size() > max_bytes)
    return fail(std::string(name), "at most " + std::to_string(max_bytes) + " bytes (got " +
                                       std::to_string(v->text.size()) + ")"),
           std::nullopt;
  if (required && v->text.empty())
    return fail(std::string(name), "must not be empty"), std::nullopt;
  return v->text;
}

std::optional<std::int64_t> body_reader::integer(std::string_view name, std::int64_t min,
                                                 std::int64_t max, bool required) {
  auto v = root_.get(name);
  if (!v || v->k == jvalue::kind::null) {
    if (required) fail(std::string(name), "required");
    return std::nullopt;
  }
  bool digits = v->k == jvalue::kind::number && v->text.size() <= 18 &&
                v->text.find_first_of(".eE") == std::string::npos;
  if (!digits) return fail(std::string(name), "must be a whole number"), std::nullopt;
  auto n = std::stoll(v->text);
  if (n < min || n > max)
    return fail(std::string(name),
                "must be from " + std::to_string(min) + " to " + std::to_string(max)),
           std::nullopt;
  return n;
}

std::optional<bool> body_reader::boolean(std::string_view name) {
  auto v = root_.get(name);
  if (!v || v->k == jvalue::kind::null) return std::nullopt;
  if (v->k != jvalue::kind::boolean)
    return fail(std::string(name), "must be true or false"), std::nullopt;
  return v->b;
}

std::optional<std::vector<std::string>> body_reader::strings(std::string_view name,
                                                             std::size_t max_items,
                                                             std::size_t max_bytes_each) {
  auto v = root_.get(name);
  if (!v || v->k == jvalue::kind::null) return std::nullopt;
  if (v->k != jvalue::kind::array)
    return fail(std::string(name), "must be an array of strings"), std::nullopt;
  if (v->items.size() > max_items)
    return fail(std::string(name), "at most " + std::to_string(max_items) + " items"), std::nullopt;
  std::vector<std::string> out;
  for (auto& item : v->items) {
    if (item.k != jvalue::kind::string)
      return fail(std::string(name), "must be an array of strings"), std::nullopt;
    if (item.text.size() > max_bytes_each)
      return fail(std::string(name),
                  "each item at most " + std::to_string(max_bytes_each) + " bytes"),
             std::nullopt;
    out.push_back(item.text);
  }
  return out;
}

void run_db(api_context& ctx, responder respond,
            std::function<std::optional<response>(pqxx::work&)> fn,
            std::function<void()> on_commit) {
  bool queued = ctx.db.submit(
      [respond, fn, on_commit](pqxx::connection& conn) {
        pqxx::work w{conn};
        std::optional<response> res;
        try {
          res = fn(w);
        } catch (const pqxx::broken_connection&) {
          throw;
        } catch (const std::exception& e) {
          spdlog::error("api: request failed: {}", e.what());
          return respond(response::error(500, "internal", "the request failed; see the log"));
        }
        w.commit();
        if (on_commit) on_commit();
        if (res) respond(std::move(*res));
      },
      [respond](const std::string& reason) {
        spdlog::warn("api: database unavailable: {}", reason);
        respond(response::unavailable("the database is unavailable", 5));
      });
  if (!queued) respond(response::unavailable("the database queue is full", 5));
}

void add(router& r, api_context& ctx, std::string method, std::string pattern, access level,
         prepare_fn prepare) {
  bool write = method != "GET" && method != "HEAD";
  add_plain(
      r, method, pattern,
      [&ctx, level, prepare, write](request&& req, const path_params& params, responder respond) {
        respond = with_deadline(ctx.srv, std::chrono::seconds(15), respond,
                                response::unavailable("the request did not finish within 15 s", 5));
        caller c;
        c.params = params;
        c.ip = req.remote_address;
        c.user_agent = std::string(req.header("user-agent").substr(0, 300));
        c.respond = respond;
        if (write && level != access::callback && req.header("x-requested-with").empty())
          return respond(
              forbidden("writes need the X-Requested-With header (protection against cross-site "
                        "requests)"));
        if (level != access::open && level != access::callback) {
          auto cookie = session_cookie_value(req);
          if (cookie.empty())
            return respond(response::error(401, "unauthenticated", "sign in first"));
          c.session_hash = token_hash(cookie);
        }
        auto prepared = prepare(req, c);
        db_fn fn;
        if (auto* res = std::get_if<response>(&prepared)) {
          if (level == access::open || level == access::callback) return respond(std::move(*res));
          // Who may not use the route learns nothing, not even what a valid body is.
          fn = [res = std::move(*res)](pqxx::work&, caller&) -> std::optional<response> {
            return res;
          };
        } else {
          fn = std::get<db_fn>(std::move(prepared));
        }
        auto after = c.after_commit;
        run_db(
            ctx, respond,
            [&ctx, level, c = std::move(c), fn](pqxx::work& w) mutable -> std::optional<response> {
              if (auto denied = authorize(w, ctx, level, c)) return denied;
              return fn(w, c);
            },
            [after] {
              for (auto& f : *after) f();
            });
      });
}

void add_plain(router& r, std::string method, std::string pattern, route_handler h) {
  r.add(std::move(method), std::move(pattern),
        [h = std::move(h)](request&& req, const path_params& params, responder respond) {
          if (req.body.size() > body_limit_bytes)
            return respond(response::body_too_large(body_limit_bytes));
          h(std::move(req), params, std::move(respond));
        });
}

response json_ok(int status, std::string body) {
  auto res = response::json(status, std::move(body));
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

response field_error(std::string_view field, std::string_view message) {
  return response::error(400, "invalid_request", message, field);
}

response not_found(std::string_view what) {
  return response::error(404, "not_found", "no such " + std::string(what));
}

response forbidden(std::string_view message) {
  return response::error(403, "forbidden", message);
}

std::string new_token() {
  return crypto::base64url_encode(crypto::random_bytes(32));
}

std::string token_hash(std::string_view token) {
  return crypto::to_hex(crypto::sha256(token));
}

std::string session_cookie_value(const request& req) {
  std::string_view header = req.header("cookie");
  constexpr std::string_view name = "komentra_session=";
  while (!header.empty()) {
    auto semi = header.find(';');
    auto part = header.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.substr(0, name.size()) == name) {
      auto v = part.substr(name.size());
      if (v.size() == 43) return std::string(v);
      return {};
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return {};
}

bool valid_email(std::string_view email) {
  if (email.size() < 3 || email.size() > 254) return false;
  auto at = email.find('@');
  if (at == 0 || at == std::string_view::npos || at != email.rfind('@')) return false;
  auto domain = email.substr(at + 1);
  if (domain.find('.') == std::string_view::npos || domain.front() == '.' || domain.back() == '.')
    return false;
  for (unsigned char ch : email)
    if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>' || ch == ',' || ch == ';' || ch == '"' ||
        ch == '(' || ch == ')' || ch == '\\')
      return false;
  return true;
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (auto& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return out;
}

void security_event(pqxx::work& w, std::int64_t user_id, std::string_view kind, const caller& c,
                    bool retain) {
  w.exec_params0(
      "INSERT INTO security_events (user_id, kind, ip, user_agent, retain) VALUES ($1, $2, $3, "
      "$4, $5)",
      user_id, std::string(kind), c.ip, c.user_agent, retain);
}

std::string public_url(const api_context& ctx, std::string_view path) {
  std::string base = ctx.cfg.str("public_base_url");
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + std::string(path);
}

std::string hash_password(const api_context& ctx, std::string_view password) {
  return hash_password(ctx.cfg, password);
}

std::string hash_password(const config::settings& cfg, std::string_view password) {
  auto m = static_cast<std::uint32_t>(cfg.integer("auth.argon2_memory_kib"));
  auto t = static_cast<std::uint32_t>(cfg.integer("auth.argon2_iterations"));
  auto salt = crypto::random_bytes(16);
  std::string out(argon2_encodedlen(t, m, 1, 16, 32, Argon2_id), '\0');
  int rc = argon2id_hash_encoded(t, m, 1, password.data(), password.size(), salt.data(), 16, 32,
                                 out.data(), out.size());
  if (rc != ARGON2_OK) throw std::runtime_error(argon2_error_message(rc));
  out.resize(std::strlen(out.c_str()));
  return out;
}

bool verify_password(std::string_view encoded, std::string_view password) {
  std::string enc(encoded);
  return argon2id_verify(enc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

std::string password_problem(std::string_view password, std::string_view email) {
  std::size_t chars = 0;
  for (unsigned char ch : password)
    if ((ch & 0xC0) != 0x80) ++chars;
  if (chars < 10) return "at least 10 characters";
  if (password.size() > 256) return "at most 256 bytes";
  if (lower_ascii(password) == lower_ascii(email)) return "must differ from the email address";
  if (password.find_first_not_of(password[0]) == std::string_view::npos)
    return "must not repeat a single character";
  static const char* common[] = {"1234567890", "0123456789", "password12", "password123",
                                 "qwertyuiop", "1111111111", "iloveyou12", "passw0rd12",
                                 "1q2w3e4r5t", "qwerty1234", "abcdefghij", "komentra12"};
  auto lower = lower_ascii(password);
  for (auto c : common)
    if (lower == c) return "is a commonly used password";
  return {};
}

std::string outbox_dir(const api_context& ctx) {
  auto dir = ctx.cfg.str("mail.outbox_dir");
  if (!dir.empty()) return dir;
  return ctx.cfg.str("data_dir") + "/outbox";
}

namespace {

void deliver_mail(const api_context& ctx, const std::string& to, const std::string& subject,
                  const std::string& text) {
  auto from = ctx.cfg.str("mail.from");
  auto id = crypto::to_hex(crypto::random_bytes(8));
  std::string msg = "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject +
                    "\r\nDate: " + rfc2822_now() + "\r\nMessage-ID: <" + id +
                    "@komentra>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; "
                    "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
                    text + "\r\n";
  auto host = ctx.cfg.str("mail.smtp_host");
  if (!host.empty()) {
    int port = static_cast<int>(ctx.cfg.integer("mail.smtp_port"));
    std::thread([host, port, from, to, msg, subject] {
      auto err = smtp_send(host, port, from, to, msg);
      if (!err.empty()) spdlog::warn("mail: \"{}\" was not sent: {}", subject, err);
    }).detach();
    return;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = outbox_dir(ctx);
  fs::create_directories(dir, ec);
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  auto name = std::string(stamp) + "-" + id + ".eml";
  auto tmp = dir / ("." + name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary);
    out << msg;
    if (!out) {
      spdlog::warn("mail: cannot write {} (mail.outbox_dir)", tmp.string());
      return;
    }
  }
  fs::rename(tmp, dir / name, ec);
  if (ec) spdlog::warn("mail: cannot write {}: {}", (dir / name).string(), ec.message());
}

}  // namespace

void send_mail(const api_context& ctx, caller& c, const std::string& to, const std::string& subject,
               const std::string& text) {
  c.after_commit->push_back([&ctx, to, subject, text] { deliver_mail(ctx, to, subject, text); });
}

bool path_id(const caller& c, const char* name, std::int64_t& out) {
  auto it = c.params.find(name);
  return it != c.params.end() && parse_id(it->second, out);
}

std::string at_utc(const char* column) {
  return std::string("to_char(") + column +
         " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
}

}  // namespace komentra::http::api
