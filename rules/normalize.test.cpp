#define CAF_SUITE normalize
#include <caf/test/unit_test.hpp>

#include "rules/normalize.hpp"

#include <utf8proc.h>

#include <initializer_list>
#include <string>

using namespace komentra::rules;

namespace {

bool valid_utf8(const std::string& s) {
  auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  auto n = static_cast<utf8proc_ssize_t>(s.size());
  for (utf8proc_ssize_t i = 0; i < n;) {
    utf8proc_int32_t cp;
    auto len = utf8proc_iterate(p + i, n - i, &cp);
    if (len <= 0) return false;
    i += len;
  }
  return true;
}

}  // namespace

CAF_TEST(ascii is lowercased and its whitespace collapsed and trimmed) {
  CAF_CHECK_EQUAL(normalize("  Send  me\tthe\r\nLINK \n"), "send me the link");
  CAF_CHECK_EQUAL(normalize(""), "");
  CAF_CHECK_EQUAL(normalize(" \n\t "), "");
}

CAF_TEST(full width forms become their ascii counterparts) {
  CAF_CHECK_EQUAL(normalize("０６２７"), "0627");
  CAF_CHECK_EQUAL(normalize("06２７"), "0627");
  CAF_CHECK_EQUAL(normalize("ｌｉｎｋ"), "link");
  CAF_CHECK_EQUAL(normalize("ＬＩＮＫ"), "link");
}

CAF_TEST(unicode spaces collapse like ascii spaces) {
  CAF_CHECK_EQUAL(normalize("a\u00A0\u00A0b\u3000c\u2028d\u0085e"), "a b c d e");
}

CAF_TEST(case folding covers non latin scripts and expanding folds) {
  CAF_CHECK_EQUAL(normalize("ЦЕНА"), "цена");
  CAF_CHECK_EQUAL(normalize("Straße"), "strasse");
  CAF_CHECK_EQUAL(normalize("ﬁne"), "fine");
}

CAF_TEST(latin diacritics fold only when asked) {
  CAF_CHECK_EQUAL(normalize("PREÇO", accents::fold), "preco");
  CAF_CHECK_EQUAL(normalize("PREÇO", accents::keep), "preço");
  CAF_CHECK_EQUAL(normalize("¿CUÁL?"), "¿cual?");
  CAF_CHECK_EQUAL(normalize("Tiếng Việt"), "tieng viet");
}

CAF_TEST(composed and decomposed input normalize to the same text) {
  CAF_CHECK_EQUAL(normalize("prec\u0327o", accents::keep), normalize("pre\u00E7o", accents::keep));
  CAF_CHECK_EQUAL(normalize("prec\u0327o", accents::keep), "pre\u00E7o");
  CAF_CHECK_EQUAL(normalize("prec\u0327o", accents::fold), "preco");
}

CAF_TEST(devanagari vowel signs survive accent folding) {
  CAF_CHECK_EQUAL(normalize("कीमत", accents::fold), "कीमत");
  CAF_CHECK_NOT_EQUAL(normalize("कीमत", accents::fold), normalize("कमत", accents::fold));
}

CAF_TEST(cyrillic short i stays distinct from i) {
  CAF_CHECK_EQUAL(normalize("МОЙ", accents::fold), "мой");
  CAF_CHECK_NOT_EQUAL(normalize("мой"), normalize("мои"));
}

CAF_TEST(greek tonos and arabic harakat fold) {
  CAF_CHECK_EQUAL(normalize("ΤΙΜΉ"), "τιμη");
  CAF_CHECK_EQUAL(normalize("τιμή"), "τιμη");
  CAF_CHECK_EQUAL(normalize("سِعْر"), "سعر");
  CAF_CHECK_EQUAL(normalize("ســعر"), "سعر");
  CAF_CHECK_EQUAL(normalize("سِعْر", accents::keep), "سِعْر");
}

CAF_TEST(variation selectors and bidi marks vanish) {
  CAF_CHECK_EQUAL(normalize("🔥\uFE0F"), "🔥");
  CAF_CHECK_EQUAL(normalize("❤\uFE0E"), "❤");
  CAF_CHECK_EQUAL(normalize("\u200Fسعر\u200E؟"), "سعر؟");
  CAF_CHECK_EQUAL(normalize("pri\u00ADce"), "price");
}

CAF_TEST(a zero width joiner stays inside emoji and goes inside words) {
  CAF_CHECK_EQUAL(normalize("❤\uFE0F\u200D🔥"), "❤\u200D🔥");
  CAF_CHECK_EQUAL(normalize("क्\u200Dष"), "क्ष");
}

CAF_TEST(invalid utf8 becomes replacement characters and never fails) {
  CAF_CHECK_EQUAL(normalize("a\xFF"
                            "b"),
                  "a\uFFFDb");
  CAF_CHECK_EQUAL(normalize("LINK\xC3"), "link\uFFFD");
  CAF_CHECK_EQUAL(normalize("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");
  CAF_CHECK_EQUAL(normalize("\xC0\xAF"), "\uFFFD\uFFFD");
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 37 + 11) & 0xFF));
  CAF_CHECK(valid_utf8(normalize(junk)));
  CAF_CHECK(valid_utf8(normalize(junk, accents::keep)));
}

CAF_TEST(text needing the full path after a fast prefix is normalized whole) {
  CAF_CHECK_EQUAL(normalize("hello 价格 WORLD"), "hello 价格 world");
  CAF_CHECK_EQUAL(normalize("hello 价格 WÖRLD"), "hello 价格 world");
  CAF_CHECK_EQUAL(normalize("cafe\u0301 ok", accents::keep), "caf\u00E9 ok");
}

CAF_TEST(runs normalized by utf8proc join the copied text seamlessly) {
  CAF_CHECK_EQUAL(normalize("\uAC00\u11A8", accents::keep), "\uAC01");
  CAF_CHECK_EQUAL(normalize("ЁЛКА и ёлка", accents::keep), "ёлка и ёлка");
  CAF_CHECK_EQUAL(normalize("Viê\u0323t", accents::keep), "vi\u1EC7t");
  CAF_CHECK_EQUAL(normalize("Viê\u0323t", accents::fold), "viet");
  CAF_CHECK_EQUAL(normalize("x\xFF"
                            "É",
                            accents::fold),
                  "x\uFFFDe");
  CAF_CHECK_EQUAL(normalize("Ok  \u00A0 \u00C9", accents::fold), "ok e");
  CAF_CHECK_EQUAL(normalize("价格 ÇA 价格", accents::keep), "价格 ça 价格");
}

CAF_TEST(normalization is idempotent) {
  for (const char* s : {"PREÇO?", "Клод!", "请问价格多少", "سعر؟", "０６２７",
                        "❤️‍🔥 🔥️", "Tiếng Việt", "ΤΙΜΉ", "Straße"}) {
    for (auto mode : {accents::keep, accents::fold}) {
      auto once = normalize(s, mode);
      CAF_CHECK_EQUAL(normalize(once, mode), once);
    }
  }
}

CAF_TEST(letters marks numbers and underscore are word characters) {
  for (std::int32_t cp :
       std::initializer_list<std::int32_t>{'a', 'Z', '7', '_', 0x0446 /* ц */, 0x4EF7 /* 价 */,
                                           0x0633 /* س */, 0x0940 /* ी */, 0xFF10 /* ０ */})
    CAF_CHECK(is_word_char(cp));
  for (std::int32_t cp : std::initializer_list<std::int32_t>{
           ' ', '!', '#', '@', '.', 0x061F /* ؟ */, 0x1F525 /* 🔥 */, 0x3002})
    CAF_CHECK(!is_word_char(cp));
}

CAF_TEST(cjk kana hangul and thai are scripts without spaces) {
  for (std::int32_t cp :
       std::initializer_list<std::int32_t>{0x4EF7, 0x3042, 0x30AB, 0xAC00, 0x0E23, 0x20000})
    CAF_CHECK(is_no_space_script(cp));
  for (std::int32_t cp : std::initializer_list<std::int32_t>{'a', 0x0446, 0x0633, 0x0915, 0x1F525})
    CAF_CHECK(!is_no_space_script(cp));
}

CAF_TEST(word boundaries follow unicode categories) {
  CAF_CHECK(is_word_boundary(-1, 'a'));
  CAF_CHECK(is_word_boundary('a', -1));
  CAF_CHECK(is_word_boundary(' ', 'a'));
  CAF_CHECK(is_word_boundary('#', 'l'));
  CAF_CHECK(!is_word_boundary('a', 'b'));
  CAF_CHECK(!is_word_boundary(0x0446, 0x0430));
  CAF_CHECK(is_word_boundary(0x8BF7, 0x4EF7));
  CAF_CHECK(is_word_boundary('x', 0x4EF7));
  CAF_CHECK(!is_word_boundary(0x0E23, 0x0E35));
  CAF_CHECK(!is_word_boundary(0x1F525, 0x200D));
  CAF_CHECK(!is_word_boundary(0x200D, 0x1F525));
}
