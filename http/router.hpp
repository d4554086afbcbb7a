#pragma once
/// Maps (method, path pattern) to handlers. Patterns are literal segments and
/// `{name}` placeholders ("/admin/actors/{account_id}"); placeholders are passed to the
/// handler. Unknown paths get 404, a known path with another method 405. The route list
/// is also what the OpenAPI document is checked against.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "http/message.hpp"

namespace komentra::http {

using path_params = std::map<std::string, std::string>;
using route_handler = std::function<void(request&&, const path_params&, responder)>;

struct route {
  std::string method;
  std::string pattern;
  route_handler handle;
};

/// Told about every answered request: the route pattern ("unmatched" for unknown paths),
/// the request method, the status and the time from dispatch to the answer.
using request_observer = std::function<void(std::string_view pattern, std::string_view method,
                                            int status, std::chrono::steady_clock::duration)>;

class router {
 public:
  void add(std::string method, std::string pattern, route_handler h);
  /// Installs the observer (metrics); set before the server starts.
  void observe(request_observer o) { observer_ = std::move(o); }
  /// Dispatches one request (the server's handler).
  void operator()(request&& req, responder respond) const;
  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
  request_observer observer_;
};

/// Whether `path` matches `pattern`; fills `params` on success.
bool match_path(const std::string& pattern, const std::string& path, path_params& params);

}  // namespace komentra::http
