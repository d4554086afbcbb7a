#pragma once
/// Plain request and response values exchanged between the HTTP server and its
/// handlers, so handlers and their tests never include Beast. Header names are stored
/// in lower case.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace komentra::http {

struct request {
  std::string method;  ///< GET, POST, ...
  std::string target;  ///< path and query, as sent
  std::string path;    ///< target up to '?'
  std::string query;   ///< after '?', undecoded
  std::vector<std::pair<std::string, std::string>> headers;
  /// Exact body bytes. Its capacity has at least 64 spare bytes (simdjson padding).
  std::string body;
  std::string remote_address;

  /// The first header of that (case-insensitive) name, or empty.
  std::string_view header(std::string_view name) const;
  /// How many headers of that name there are.
  std::size_t header_count(std::string_view name) const;
  /// A percent-decoded query parameter; nullopt when absent or badly encoded.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// Fault injection (simulator): close the connection instead of writing this response.
  bool close_without_answer = false;

  static response json(int status, std::string body);
  static response text(int status, std::string body);
  /// {"error":{"code":code,"message":message}} with the given status.
  static response error(int status, std::string_view code, std::string_view message);
  /// The same with a "field" member naming the request field that failed validation.
  static response error(int status, std::string_view code, std::string_view message,
                        std::string_view field);
  /// 503 "unavailable" with Retry-After: try again later, nothing was done.
  static response unavailable(std::string_view message, int retry_after_s);
  /// 413 "body_too_large", naming the limit the body went over.
  static response body_too_large(std::size_t limit_bytes);
};

/// Completes a request; call exactly once, from any thread.
using responder = std::function<void(response)>;
/// Handles one request; must not block (hand slow work to actors or the database pool).
using handler = std::function<void(request&&, responder)>;

/// Decodes %XX and '+' of a URL query component; nullopt on a malformed escape or when the
/// decoded bytes are not UTF-8.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace komentra::http
