#define CAF_SUITE crypto
#include <caf/test/unit_test.hpp>

#include "common/crypto.hpp"

using namespace komentra::crypto;

CAF_TEST(hmac sha256 matches RFC 4231 test case 2) {
  CAF_CHECK_EQUAL(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

CAF_TEST(sha256 of abc matches FIPS 180 - 2) {
  CAF_CHECK_EQUAL(to_hex(sha256("abc")),
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

CAF_TEST(hex round trips and rejects non hex) {
  CAF_CHECK_EQUAL(from_hex("00ff7A").value_or("<none>"), std::string("\x00\xff\x7a", 3));
  CAF_CHECK(!from_hex("abc"));
  CAF_CHECK(!from_hex("zz"));
}

CAF_TEST(constant time equal compares whole strings) {
  CAF_CHECK(constant_time_equal("abc", "abc"));
  CAF_CHECK(!constant_time_equal("abc", "abd"));
  CAF_CHECK(!constant_time_equal("abc", "abcd"));
}

CAF_TEST(base64url follows RFC 4648 vectors) {
  CAF_CHECK_EQUAL(base64url_encode("foobar"), "Zm9vYmFy");
  CAF_CHECK_EQUAL(base64url_encode("fo"), "Zm8");
  CAF_CHECK_EQUAL(base64url_encode("\xfb\xff"), "-_8");
  CAF_CHECK_EQUAL(base64url_decode("Zm9vYg").value_or("<none>"), "foob");
  CAF_CHECK_EQUAL(base64url_decode("-_8=").value_or("<none>"), "\xfb\xff");
  CAF_CHECK(!base64url_decode("Zm9v!"));
}

CAF_TEST(aes gcm seals and refuses a wrong aad or a flipped bit) {
  std::string key(32, 'k');
  auto sealed = aes256gcm_seal(key, "IGAA-token", "17841400000000001");
  CAF_CHECK_EQUAL(sealed.size(), 12u + 10u + 16u);
  CAF_CHECK_EQUAL(aes256gcm_open(key, sealed, "17841400000000001").value_or("<none>"),
                  "IGAA-token");
  CAF_CHECK(!aes256gcm_open(key, sealed, "17841400000000002"));
  sealed[14] ^= 1;
  CAF_CHECK(!aes256gcm_open(key, sealed, "17841400000000001"));
  CAF_CHECK(!aes256gcm_open(std::string(31, 'k'), sealed, "17841400000000001"));
}
