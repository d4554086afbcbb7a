#include "http/router.hpp"

#include <atomic>
#include <memory>

namespace komentra::http {

namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

}  // namespace

bool match_path(const std::string& pattern, const std::string& path, path_params& params) {
  if (path.empty() || path[0] != '/') return false;
  auto ps = segments(pattern), xs = segments(path);
  if (ps.size() != xs.size()) return false;
  path_params found;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    auto p = ps[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      if (xs[i].empty()) return false;
      auto decoded = percent_decode(xs[i]);
      if (!decoded) return false;
      found[std::string(p.substr(1, p.size() - 2))] = *decoded;
    } else if (p != xs[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

void router::add(std::string method, std::string pattern, route_handler h) {
  routes_.push_back({std::move(method), std::move(pattern), std::move(h)});
}

namespace {

// Only the first answer counts: a deadline that fires after the real answer (with_deadline)
// calls respond again, and the server drops that second answer.
responder observed(const request_observer& observer, std::string_view pattern,
                   const std::string& method, responder respond) {
  return [observer, pattern, method, start = std::chrono::steady_clock::now(),
          answered = std::make_shared<std::atomic<bool>>(false),
          respond = std::move(respond)](response res) {
    if (!answered->exchange(true))
      observer(pattern, method, res.status, std::chrono::steady_clock::now() - start);
    respond(std::move(res));
  };
}

}  // namespace

void router::operator()(request&& req, responder respond) const {
  bool path_known = false;
  std::string allowed;
  for (auto& r : routes_) {
    path_params params;
    if (!match_path(r.pattern, req.path, params)) continue;
    path_known = true;
    if (r.method == req.method) {
      // Patterns live as long as the router, so the observer may keep a view of one.
      if (observer_) respond = observed(observer_, r.pattern, req.method, std::move(respond));
      return r.handle(std::move(req), params, std::move(respond));
    }
    allowed += (allowed.empty() ? "" : ", ") + r.method;
  }
  if (observer_)
    respond = observed(observer_, path_known ? "method_not_allowed" : "unmatched", req.method,
                       std::move(respond));
  if (!path_known)
    return respond(response::error(404, "not_found", "no such endpoint: " + req.path));
  auto res = response::error(405, "method_not_allowed", "use " + allowed);
  res.headers.emplace_back("Allow", allowed);
  respond(std::move(res));
}

}  // namespace komentra::http
