#include "http/message.hpp"

#include <strings.h>

#include "common/json_writer.hpp"
#include "common/utf8.hpp"

namespace komentra::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string_view request::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

std::size_t request::header_count(std::string_view name) const {
  std::size_t n = 0;
  for (auto& h : headers)
    if (iequals(h.first, name)) ++n;
  return n;
}

std::optional<std::string> request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto pair = q.substr(0, amp);
    auto eq = pair.find('=');
    auto raw_key = pair.substr(0, eq);
    auto key = percent_decode(raw_key);
    if (key && *key == name)
      return eq == std::string_view::npos ? std::optional<std::string>("")
                                          : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  // Decoded bytes that are not UTF-8 name nothing here, and PostgreSQL would refuse them.
  if (!valid_utf8(out)) return std::nullopt;
  return out;
}

response response::json(int status, std::string body) {
  return {status, "application/json", std::move(body), {}};
}

response response::text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

response response::error(int status, std::string_view code, std::string_view message) {
  json::writer w;
  w.begin_object().key("error").begin_object().field("code", code).field("message", message);
  w.end_object().end_object();
  return json(status, w.take());
}

response response::error(int status, std::string_view code, std::string_view message,
                         std::string_view field) {
  json::writer w;
  w.begin_object().key("error").begin_object().field("code", code).field("message", message);
  w.field("field", field).end_object().end_object();
  return json(status, w.take());
}

response response::unavailable(std::string_view message, int retry_after_s) {
  auto res = error(503, "unavailable", message);
  res.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  return res;
}

response response::body_too_large(std::size_t limit_bytes) {
  return error(
      413, "body_too_large",
      "the request body is larger than the limit of " + std::to_string(limit_bytes) + " bytes");
}

}  // namespace komentra::http
