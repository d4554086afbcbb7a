#define CAF_SUITE normalize
#include <caf/test/unit_test.hpp>

#include "rules/normalize.hpp"

#include <utf8proc.h>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

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

std::string utf8(std::int32_t cp) {
  utf8proc_uint8_t buf[4];
  return {reinterpret_cast<const char*>(buf),
          static_cast<std::size_t>(utf8proc_encode_char(cp, buf))};
}

// Text where normalize_into's fast paths (ASCII by table, stable code points copied, the
// cached form of a lone code point) could go wrong: each must give what the whole text gives
// through utf8proc.
const std::vector<std::string> tricky = {
    "cafe\u0301 CAFE\u0301 cafe\u0301\u0323",  // combining marks after ASCII
    "e\u0301\u0301e\u0327\u0301a\u030A",       // several marks, reordered and composed
    "\u0301leading mark",
    "\uFB01nal \uFB01 O\uFB03CE \uFB06",                               // ﬁ ﬃ ﬆ ligatures
    "\uFF2C\uFF29\uFF2E\uFF2B \uFF4C\uFF49\uFF4E\uFF4B \uFF10\uFF16",  // full width
    "\uFF76\uFF9E\uFF8A\uFF9F \u30AB\uFF9E \u304B\u3099",  // half width kana, voicing marks
    "\u0130stanbul \u0130 i\u0307 \u0049\u0307 \u0131 DIYARBAKIR",  // Turkish dotted and dotless i
    "\u039F\u0394\u039F\u03A3 \u03BF\u03B4\u03BF\u03C2 \u03A3\u03C3\u03C2 \u0386\u0388\u03B0",
    "\U0001F468\u200D\U0001F469\u200D\U0001F467 \u2764\uFE0F\u200D\U0001F525 "
    "\U0001F3F3\uFE0F\u200D\U0001F308 \U0001F44D\U0001F3FD 1\uFE0F\u20E3",
    "a\u200Db \u200D\U0001F525 \U0001F525\u200D \u200D\u200D x\u200C\u200Dy",  // ZWJ, ZWNJ
    "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645",                        // Persian ZWNJ
    "Stra\u00DFe \u1E9E \u01C4 \u01C5 \u01C6 \u1E9B\u0323",
    "\u212B \u2126 \u212A \u00C5 A\u030A",  // singletons: Angstrom, ohm, Kelvin
    "\uAC00\u11A8 \u1100\u1161\u11A8 \u1100\uAC00 \u3131\u314F",         // Hangul and jamo
    "\u0915\u094D\u0937 \u0915\u093C \u0958 \u0B47\u0B3E \u0DD9\u0DCF",  // Indic
    "\u0633\u0650\u0639\u0652\u0631 \u0633\u0640\u0640\u0639\u0631 \uFE71 \uFDFA",
    "\u05E9\u05C1\u05B8\u05DC\u05D5\u05B9\u05DD \u200F\u05E9\u05DC\u05D5\u05DD\u200E",
    "Vi\u00EA\u0323t Vi\u1EC7t VI\u1EC6T",
    "a\u00A0\u00A0b\u3000c\u2028d\u0085e\u202Ff \u00A0",  // white space that is not ASCII
    "\u00BD \u3231 \u2103 \u2116 \u338F \u2460 \u00B2",   // compatibility forms
    "\u2615\uFE0F \u2764\uFE0E \U0001F6CD\uFE0F\uFE0F \u00AD\u00ADx",  // variation selectors
    "\xFF\xC3 \xED\xA0\x80 \xC0\xAF \xF4\x90\x80\x80 e\xCC",           // invalid UTF-8
    "\u0E23\u0E32\u0E04\u0E32 \u0E40\u0E17\u0E48\u0E32\u0E44\u0E2B\u0E23\u0E48",
    "\u4EF7\u683C\u00C9 \u00C9\u4EF7 \U00020000\u0301 \U0001F525\u0301",
    "\u0419 \u0439 \u0418\u0306 \u0401\u041B\u041A\u0410 \u0435\u0308",
};

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

CAF_TEST(the fast paths give what utf8proc gives for the whole text) {
  for (auto mode : {accents::keep, accents::fold}) {
    for (const auto& t : tricky) {
      CAF_CHECK_EQUAL(normalize(t, mode), normalize_unoptimized(t, mode));
      // The same beside ASCII, CJK, spaces and another tricky piece.
      for (const std::string around : {"X", "x", "\u4EF7", " ", "\u00C9", "\u0301"})
        CAF_CHECK_EQUAL(normalize(around + t + around, mode),
                        normalize_unoptimized(around + t + around, mode));
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
      std::string t;
      for (int k = 0; k < 6; ++k) {
        const auto& piece = tricky[rng() % tricky.size()];
        auto from = rng() % piece.size();
        t += piece.substr(from, rng() % 12);  // cuts code points apart on purpose
      }
      CAF_CHECK_EQUAL(normalize(t, mode), normalize_unoptimized(t, mode));
    }
  }
}

CAF_TEST(every code point normalizes as utf8proc does beside stable neighbours) {
  // All of the Basic Multilingual Plane and the emoji plane (the range of the table of
  // copyable code points), and the interesting parts beyond: CJK Extension B, the CJK
  // compatibility supplement (which decomposes), tags and variation selectors, private use.
  std::vector<std::pair<std::int32_t, std::int32_t>> ranges = {{0x80, 0x20000},
                                                               {0x20000, 0x20100},
                                                               {0x2F800, 0x2FA20},
                                                               {0xE0000, 0xE01F0},
                                                               {0x10FFF0, 0x110000}};
  int differ = 0;
  for (auto mode : {accents::keep, accents::fold}) {
    for (auto [from, to] : ranges) {
      for (std::int32_t cp = from; cp < to; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        auto c = utf8(cp);
        for (const auto& t : {"e" + c + "e", "\uAC00" + c + " ", c}) {
          if (normalize(t, mode) != normalize_unoptimized(t, mode) && ++differ <= 10)
            CAF_ERROR("U+" << std::hex << cp << " in " << t);
        }
      }
    }
  }
  CAF_CHECK_EQUAL(differ, 0);
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
