#define CAF_SUITE sql_array
#include <caf/test/unit_test.hpp>

#include <pqxx/pqxx>

#include "storage/pool.hpp"
#include "storage/sql_array.hpp"
#include "storage/test_database.hpp"

using namespace komentra::storage;

namespace {

// What PostgreSQL reads back from the literal, element by element, with NULL as "<null>".
std::vector<std::string> round_trip(pqxx::connection& c, const sql_array& a, const char* type) {
  pqxx::read_transaction tx(c);
  std::vector<std::string> out;
  for (auto const& r :
       tx.exec_params(std::string("SELECT coalesce(x::text, '<null>') FROM unnest($1::") + type +
                          "[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
                      a.str()))
    out.push_back(r[0].as<std::string>());
  return out;
}

}  // namespace

CAF_TEST(text elements arrive as themselves whatever they hold) {
  auto conn = connect(testing::fresh_database());
  // Each one has a meaning in an array literal or in SQL when unquoted.
  std::vector<std::string> hostile = {
      "plain",
      "",
      "NULL",
      "a,b",
      "{nested}",
      "quote \" inside",
      "back\\slash",
      "\\\"",
      "  spaces  ",
      "'; DROP TABLE x; --",
      "{\"json\":\"v\\\"w\",\"n\":[1,2]}",
      "pre\xC3\xA7o \xF0\x9F\x98\x8D \xD8\xB3\xD9\x84\xD8\xA7\xD9\x85"};
  sql_array a;
  for (auto& s : hostile) a.add(s);
  a.add_null();
  CAF_CHECK_EQUAL(a.size(), hostile.size() + 1);
  auto back = round_trip(*conn, a, "text");
  auto expected = hostile;
  expected.push_back("<null>");
  CAF_CHECK_EQUAL(back, expected);
}

CAF_TEST(numbers and an empty array) {
  auto conn = connect(testing::fresh_database());
  sql_array n;
  n.add(std::int64_t{-1}).add(std::int64_t{0}).add(std::int64_t{9007199254740993});
  CAF_CHECK_EQUAL(round_trip(*conn, n, "bigint"),
                  (std::vector<std::string>{"-1", "0", "9007199254740993"}));
  sql_array maybe;
  maybe.add_or_null(std::optional<std::int64_t>{7}).add_or_null(std::nullopt);
  maybe.add_or_null(std::optional<std::int64_t>{0});
  CAF_CHECK_EQUAL(round_trip(*conn, maybe, "bigint"),
                  (std::vector<std::string>{"7", "<null>", "0"}));
  sql_array texts;
  texts.add_or_null("a").add_or_null("").add_or_null("NULL");
  CAF_CHECK_EQUAL(round_trip(*conn, texts, "text"),
                  (std::vector<std::string>{"a", "<null>", "NULL"}));
  sql_array none;
  CAF_CHECK(none.empty());
  CAF_CHECK_EQUAL(none.str(), "{}");
  CAF_CHECK(round_trip(*conn, none, "text").empty());
}
