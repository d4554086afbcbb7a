#define CAF_SUITE signature
#include <caf/test/unit_test.hpp>

#include <string>
#include <vector>

#include "protocol/signature.hpp"

using komentra::protocol::verify_signature;

namespace {

// Fact sheet §1.3: 301 bytes, no trailing newline, signed with test_app_secret.
constexpr std::string_view fact_sheet_body =
    R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1718000000,"changes":[{"value":{"from":{"id":"1234567890123456","username":"jane.doe"},"media":{"id":"18030000000000002","media_product_type":"REELS"},"id":"18020000000000001","text":"caf\u00e9 LINK \ud83d\udd25"},"field":"comments"}]}]})";
constexpr std::string_view fact_sheet_header =
    "sha256=eecbfb0e1202dee827617018952bfa595e2ac6cc5d2c05f1124605eef63ac50e";

// BR-01: escaped "preço 🔥".
constexpr std::string_view br01_body =
    R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"changes":[{"field":"comments","value":{"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001","media_product_type":"FEED"},"id":"17900000000000001","text":"pre\u00e7o \ud83d\udd25"}}]}]})";
constexpr std::string_view br01_header =
    "sha256=099707f20792f5e5b20d9560b7afc4fd5a71f8eb03d495bddce54cd4b370e64d";
constexpr std::string_view br01_reencoded_header =
    "sha256=6f8a7b28ca4bc8ba78797b0a7cf34c7a0858e6a51108e2028175b2baf0eae7d8";

// BR-02: escaped slashes.
constexpr std::string_view br02_body =
    R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200123,"messaging":[{"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_TEST1","text":"link: https:\/\/shop.example\/a"}}]}]})";
constexpr std::string_view br02_header =
    "sha256=89bd9b52e8ddfa23da0096b1364cc4e36ab8ad3ff035eadb5c83a18abd93239a";

// BR-03: spaces after the colons.
constexpr std::string_view br03_body =
    R"({"object": "instagram", "entry": [{"id": "17841400000000001", "time": 1796299200123, "messaging": [{"sender": {"id": "9000000000000001"}, "recipient": {"id": "17841400000000001"}, "timestamp": 1796299200000, "message": {"mid": "m_TEST2", "text": "mail a@b.example"}}]}]})";
constexpr std::string_view br03_header =
    "sha256=331d276ee409819d6a7fd9079eaa7f62c5fa475f42a672337b7ade392a35bc06";

const std::vector<std::string> secrets{"test_app_secret"};

}  // namespace

CAF_TEST(the fact sheet test vector verifies over the raw escaped bytes) {
  CAF_CHECK_EQUAL(fact_sheet_body.size(), 301u);
  CAF_CHECK(verify_signature(fact_sheet_header, fact_sheet_body, secrets));
}

CAF_TEST(br01 a body with escaped accents and emoji verifies) {
  CAF_CHECK(verify_signature(br01_header, br01_body, secrets));
}

CAF_TEST(br01 the digest of the decoded re serialised body is rejected) {
  CAF_CHECK(!verify_signature(br01_reencoded_header, br01_body, secrets));
}

CAF_TEST(br02 a body with escaped slashes verifies) {
  CAF_CHECK(verify_signature(br02_header, br02_body, secrets));
}

CAF_TEST(br03 a body with spaces verifies and an unsigned one does not ) {
  CAF_CHECK(verify_signature(br03_header, br03_body, secrets));
  CAF_CHECK(!verify_signature("", br03_body, secrets));
}

CAF_TEST(an empty secret list or an empty secret fails closed) {
  CAF_CHECK(!verify_signature(br03_header, br03_body, {}));
  CAF_CHECK(!verify_signature(br03_header, br03_body, {""}));
  // HMAC with an empty key is well defined; it must still never be accepted.
  CAF_CHECK(!verify_signature(
      "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad", "", {""}));
}

CAF_TEST(a second secret in the list also verifies during rotation) {
  CAF_CHECK(verify_signature(br01_header, br01_body, {"old_secret", "test_app_secret"}));
  CAF_CHECK(verify_signature(br01_header, br01_body, {"test_app_secret", "new_secret"}));
  CAF_CHECK(!verify_signature(br01_header, br01_body, {"old_secret", "new_secret"}));
}

CAF_TEST(one changed body byte fails the check) {
  std::string body(br01_body);
  body[body.size() - 5] = '1';
  CAF_CHECK(!verify_signature(br01_header, body, secrets));
}

CAF_TEST(malformed signature headers are rejected) {
  std::string header(br01_header);
  CAF_CHECK(!verify_signature(header.substr(7), br01_body, secrets));  // no prefix
  CAF_CHECK(!verify_signature("SHA256=" + header.substr(7), br01_body, secrets));
  CAF_CHECK(!verify_signature(header + "00", br01_body, secrets));         // too long
  CAF_CHECK(!verify_signature(header.substr(0, 70), br01_body, secrets));  // too short
  CAF_CHECK(!verify_signature(" " + header, br01_body, secrets));
  std::string not_hex = header;
  not_hex[10] = 'g';
  CAF_CHECK(!verify_signature(not_hex, br01_body, secrets));
  CAF_CHECK(!verify_signature("sha256=", br01_body, secrets));
}

CAF_TEST(an uppercase hex digest of the right value verifies) {
  std::string header = "sha256=099707F20792F5E5B20D9560B7AFC4FD5A71F8EB03D495BDDCE54CD4B370E64D";
  CAF_CHECK(verify_signature(header, br01_body, secrets));
}

CAF_TEST(the legacy x hub signature sha1 value is not accepted) {
  // A well-formed X-Hub-Signature value (40 hex digits): only sha256= is ever accepted.
  CAF_CHECK(!verify_signature("sha1=0123456789abcdef0123456789abcdef01234567", br01_body, secrets));
  CAF_CHECK(!verify_signature(
      "sha1=099707f20792f5e5b20d9560b7afc4fd5a71f8eb03d495bddce54cd4b370e64d", br01_body, secrets));
}
