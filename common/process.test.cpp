#define CAF_SUITE process
#include <caf/test/unit_test.hpp>

#include "common/process.hpp"

using namespace komentra;

CAF_TEST(run captures output and the exit code) {
  auto res = process::run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  CAF_CHECK_EQUAL(res.exit_code, 3);
  CAF_CHECK(res.output.find("out") != std::string::npos);
  CAF_CHECK(res.output.find("err") != std::string::npos);
}

CAF_TEST(run reports a missing program with exit code 127) {
  auto res = process::run({"komentra-no-such-program"});
  CAF_CHECK_EQUAL(res.exit_code, 127);
  CAF_CHECK(res.output.find("cannot run") != std::string::npos);
}

CAF_TEST(lookup user finds root and not a made up name) {
  auto root = process::lookup_user("root");
  CAF_REQUIRE(root.has_value());
  CAF_CHECK_EQUAL(root->uid, 0u);
  CAF_CHECK(!process::lookup_user("komentra-no-such-user"));
}
