#pragma once
/// What every dashboard API handler shares: an owned JSON tree parsed with simdjson
/// On-Demand (depth and size bounded), a body reader that rejects unknown fields and
/// records the first invalid one, the caller resolved from the session cookie, and
/// `api::add`, which registers a route with its access level. A route's `prepare` runs on
/// the HTTP thread (parsing, validation: no I/O); its database part runs on a pool worker
/// inside one transaction, after the session, CSRF header, workspace role and account
/// ownership have been checked. Failures are HTTP statuses with
/// {"error":{"code","message","field"}}; a body over body_limit_bytes answers 413 before
/// anything else (whatever the route reads); a database outage answers 503 with Retry-After.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <pqxx/pqxx>

#include "http/api_context.hpp"
#include "http/router.hpp"

namespace komentra::http::api {

/// Every route of the API answers a larger request body with 413 (response::body_too_large).
inline constexpr std::size_t body_limit_bytes = 64 * 1024;

struct jvalue {
  enum class kind { null, boolean, number, string, array, object };
  kind k = kind::null;
  bool b = false;
  std::string text;  ///< a string's value, or a number's exact source digits
  std::vector<jvalue> items;
  std::vector<std::pair<std::string, jvalue>> members;

  const jvalue* get(std::string_view key) const;
};

/// Parses a JSON document (the string gets simdjson padding); nullopt with `error` set on
/// malformed input or nesting deeper than `max_depth`.
std::optional<jvalue> parse_json(std::string& text, std::string& error, int max_depth = 8);

/// Reads a request body object field by field; the first problem wins.
class body_reader {
 public:
  /// Parses `req.body` (an empty body is an empty object) and rejects fields not in `allowed`.
  body_reader(std::string& body, std::vector<std::string_view> allowed);

  bool ok() const { return error_field_.empty() && error_.empty(); }
  response error_response() const;
  void fail(std::string field, std::string message);

  bool has(std::string_view name) const;
  /// A string of at most `max_bytes` bytes of valid UTF-8 (optionally required non-empty).
  std::optional<std::string> str(std::string_view name, std::size_t max_bytes, bool required);
  std::optional<std::int64_t> integer(std::string_view name, std::int64_t min, std::int64_t max,
                                      bool required);
  std::optional<bool> boolean(std::string_view name);
  std::optional<std::vector<std::string>> strings(std::string_view name, std::size_t max_items,
                                                  std::size_t max_bytes_each);
  const jvalue* raw(std::string_view name) const;

 private:
  jvalue root_;
  std::string error_, error_field_;
};

enum class access {
  open,      ///< no session (sign-up, login, reset, contact form); writes need the CSRF header
  callback,  ///< no session and no CSRF header (Meta's server-to-server callbacks, links)
  session,   ///< any signed-in user
  member,    ///< a member of the path's workspace (read-only role suffices)
  admin,     ///< owner or admin of the path's workspace
  owner,     ///< owner of the path's workspace
};

struct caller {
  std::int64_t user_id = 0;
  std::string email;
  std::string session_hash;  ///< SHA-256 hex of the session cookie
  std::int64_t workspace_id = 0;
  std::string role;
  std::string ip, user_agent;
  path_params params;
  responder respond;  ///< for handlers that finish asynchronously
  /// Run after the transaction committed, before the response is sent (engine hooks).
  std::shared_ptr<std::vector<std::function<void()>>> after_commit =
      std::make_shared<std::vector<std::function<void()>>>();
};

/// The database part of a route. Returns the response, or nullopt when it will call
/// `caller.respond` itself later (after a Graph API call, say). Runs on a pool worker.
using db_fn = std::function<std::optional<response>(pqxx::work&, caller&)>;
/// The HTTP-thread part: validates the request and returns either an answer or the
/// database part.
using prepared = std::variant<response, db_fn>;
using prepare_fn = std::function<prepared(request&, caller&)>;

/// Registers a route. Paths with {workspace_id} check membership and role; with
/// {account_id} also that the account belongs to that workspace; with {automation_id} that
/// the automation belongs to that account.
void add(router& r, api_context& ctx, std::string method, std::string pattern, access level,
         prepare_fn prepare);
/// A route that needs no database at all (openapi.json); like every route of the API, it
/// answers a body over body_limit_bytes with 413.
void add_plain(router& r, std::string method, std::string pattern, route_handler h);

/// Runs `fn` on the pool in a transaction without any session logic (used by background
/// steps after a response was chosen, and by open routes that need none).
void run_db(api_context& ctx, responder respond,
            std::function<std::optional<response>(pqxx::work&)> fn,
            std::function<void()> on_commit = {});

// Helpers used across the route files.
response json_ok(int status, std::string body);
response field_error(std::string_view field, std::string_view message);
response not_found(std::string_view what);
response forbidden(std::string_view message);
std::string new_token();                         ///< 256 random bits, base64url
std::string token_hash(std::string_view token);  ///< SHA-256 hex
std::string session_cookie_value(const request& req);
bool valid_email(std::string_view email);
std::string lower_ascii(std::string_view s);
/// Records a security event (sign-in, password change, ...).
void security_event(pqxx::work& w, std::int64_t user_id, std::string_view kind, const caller& c,
                    bool retain);
std::string public_url(const api_context& ctx, std::string_view path);
/// The path parameter `name` as a positive id; false when absent or not digits.
bool path_id(const caller& c, const char* name, std::int64_t& out);
/// SQL for a timestamptz column as ISO 8601 UTC text ("2026-12-04T07:51:00Z").
std::string at_utc(const char* column);

// Password hashing (argon2id; parameters from config, recorded in each encoded hash).
std::string hash_password(const config::settings& cfg, std::string_view password);
std::string hash_password(const api_context& ctx, std::string_view password);
bool verify_password(std::string_view encoded, std::string_view password);
/// Empty when acceptable, else why not.
std::string password_problem(std::string_view password, std::string_view email);

// Email: SMTP when configured, else one .eml file per message in the outbox directory.
// Queued on the caller and sent only once its transaction has committed, so no email
// carries a token that was rolled back, and whoever reads the email finds the rows.
void send_mail(const api_context& ctx, caller& c, const std::string& to, const std::string& subject,
               const std::string& text);
std::string outbox_dir(const api_context& ctx);

// Route groups.
void add_auth_routes(router& r, api_context& ctx);
void add_workspace_routes(router& r, api_context& ctx);
void add_instagram_routes(router& r, api_context& ctx);
void add_automation_routes(router& r, api_context& ctx);
void add_analytics_routes(router& r, api_context& ctx);
void add_privacy_routes(router& r, api_context& ctx);
void add_notification_routes(router& r, api_context& ctx);
/// GET /api/v1/openapi.json; register last (the document lists the routes it describes).
void add_openapi_route(router& r);
/// The OpenAPI 3 document.
const std::string& openapi_document();
/// Removes an Instagram account and everything derived from it (tokens, automations,
/// analytics, audience, journal); returns whether it existed. Caller notifies the engine.
bool purge_account(pqxx::work& w, const std::string& account_id);

}  // namespace komentra::http::api
