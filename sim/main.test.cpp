#define CAF_SUITE sim_process
#include <caf/test/unit_test.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/child_process.hpp"
#include "http/test_client.hpp"

using namespace komentra;
namespace tc = komentra::http::testing;

namespace {

/// komentra-sim delivering webhooks to `url`; with `blocked`, started as `komentra demo`
/// starts it: from a thread that has SIGINT and SIGTERM blocked for its own sigwait.
std::unique_ptr<child_process> start_sim(const std::string& url, bool blocked) {
  const char* binary = std::getenv("KOMENTRA_SIM_BINARY");
  CAF_REQUIRE(binary != nullptr);
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (blocked) pthread_sigmask(SIG_BLOCK, &set, &old);
  auto sim = std::make_unique<child_process>(
      binary,
      std::vector<std::string>{"serve", "--listen", "127.0.0.1:0", "--webhook-url", url,
                               "--batch-window-ms", "1", "--retry-base-ms", "60000"},
      std::map<std::string, std::string>{});
  if (blocked) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return sim;
}

}  // namespace

CAF_TEST(sigterm stops the simulator at once while a delivery hangs or waits for a retry) {
  // Accepts connections and never answers: the delivery waits for its 5 s time-out.
  std::uint16_t hang_port = 0;
  int hang = tc::listen_loopback(hang_port);
  // Refuses connections: the delivery fails at once and waits a minute for its retry.
  auto refused = "http://127.0.0.1:" + std::to_string(tc::free_port()) + "/webhooks/instagram";
  auto hanging = "http://127.0.0.1:" + std::to_string(hang_port) + "/webhooks/instagram";
  for (auto& url : {hanging, refused}) {
    for (bool blocked : {false, true}) {
      CAF_MESSAGE("webhooks to " << url << (blocked ? ", started with signals blocked" : ""));
      auto sim = start_sim(url, blocked);
      auto port = sim->wait_for_port();
      CAF_REQUIRE(port != 0);
      auto control = [&](const std::string& path, const std::string& body) {
        auto r = tc::request(port, "POST", path, body);
        CAF_REQUIRE(r.status >= 200 && r.status < 300);
      };
      control("/_sim/accounts", R"({"id":"17841400000000001","username":"shop"})");
      control("/_sim/media", R"({"account_id":"17841400000000001","id":"18000000000000001"})");
      control("/_sim/users", R"({"account_id":"17841400000000001","id":"9000000000000001"})");
      control("/_sim/comments",
              R"({"media_id":"18000000000000001","user_id":"9000000000000001","text":"link"})");
      bool pending = false;
      for (int i = 0; i < 100 && !pending; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        auto deliveries = tc::request(port, "GET", "/_sim/deliveries").body;
        pending = deliveries.find(R"("pending":1)") != std::string::npos &&
                  (url == hanging || deliveries.find(R"("attempt":1)") != std::string::npos);
      }
      CAF_REQUIRE(pending);
      auto start = std::chrono::steady_clock::now();
      sim->terminate();
      auto status = sim->wait_exit(std::chrono::seconds(10));
      auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count();
      CAF_CHECK_EQUAL(status, 0);
      CAF_CHECK_LESS(took_ms, 1000);
    }
  }
  ::close(hang);
}
