#include "protocol/signature.hpp"

#include "common/crypto.hpp"

namespace komentra::protocol {

bool verify_signature(std::string_view header_value, std::string_view raw_body,
                      const std::vector<std::string>& app_secrets) {
  constexpr std::string_view prefix = "sha256=";
  constexpr std::size_t digest_hex_chars = 64;
  if (header_value.size() != prefix.size() + digest_hex_chars ||
      header_value.substr(0, prefix.size()) != prefix)
    return false;
  auto expected = crypto::from_hex(header_value.substr(prefix.size()));
  if (!expected) return false;
  bool match = false;
  // Every secret is tried even after a match so the time taken does not tell which one fits.
  for (const auto& secret : app_secrets) {
    if (secret.empty()) continue;
    match |= crypto::constant_time_equal(crypto::hmac_sha256(secret, raw_body), *expected);
  }
  return match;
}

}  // namespace komentra::protocol
