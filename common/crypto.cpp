#include "common/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace komentra::crypto {

namespace {

[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string("OpenSSL: ") + what);
}

using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

constexpr std::size_t iv_len = 12;
constexpr std::size_t tag_len = 16;

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // HMAC() is the one-shot EVP_MAC wrapper in OpenSSL 3; it is not deprecated.
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(), out,
            &len))
    fail("HMAC-SHA256");
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr)) fail("SHA-256");
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string to_hex(std::string_view raw) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0x0f]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    fail("RAND_bytes");
  return out;
}

std::string base64url_encode(std::string_view raw) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16 |
                 static_cast<unsigned char>(raw[i + 1]) << 8 |
                 static_cast<unsigned char>(raw[i + 2]);
    out +=
        {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63], alphabet[v >> 6 & 63], alphabet[v & 63]};
  }
  if (i + 1 == raw.size()) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16;
    out += {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63]};
  } else if (i + 2 == raw.size()) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16 | static_cast<unsigned char>(raw[i + 1])
                                                                << 8;
    out += {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63], alphabet[v >> 6 & 63]};
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = acc << 6 | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>(acc >> bits & 0xff));
    }
  }
  return out;
}

std::string aes256gcm_seal(std::string_view key, std::string_view plaintext, std::string_view aad) {
  if (key.size() != 32) throw std::invalid_argument("AES-256-GCM key must be 32 bytes");
  std::string iv = random_bytes(iv_len);
  cipher_ctx ctx{EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free};
  std::string out = iv;
  out.resize(iv_len + plaintext.size() + tag_len);
  auto* ct = reinterpret_cast<unsigned char*>(out.data()) + iv_len;
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key), bytes(iv)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ct, &len, bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_len, ct + plaintext.size()) != 1)
    fail("AES-256-GCM encrypt");
  return out;
}

std::optional<std::string> aes256gcm_open(std::string_view key, std::string_view sealed,
                                          std::string_view aad) {
  if (key.size() != 32 || sealed.size() < iv_len + tag_len) return std::nullopt;
  auto iv = sealed.substr(0, iv_len);
  auto ct = sealed.substr(iv_len, sealed.size() - iv_len - tag_len);
  std::string tag(sealed.substr(sealed.size() - tag_len));
  cipher_ctx ctx{EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free};
  std::string out(ct.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key), bytes(iv)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), pt, &len, bytes(ct), static_cast<int>(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_len, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), pt + len, &len) != 1)
    return std::nullopt;
  return out;
}

std::string key_id(std::string_view key) {
  return "k" + to_hex(sha256(key)).substr(0, 12);
}

}  // namespace komentra::crypto
