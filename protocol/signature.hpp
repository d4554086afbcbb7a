#pragma once
/// Authenticity check of a webhook delivery: HMAC-SHA256 of the raw body bytes against the
/// X-Hub-Signature-256 header. Pure and thread-safe; it fails closed (any doubt is `false`).

#include <string>
#include <string_view>
#include <vector>

namespace komentra::protocol {

/// True when `header_value` is exactly `sha256=<64 hex>` and equals HMAC-SHA256(secret,
/// raw_body) for at least one non-empty secret in `app_secrets` (several secrets allow
/// rotation and the Meta-app vs Instagram-app secret ambiguity). Compares in constant time.
/// An empty list, only empty secrets, a missing or malformed header (including the legacy
/// `sha1=` form) give false. `raw_body` must be the bytes as received, never re-serialised.
bool verify_signature(std::string_view header_value, std::string_view raw_body,
                      const std::vector<std::string>& app_secrets);

}  // namespace komentra::protocol
