#include "protocol/handshake_check.hpp"

#include <cctype>

namespace komentra::protocol {

namespace {

bool looks_like_html(std::string_view content_type, std::string_view body) {
  if (content_type.find("html") != std::string_view::npos) return true;
  auto first = body.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && body[first] == '<';
}

// The start of a body, printable ASCII only, for a message.
std::string excerpt(std::string_view body) {
  std::string out;
  for (unsigned char c : body.substr(0, 60)) out.push_back(std::isprint(c) ? char(c) : '?');
  return body.size() > 60 ? out + "..." : out;
}

}  // namespace

std::string handshake_problem(int status, std::string_view content_type, std::string_view body,
                              std::string_view challenge) {
  if (status == 200 && body == challenge) return {};
  auto http = "HTTP " + std::to_string(status);
  if (looks_like_html(content_type, body))
    return "the callback answered HTML, not the challenge (" + http +
           "): a tunnel's interstitial page (such as ngrok's \"visit site\" warning) or a proxy "
           "stands in front of Komentra; use a tunnel or proxy that forwards requests unchanged";
  if (status == 403)
    return "the callback refused the verify token (HTTP 403): the server at that URL has another "
           "meta.verify_token than this Komentra";
  if (status == 404)
    return "no webhook endpoint at that URL (HTTP 404): the callback URL must end in "
           "/webhooks/instagram";
  if (status != 200) return "the callback answered " + http + " instead of 200 with the challenge";
  return "the callback answered 200 but not the challenge (got \"" + excerpt(body) + "\")";
}

}  // namespace komentra::protocol
