#define CAF_SUITE matcher
#include <caf/test/unit_test.hpp>

#include "rules/matcher.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace komentra::rules;

namespace {

keyword_rule rule(std::int64_t id, match_type type, std::vector<std::string> keywords,
                  std::vector<std::string> excludes = {}) {
  keyword_rule r;
  r.automation_id = id;
  r.created_order = id;
  r.type = type;
  r.keywords = std::move(keywords);
  r.exclude_keywords = std::move(excludes);
  return r;
}

bool matches(match_type type, const std::string& keyword, std::string_view text,
             bool accent_insensitive = true) {
  auto r = rule(1, type, {keyword});
  r.accent_insensitive = accent_insensitive;
  return matcher::compile({r}).winner(text).has_value();
}

bool whole_word(const std::string& keyword, std::string_view text) {
  return matches(match_type::whole_word, keyword, text);
}

using ids = std::vector<std::int64_t>;

}  // namespace

CAF_TEST(an empty matcher matches nothing) {
  matcher m;
  CAF_CHECK_EQUAL(m.rule_count(), 0u);
  CAF_CHECK(!m.winner("link"));
  CAF_CHECK(matcher::compile({}).matches("link").empty());
}

// BR-18
CAF_TEST(accented comments match an unaccented whole word keyword) {
  CAF_CHECK(whole_word("preco", "PREÇO?"));
  CAF_CHECK(whole_word("preco", "qual o preço??"));
  CAF_CHECK(whole_word("preco", "prec\u0327o"));
  CAF_CHECK(!whole_word("preco", "precoX"));
  CAF_CHECK(whole_word("preço", "preco"));
  CAF_CHECK(whole_word("indice", "ÍNDICE"));
  CAF_CHECK(whole_word("informacao", "informação"));
  CAF_CHECK(whole_word("cual", "¿CUÁL es el precio?"));
}

CAF_TEST(devanagari vowel signs are never folded away) {
  CAF_CHECK(!whole_word("कीमत", "कमत"));
  CAF_CHECK(!matches(match_type::contains, "कीमत", "कमत"));
  CAF_CHECK(whole_word("कीमत", "कीमत क्या है?"));
}

CAF_TEST(accent sensitive rules keep diacritics apart) {
  CAF_CHECK(!matches(match_type::whole_word, "preco", "preço", false));
  CAF_CHECK(matches(match_type::whole_word, "preço", "PREÇO!", false));
  CAF_CHECK(matches(match_type::whole_word, "preço", "prec\u0327o", false));
}

CAF_TEST(accent sensitive and insensitive rules coexist in one matcher) {
  auto strict = rule(1, match_type::whole_word, {"año"});
  strict.accent_insensitive = false;
  auto loose = rule(2, match_type::whole_word, {"preco"});
  auto m = matcher::compile({strict, loose});
  CAF_CHECK_EQUAL(m.matches("AÑO y PREÇO"), (ids{1, 2}));
  CAF_CHECK_EQUAL(m.matches("ano y preco"), (ids{2}));
}

// BR-19
CAF_TEST(cyrillic keywords match whole words with punctuation around them) {
  CAF_CHECK(whole_word("Клод", "Клод!"));
  CAF_CHECK(whole_word("цена", "ЦЕНА?"));
  CAF_CHECK(!whole_word("цена", "ценами"));
  CAF_CHECK(matches(match_type::contains, "цена", "ценами"));
}

CAF_TEST(cjk whole word keywords match as substrings) {
  CAF_CHECK(whole_word("价格", "请问价格多少"));
  CAF_CHECK(whole_word("価格", "この価格は？"));
  CAF_CHECK(whole_word("가격", "가격은 얼마예요?"));
  CAF_CHECK(whole_word("ราคา", "ราคาเท่าไหร่ครับ"));
  CAF_CHECK(whole_word("iphone", "我要iphone"));
  CAF_CHECK(!whole_word("价格", "请问多少钱"));
}

CAF_TEST(arabic keywords match whole words but not with the article attached) {
  CAF_CHECK(whole_word("سعر", "سعر؟"));
  CAF_CHECK(whole_word("سعر", "\u200Fكم سعر\u200F هذا"));
  CAF_CHECK(whole_word("سعر", "سِعْر؟"));
  CAF_CHECK(!whole_word("سعر", "السعر"));
  CAF_CHECK(matches(match_type::contains, "سعر", "السعر"));
}

// BR-20
CAF_TEST(exact mode ignores width and surrounding whitespace only) {
  for (const char* text : {"０６２７", "06２７", "0627 ", "0627\n", " \t0627\r\n"})
    CAF_CHECK(matches(match_type::exact, "0627", text));
  CAF_CHECK(!matches(match_type::exact, "0627", "my code is 0627"));
  CAF_CHECK(!matches(match_type::exact, "0627", "06270"));
  CAF_CHECK(!matches(match_type::exact, "0627", "0627!"));
  CAF_CHECK(matches(match_type::exact, "free  shipping", "FREE SHIPPING"));
}

CAF_TEST(full width latin matches a half width keyword) {
  CAF_CHECK(whole_word("link", "ｌｉｎｋ"));
  CAF_CHECK(whole_word("ｌｉｎｋ", "link"));
}

CAF_TEST(ligatures dotted capitals and final sigma match their plain forms) {
  CAF_CHECK(whole_word("final", "\uFB01NAL offer"));
  CAF_CHECK(whole_word("\uFB01nal", "FINAL"));
  CAF_CHECK(matches(match_type::exact, "office", "O\uFB03CE"));
  CAF_CHECK(whole_word("istanbul", "\u0130STANBUL"));
  CAF_CHECK(whole_word("istanbul", "I\u0307stanbul"));
  CAF_CHECK(!matches(match_type::whole_word, "istanbul", "\u0130STANBUL", false));
  CAF_CHECK(!whole_word("istanbul", "\u0131stanbul"));
  CAF_CHECK(whole_word("\u03BF\u03B4\u03BF\u03C2", "\u039F\u0394\u039F\u03A3!"));
  CAF_CHECK(whole_word("\u039F\u0394\u039F\u03A3", "\u03BF\u03B4\u03CC\u03C2"));
  CAF_CHECK(matches(match_type::starts_with, "caf\u00E9", "CAFE\u0301 au lait", false));
  CAF_CHECK(!whole_word("cafe", "cafe\u0301s"));
}

// BR-21
CAF_TEST(whole word link handles case punctuation mentions and hashtags) {
  CAF_CHECK(whole_word("link", "LINK"));
  CAF_CHECK(whole_word("link", "Link!!!"));
  CAF_CHECK(whole_word("link", "@friend_1 link pls"));
  CAF_CHECK(!whole_word("link", "unlinked"));
  CAF_CHECK(!whole_word("link", "mail me@link.example"));
  CAF_CHECK(whole_word("link", "#link"));
  CAF_CHECK(!whole_word("link", "linkkk"));
}

CAF_TEST(a keyword inside an at mention or address never counts) {
  CAF_CHECK(!whole_word("friend", "@friend_1"));
  CAF_CHECK(!matches(match_type::contains, "friend", "@friend_1"));
  CAF_CHECK(!whole_word("friend", "@friend"));
  CAF_CHECK(!matches(match_type::contains, "link", "mail me@link.example"));
  CAF_CHECK(!whole_word("me", "mail me@link.example"));
  CAF_CHECK(whole_word("friend", "@friend_1 my friend"));
  CAF_CHECK(whole_word("link", "@friend, link"));
  CAF_CHECK(whole_word("link", "＠friend link"));
  CAF_CHECK(!whole_word("link", "＠link"));
}

CAF_TEST(a keyword containing an at sign may match mentions) {
  CAF_CHECK(whole_word("@brand", "hi @BRAND!"));
  CAF_CHECK(matches(match_type::contains, "@brand", "hi @brand_shop"));
}

CAF_TEST(contains matches inside words) {
  CAF_CHECK(matches(match_type::contains, "link", "unlinked"));
  CAF_CHECK(matches(match_type::contains, "link", "LINKKK"));
  CAF_CHECK(!matches(match_type::contains, "link", "lnk"));
}

CAF_TEST(starts with needs the keyword at the start of the text) {
  CAF_CHECK(matches(match_type::starts_with, "info", "INFO please"));
  CAF_CHECK(matches(match_type::starts_with, "info", "  Info"));
  CAF_CHECK(matches(match_type::starts_with, "info", "information"));
  CAF_CHECK(!matches(match_type::starts_with, "info", "send info"));
  CAF_CHECK(!matches(match_type::starts_with, "info", "#info"));
}

CAF_TEST(any matches every text including the empty one) {
  auto m = matcher::compile({rule(7, match_type::any, {})});
  CAF_CHECK_EQUAL(m.winner("whatever"), std::optional<std::int64_t>{7});
  CAF_CHECK_EQUAL(m.winner(""), std::optional<std::int64_t>{7});
  CAF_CHECK_EQUAL(m.winner("\xFF\xFE"), std::optional<std::int64_t>{7});
}

CAF_TEST(emoji keywords match with or without variation selectors) {
  for (auto type : {match_type::contains, match_type::whole_word}) {
    CAF_CHECK(matches(type, "🔥", "🔥🔥"));
    CAF_CHECK(matches(type, "🔥", "I want 🔥\uFE0F"));
    CAF_CHECK(matches(type, "🔥\uFE0F", "I want 🔥"));
    CAF_CHECK(matches(type, "❤\uFE0F", "love it❤"));
    CAF_CHECK(matches(type, "👍", "👍🏽"));
    CAF_CHECK(!matches(type, "🔥", "❤\uFE0F\u200D🔥"));
    CAF_CHECK(!matches(type, "❤", "❤\uFE0F\u200D🔥"));
    CAF_CHECK(!matches(type, "🔥", "no fire here"));
  }
  CAF_CHECK(matches(match_type::exact, "🔥", "🔥\uFE0F "));
  CAF_CHECK(matches(match_type::whole_word, "❤\uFE0F\u200D🔥", "so ❤\u200D🔥"));
}

CAF_TEST(invalid utf8 in comments or keywords does not crash) {
  auto m = matcher::compile(
      {rule(1, match_type::whole_word, {"link"}), rule(2, match_type::contains, {"\xFF\xFF"})});
  CAF_CHECK_EQUAL(m.winner("link\xFF"), std::optional<std::int64_t>{1});
  CAF_CHECK_EQUAL(m.winner("xx\xFE\xFFxx"), std::optional<std::int64_t>{2});
  CAF_CHECK_EQUAL(m.matches("\xED\xA0\x80 linked"), (ids{2}));
  std::string junk;
  for (int i = 0; i < 2048; ++i) junk.push_back(static_cast<char>((i * 91 + 7) & 0xFF));
  m.winner(junk);
  m.matches(junk);
}

CAF_TEST(the highest priority wins and the oldest breaks ties) {
  auto low = rule(1, match_type::contains, {"link"});
  auto high_new = rule(2, match_type::whole_word, {"link"});
  high_new.priority = 5;
  high_new.created_order = 20;
  auto high_old = rule(3, match_type::whole_word, {"link"});
  high_old.priority = 5;
  high_old.created_order = 10;
  auto m = matcher::compile({low, high_new, high_old});
  CAF_CHECK_EQUAL(m.winner("link pls"), std::optional<std::int64_t>{3});
  CAF_CHECK_EQUAL(m.matches("link pls"), (ids{3, 2, 1}));
  CAF_CHECK_EQUAL(m.winner("unlinked"), std::optional<std::int64_t>{1});
}

CAF_TEST(an any rule wins only by priority) {
  auto fallback = rule(1, match_type::any, {});
  fallback.priority = -1;
  auto keyword = rule(2, match_type::whole_word, {"price"});
  auto m = matcher::compile({fallback, keyword});
  CAF_CHECK_EQUAL(m.winner("price?"), std::optional<std::int64_t>{2});
  CAF_CHECK_EQUAL(m.winner("hello"), std::optional<std::int64_t>{1});
  CAF_CHECK_EQUAL(m.matches("price?"), (ids{2, 1}));
}

CAF_TEST(exclude keywords veto their own rule only) {
  auto promo = rule(1, match_type::contains, {"link"}, {"spam", "Ödeme"});
  promo.priority = 1;
  auto other = rule(2, match_type::contains, {"link"});
  auto m = matcher::compile({promo, other});
  CAF_CHECK_EQUAL(m.winner("link please"), std::optional<std::int64_t>{1});
  CAF_CHECK_EQUAL(m.winner("link SPAM!"), std::optional<std::int64_t>{2});
  CAF_CHECK_EQUAL(m.winner("link odeme"), std::optional<std::int64_t>{2});
  CAF_CHECK_EQUAL(m.winner("link spammer"), std::optional<std::int64_t>{1});
  CAF_CHECK_EQUAL(m.matches("link @spam"), (ids{1, 2}));
}

CAF_TEST(exclude keywords also veto any rules) {
  auto m = matcher::compile({rule(1, match_type::any, {}, {"stop"})});
  CAF_CHECK(m.winner("hello"));
  CAF_CHECK(!m.winner("STOP"));
  CAF_CHECK(m.matches("stop").empty());
}

CAF_TEST(several keywords and rules sharing a keyword compile into one matcher) {
  auto a = rule(1, match_type::whole_word, {"price", "цена", "价格", "Price "});
  auto b = rule(2, match_type::exact, {"price"});
  auto c = rule(3, match_type::starts_with, {"pri"});
  auto m = matcher::compile({a, b, c});
  CAF_CHECK_EQUAL(m.rule_count(), 3u);
  CAF_CHECK_EQUAL(m.keyword_count(), 4u);
  CAF_CHECK_EQUAL(m.matches("PRICE"), (ids{1, 2, 3}));
  CAF_CHECK_EQUAL(m.matches("price?"), (ids{1, 3}));
  CAF_CHECK_EQUAL(m.matches("what is the price"), (ids{1}));
  CAF_CHECK_EQUAL(m.matches("请问价格"), (ids{1}));
  CAF_CHECK_EQUAL(m.matches("prix"), (ids{3}));
}

CAF_TEST(overlapping keywords are all found) {
  auto m = matcher::compile(
      {rule(1, match_type::whole_word, {"he"}), rule(2, match_type::whole_word, {"she"}),
       rule(3, match_type::contains, {"hers"}), rule(4, match_type::whole_word, {"his"})});
  CAF_CHECK_EQUAL(m.matches("ushers"), (ids{3}));
  CAF_CHECK_EQUAL(m.matches("she said he is his"), (ids{1, 2, 4}));
}

CAF_TEST(keywords that normalize to nothing are dropped) {
  auto m = matcher::compile({rule(1, match_type::contains, {"", "  ", "\uFE0F"}),
                             rule(2, match_type::whole_word, {"ok"})});
  CAF_CHECK_EQUAL(m.keyword_count(), 1u);
  CAF_CHECK_EQUAL(m.matches("anything ok"), (ids{2}));
}

CAF_TEST(recompiling with a changed rule set replaces the old matcher) {
  auto m = matcher::compile({rule(1, match_type::whole_word, {"link"})});
  CAF_CHECK_EQUAL(m.winner("link"), std::optional<std::int64_t>{1});
  auto old = m;
  auto changed = rule(1, match_type::whole_word, {"price"});
  m = matcher::compile({changed, rule(2, match_type::whole_word, {"link"})});
  CAF_CHECK_EQUAL(m.winner("link"), std::optional<std::int64_t>{2});
  CAF_CHECK_EQUAL(m.winner("price"), std::optional<std::int64_t>{1});
  CAF_CHECK_EQUAL(old.winner("link"), std::optional<std::int64_t>{1});
  CAF_CHECK(!old.winner("price"));
}

CAF_TEST(a thousand keywords compile and match) {
  std::vector<keyword_rule> rules;
  for (int i = 0; i < 1000; ++i)
    rules.push_back(rule(i, match_type::whole_word, {"kw" + std::to_string(i)}));
  auto m = matcher::compile(std::move(rules));
  CAF_CHECK_EQUAL(m.rule_count(), 1000u);
  CAF_CHECK_EQUAL(m.winner("please send KW999"), std::optional<std::int64_t>{999});
  CAF_CHECK_EQUAL(m.matches("kw1 kw10 kw100"), (ids{1, 10, 100}));
  CAF_CHECK(!m.winner("kw1000"));
}

CAF_TEST(an automaton past 65536 cells matches like a small one) {
  // 3000 keywords over 26 letters: far more cells than 16-bit offsets can address.
  std::vector<keyword_rule> rules;
  std::string kw = "aaaaaa";
  for (int i = 0; i < 3000; ++i) {
    for (int j = 0, n = i * 7919; j < 6; ++j, n /= 26) kw[j] = static_cast<char>('a' + n % 26);
    rules.push_back(rule(i, match_type::whole_word, {kw}));
  }
  auto last = kw;
  auto m = matcher::compile(std::move(rules));
  CAF_CHECK_GREATER(m.state_count() * 27, 65536u);
  CAF_CHECK_EQUAL(m.winner("send " + last + " please"), std::optional<std::int64_t>{2999});
  CAF_CHECK_EQUAL(m.winner("aaaaaa"), std::optional<std::int64_t>{0});
  CAF_CHECK(!m.winner("send " + last + "x please"));
}

CAF_TEST(one matcher serves several threads at once) {
  auto m = matcher::compile({rule(1, match_type::whole_word, {"link", "цена"}),
                             rule(2, match_type::contains, {"价格"}, {"spam"})});
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (m.winner("LINK!") != std::optional<std::int64_t>{1}) ++wrong;
        if (m.winner("请问价格多少") != std::optional<std::int64_t>{2}) ++wrong;
        if (m.winner("价格 spam")) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  CAF_CHECK_EQUAL(wrong.load(), 0);
}
