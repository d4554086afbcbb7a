#pragma once
/// The webhook set-up self-check's verdict (field case BR-06): given what a callback URL
/// answered to Meta's verification GET, whether Meta would accept it and, if not, why, in
/// words that say what to fix. Pure; the HTTP request is the caller's.

#include <string>
#include <string_view>

namespace komentra::protocol {

/// Empty when the answer passes (HTTP 200 and the body exactly the challenge).
std::string handshake_problem(int status, std::string_view content_type, std::string_view body,
                              std::string_view challenge);

}  // namespace komentra::protocol
