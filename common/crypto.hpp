#pragma once
/// Cryptographic primitives over OpenSSL 3: HMAC-SHA256, SHA-256, constant-time
/// comparison, random bytes, hex, base64url and AES-256-GCM. Pure functions, thread-safe.
/// Failures of OpenSSL itself (which do not happen with valid inputs) throw std::runtime_error.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace komentra::crypto {

/// HMAC-SHA256(key, data) as 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// SHA-256 of data as 32 raw bytes.
std::string sha256(std::string_view data);

/// Lowercase hex of raw bytes.
std::string to_hex(std::string_view bytes);

/// Raw bytes from hex (either case); nullopt when the text is not even-length hex.
std::optional<std::string> from_hex(std::string_view hex);

/// Compares two byte strings in time that depends only on their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

/// `n` bytes from the OpenSSL CSPRNG.
std::string random_bytes(std::size_t n);

/// URL-safe base64 without padding (RFC 4648 §5), and its inverse.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

/// AES-256-GCM with a random 12-byte IV. Output: iv || ciphertext || 16-byte tag.
/// `key` must be 32 bytes; `aad` is authenticated but not encrypted.
std::string aes256gcm_seal(std::string_view key, std::string_view plaintext, std::string_view aad);

/// A short public name of a key ("k" + 12 hex digits of its SHA-256), stored beside what
/// it sealed so keys can rotate.
std::string key_id(std::string_view key);

/// Inverse of aes256gcm_seal; nullopt when the key, aad or data do not authenticate.
std::optional<std::string> aes256gcm_open(std::string_view key, std::string_view sealed,
                                          std::string_view aad);

}  // namespace komentra::crypto
