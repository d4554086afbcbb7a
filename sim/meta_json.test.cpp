#define CAF_SUITE meta_json
#include <caf/test/unit_test.hpp>

#include "common/crypto.hpp"
#include "sim/meta_json.hpp"
#include "sim/webhook_sender.hpp"

using namespace komentra::sim;

CAF_TEST(non ascii is written as lowercase u escapes with surrogate pairs) {
  CAF_CHECK_EQUAL(meta_quote("pre\xC3\xA7o \xF0\x9F\x94\xA5"), R"("pre\u00e7o \ud83d\udd25")");
  CAF_CHECK_EQUAL(meta_quote("\xC3\xA4\xC3\xB6\xC3\xA5"), R"("\u00e4\u00f6\u00e5")");
  CAF_CHECK_EQUAL(meta_quote("\xD0\x9A\xE4\xB8\xAD\xD8\xB9"), R"("\u041a\u4e2d\u0639")");
}

CAF_TEST(slashes quotes and control characters are escaped) {
  CAF_CHECK_EQUAL(meta_quote("https://shop.example/a"), R"("https:\/\/shop.example\/a")");
  CAF_CHECK_EQUAL(meta_quote("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\u0001")");
}

CAF_TEST(invalid utf8 becomes the replacement character) {
  CAF_CHECK_EQUAL(meta_quote("a\xFF"
                             "b"),
                  R"("a\ufffdb")");
  CAF_CHECK_EQUAL(meta_quote("\xC3"), R"("\ufffd")");
  CAF_CHECK_EQUAL(meta_quote("\xED\xA0\x80"), R"("\ufffd")");  // an encoded surrogate
}

CAF_TEST(a json document is rewritten in meta escaping keeping key order) {
  CAF_CHECK_EQUAL(to_meta_json(R"({"b":"caf\u00E9 /","a":[1,-2,true,null,{"x":"\ud83d\udd25"}]})"),
                  R"({"b":"caf\u00e9 \/","a":[1,-2,true,null,{"x":"\ud83d\udd25"}]})");
  CAF_CHECK_EQUAL(to_meta_json("{bad"), "");
}

CAF_TEST(the envelope reproduces the fact sheet test vector byte for byte) {
  meta_writer w;
  w.begin_object().key("value").begin_object();
  w.key("from")
      .begin_object()
      .field("id", "1234567890123456")
      .field("username", "jane.doe")
      .end_object();
  w.key("media")
      .begin_object()
      .field("id", "18030000000000002")
      .field("media_product_type", "REELS")
      .end_object();
  w.field("id", "18020000000000001").field("text", "caf\xC3\xA9 LINK \xF0\x9F\x94\xA5");
  w.end_object().field("field", "comments").end_object();
  auto body = webhook_sender::envelope(
      {webhook_event{"17841400000000001", false, w.take()}},
      std::chrono::system_clock::time_point(std::chrono::seconds(1718000000)));
  CAF_CHECK_EQUAL(
      body,
      R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1718000000,"changes":[{"value":{"from":{"id":"1234567890123456","username":"jane.doe"},"media":{"id":"18030000000000002","media_product_type":"REELS"},"id":"18020000000000001","text":"caf\u00e9 LINK \ud83d\udd25"},"field":"comments"}]}]})");
  CAF_CHECK_EQUAL(body.size(), 301u);
  CAF_CHECK_EQUAL(webhook_sender::signature("test_app_secret", body),
                  "sha256=eecbfb0e1202dee827617018952bfa595e2ac6cc5d2c05f1124605eef63ac50e");
}

CAF_TEST(messaging entries carry milliseconds and batches group by account) {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1718000005123));
  auto body =
      webhook_sender::envelope({webhook_event{"1", true, "{}"}, webhook_event{"1", true, "[]"},
                                webhook_event{"2", false, "0"}},
                               t);
  CAF_CHECK_EQUAL(
      body,
      R"({"object":"instagram","entry":[{"id":"1","time":1718000005123,"messaging":[{},[]]},{"id":"2","time":1718000005,"changes":[0]}]})");
}
