#define CAF_SUITE json_writer
#include <caf/test/unit_test.hpp>

#include "common/json_writer.hpp"

using namespace komentra;

CAF_TEST(writer builds nested documents with commas in the right places) {
  json::writer w;
  w.begin_object().field("a", 1).key("b").begin_array().value("x").value(true).null().end_array();
  w.field("c", std::string("y")).end_object();
  CAF_CHECK_EQUAL(w.str(), R"({"a":1,"b":["x",true,null],"c":"y"})");
}

CAF_TEST(quote escapes quotes backslashes and control characters) {
  CAF_CHECK_EQUAL(json::quote("a\"b\\c\nd\x01"), R"("a\"b\\c\nd\u0001")");
}

CAF_TEST(quote keeps valid utf8 and replaces invalid bytes) {
  CAF_CHECK_EQUAL(json::quote("pre\xC3\xA7o \xF0\x9F\x94\xA5"),
                  "\"pre\xC3\xA7o \xF0\x9F\x94\xA5\"");
  CAF_CHECK_EQUAL(json::quote("a\xFF"
                              "b"),
                  "\"a\xEF\xBF\xBD"
                  "b\"");
  CAF_CHECK_EQUAL(json::quote("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}
