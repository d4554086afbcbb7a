#pragma once
/// Percent-encoding of a URL query value (RFC 3986: unreserved characters stay).

#include <string>
#include <string_view>

namespace komentra::url {

std::string encode(std::string_view s);

}  // namespace komentra::url
