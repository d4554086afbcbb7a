#define CAF_SUITE ingress
#include <caf/test/unit_test.hpp>

#include <atomic>
#include <thread>

#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "http/test_client.hpp"
#include "storage/pool.hpp"
#include "storage/test_database.hpp"
#include "tests/support/komentra_process.hpp"

using namespace komentra;
namespace client = komentra::http::testing;

namespace {

constexpr const char* secret = "test_app_secret";

// Fact sheet §1.3: 301 bytes, signed with test_app_secret.
const std::string fact_sheet_body =
    R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1718000000,"changes":[{"value":{"from":{"id":"1234567890123456","username":"jane.doe"},"media":{"id":"18030000000000002","media_product_type":"REELS"},"id":"18020000000000001","text":"caf\u00e9 LINK \ud83d\udd25"},"field":"comments"}]}]})";
const std::string fact_sheet_signature =
    "sha256=eecbfb0e1202dee827617018952bfa595e2ac6cc5d2c05f1124605eef63ac50e";

// BR-01.
const std::string br01_body =
    R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"changes":[{"field":"comments","value":{"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001","media_product_type":"FEED"},"id":"17900000000000001","text":"pre\u00e7o \ud83d\udd25"}}]}]})";
const std::string br01_signature =
    "sha256=099707f20792f5e5b20d9560b7afc4fd5a71f8eb03d495bddce54cd4b370e64d";
const std::string br01_reserialised_signature =
    "sha256=6f8a7b28ca4bc8ba78797b0a7cf34c7a0858e6a51108e2028175b2baf0eae7d8";

// BR-02.
const std::string br02_body =
    R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200123,"messaging":[{"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_TEST1","text":"link: https:\/\/shop.example\/a"}}]}]})";
const std::string br02_signature =
    "sha256=89bd9b52e8ddfa23da0096b1364cc4e36ab8ad3ff035eadb5c83a18abd93239a";

// BR-03: spaces after the colons.
const std::string br03_body =
    R"({"object": "instagram", "entry": [{"id": "17841400000000001", "time": 1796299200123, "messaging": [{"sender": {"id": "9000000000000001"}, "recipient": {"id": "17841400000000001"}, "timestamp": 1796299200000, "message": {"mid": "m_TEST2", "text": "mail a@b.example"}}]}]})";
const std::string br03_signature =
    "sha256=331d276ee409819d6a7fd9079eaa7f62c5fa475f42a672337b7ade392a35bc06";

std::string sign(const std::string& body) {
  return "sha256=" + crypto::to_hex(crypto::hmac_sha256(secret, body));
}

std::string comment_change(const std::string& comment_id, const std::string& text) {
  return R"({"field":"comments","value":{"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001","media_product_type":"FEED"},"id":")" +
         comment_id + R"(","text":")" + text + R"("}})";
}

std::string comment_delivery(const std::vector<std::string>& changes) {
  std::string joined;
  for (auto& c : changes) joined += (joined.empty() ? "" : ",") + c;
  return R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"changes":[)" +
         joined + "]}]}";
}

struct fixture {
  std::string url = storage::testing::fresh_database();
  std::unique_ptr<komentra::testing::child_process> proc;
  std::uint16_t port = 0;

  fixture() { start(); }

  void start(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env{
        {"KOMENTRA_DATABASE_URL", url},
        {"KOMENTRA_LISTEN", "127.0.0.1:0"},
        {"KOMENTRA_META_APP_SECRETS", std::string("other_secret,") + secret},
        {"KOMENTRA_META_VERIFY_TOKEN", "VT_TEST"},
        {"KOMENTRA_JOURNAL_COMMIT_DEADLINE_MS", "2000"}};
    for (auto& [k, v] : extra) env[k] = v;
    proc = std::make_unique<komentra::testing::child_process>(
        komentra::testing::binary_path("KOMENTRA_BINARY"), std::vector<std::string>{"serve"}, env);
    port = proc->wait_for_port();
    if (port == 0) CAF_FAIL("komentra did not start: " << proc->output());
  }

  client::reply post(const std::string& body, const std::string& signature) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!signature.empty()) headers.emplace_back("X-Hub-Signature-256", signature);
    return client::request(port, "POST", "/webhooks/instagram", body, headers);
  }

  std::size_t count(const std::string& sql) {
    auto conn = storage::connect(url);
    pqxx::read_transaction tx(*conn);
    return tx.exec1(sql)[0].as<std::size_t>();
  }

  std::string text_of(const std::string& dedupe_key) {
    auto conn = storage::connect(url);
    pqxx::read_transaction tx(*conn);
    auto r = tx.exec_params("SELECT event->>'text' FROM journal_events WHERE dedupe_key = $1",
                            dedupe_key);
    return r.empty() ? "<none>" : r[0][0].as<std::string>();
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(ingress_tests, fixture)

CAF_TEST(the fact sheet vector is accepted and its text stored decoded) {
  auto r = post(fact_sheet_body, fact_sheet_signature);
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(text_of("comment:18020000000000001"), "caf\xC3\xA9 LINK \xF0\x9F\x94\xA5");
  CAF_CHECK_EQUAL(
      count("SELECT count(*) FROM webhook_deliveries WHERE body = '" + fact_sheet_body + "'"), 1u);
}

CAF_TEST(br01 accented and emoji text verifies over the raw bytes) {
  CAF_CHECK_EQUAL(post(br01_body, br01_signature).status, 200);
  CAF_CHECK_EQUAL(text_of("comment:17900000000000001"), "pre\xC3\xA7o \xF0\x9F\x94\xA5");
}

CAF_TEST(br01 the digest of a re serialised body is rejected and nothing stored) {
  CAF_CHECK_EQUAL(post(br01_body, br01_reserialised_signature).status, 401);
  // The decoded, re-serialised body with the original signature fails too.
  std::string reserialised =
      R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"changes":[{"field":"comments","value":{"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001","media_product_type":"FEED"},"id":"17900000000000001","text":"pre)"
      "\xC3\xA7o \xF0\x9F\x94\xA5"
      R"("}}]}]})";
  CAF_CHECK_EQUAL(post(reserialised, br01_signature).status, 401);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 0u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM webhook_deliveries"), 0u);
}

CAF_TEST(br02 escaped slashes verify and decode) {
  CAF_CHECK_EQUAL(post(br02_body, br02_signature).status, 200);
  CAF_CHECK_EQUAL(text_of("message:m_TEST1"), "link: https://shop.example/a");
}

CAF_TEST(br03 a spaced body verifies and an unsigned one is rejected) {
  CAF_CHECK_EQUAL(post(br03_body, "").status, 401);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 0u);
  CAF_CHECK_EQUAL(post(br03_body, br03_signature).status, 200);
  CAF_CHECK_EQUAL(text_of("message:m_TEST2"), "mail a@b.example");
}

CAF_TEST(a delivery with two signature headers is refused even when one is right) {
  for (auto order : {std::vector<std::string>{br03_signature, "sha256=00"},
                     std::vector<std::string>{"sha256=00", br03_signature},
                     std::vector<std::string>{br03_signature, br03_signature}}) {
    auto r =
        client::request(port, "POST", "/webhooks/instagram", br03_body,
                        {{"X-Hub-Signature-256", order[0]}, {"x-hub-signature-256", order[1]}});
    CAF_CHECK_EQUAL(r.status, 401);
  }
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 0u);
}

CAF_TEST(a sha1 signature alone is not accepted) {
  auto r = client::request(port, "POST", "/webhooks/instagram", br02_body,
                           {{"X-Hub-Signature", "sha1=0000000000000000000000000000000000000000"}});
  CAF_CHECK_EQUAL(r.status, 401);
}

CAF_TEST(br04 the handshake echoes the challenge as plain text) {
  auto r = client::request(
      port, "GET",
      "/webhooks/instagram?hub.mode=subscribe&hub.verify_token=VT_TEST&hub.challenge=1158201444");
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(r.body, "1158201444");
  CAF_CHECK_EQUAL(r.header("content-type"), "text/plain");
  CAF_CHECK_EQUAL(r.header("content-length"), "10");
}

CAF_TEST(br04 br05 wrong token other modes and script challenges are refused) {
  auto wrong = client::request(
      port, "GET",
      "/webhooks/instagram?hub.mode=subscribe&hub.verify_token=WRONG&hub.challenge=1158201444");
  CAF_CHECK_EQUAL(wrong.status, 403);
  CAF_CHECK(wrong.body.find("1158201444") == std::string::npos);
  auto unsub = client::request(
      port, "GET",
      "/webhooks/instagram?hub.mode=unsubscribe&hub.verify_token=VT_TEST&hub.challenge=2089749925");
  CAF_CHECK_EQUAL(unsub.status, 403);
  auto script = client::request(port, "GET",
                                "/webhooks/"
                                "instagram?hub.mode=subscribe&hub.verify_token=VT_TEST&hub."
                                "challenge=%3Cscript%3E1%3C%2Fscript%3E");
  CAF_CHECK_EQUAL(script.status, 400);
  CAF_CHECK(script.body.find("<script>") == std::string::npos);
  CAF_CHECK(script.header("content-type").find("text/html") == std::string::npos);
  CAF_CHECK(proc->output().find("VT_TEST") == std::string::npos);
  CAF_CHECK(proc->output().find("WRONG") == std::string::npos);
}

CAF_TEST(br13 a batch of several entries and changes stores every event) {
  std::string body =
      R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"changes":[)" +
      comment_change("17900000000000011", "link") + "," +
      comment_change("17900000000000012", "link") +
      R"(]},{"id":"17841400000000001","time":1796299200,"changes":[)" +
      comment_change("17900000000000013", "link") + "]}]}";
  auto r = post(body, sign(body));
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK(r.body.find("\"stored\":3") != std::string::npos);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 3u);
}

CAF_TEST(a delivery of 1000 updates is stored whole) {
  std::vector<std::string> changes;
  for (int i = 0; i < 1000; ++i)
    changes.push_back(comment_change(std::to_string(17900000000010000 + i), "link"));
  auto body = comment_delivery(changes);
  auto r = post(body, sign(body));
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 1000u);
}

CAF_TEST(the same delivery twice is answered twice and stored once) {
  CAF_CHECK_EQUAL(post(br01_body, br01_signature).status, 200);
  auto again = post(br01_body, br01_signature);
  CAF_CHECK_EQUAL(again.status, 200);
  CAF_CHECK(again.body.find("\"duplicates\":1") != std::string::npos);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 1u);
}

CAF_TEST(two concurrent duplicates are stored once) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      if (post(br01_body, br01_signature).status == 200) ++ok;
    });
  for (auto& t : threads) t.join();
  CAF_CHECK_EQUAL(ok.load(), 2);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 1u);
}

CAF_TEST(bad bodies with a valid signature get 400 and store nothing) {
  std::vector<std::string> bad = {
      br01_body.substr(0, br01_body.size() - 7),  // truncated
      R"({"object":"instagram","entry":"x"})",    // wrong type
      R"({"object":"instagram","entry":[{"id":"1","time":1,"changes":[{"field":"comments","value":{"id":"1","text":5}}]}]})",
      std::string(64, '[') + std::string(64, ']'),  // 64-level nesting
      R"({"object":"instagram","entry":[{"id":"1","time":1,"changes":[{"field":"comments","value":{"id":"1","text":"\xff\xfe"}}]}]})",  // invalid UTF-8
      "[]",
      "",
  };
  for (auto& body : bad) {
    auto r = post(body, sign(body));
    CAF_CHECK_EQUAL(r.status, 400);
  }
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 0u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM webhook_deliveries"), 0u);
}

CAF_TEST(a 10 MiB string gets 413 and stores nothing) {
  std::string body =
      comment_delivery({comment_change("17900000000000001", std::string(10 << 20, 'a'))});
  auto r = post(body, sign(body));
  CAF_CHECK_EQUAL(r.status, 413);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 0u);
}

CAF_TEST(a text cut inside an emoji is stored with a replacement character and its delivery whole) {
  // Meta cuts texts by UTF-16 code units: a lone high or low half of a surrogate pair.
  std::string body =
      comment_delivery({comment_change("17900000000000001", R"(LINK please \ud83d)"),
                        comment_change("17900000000000002", R"(\udc00 link)"),
                        comment_change("17900000000000003", R"(link \ud83d\udd25)")});
  auto r = post(body, sign(body));
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK(r.body.find(R"("stored":3)") != std::string::npos);
  CAF_CHECK_EQUAL(text_of("comment:17900000000000001"), "LINK please \xEF\xBF\xBD");
  CAF_CHECK_EQUAL(text_of("comment:17900000000000002"), "\xEF\xBF\xBD link");
  CAF_CHECK_EQUAL(text_of("comment:17900000000000003"), "link \xF0\x9F\x94\xA5");
  // The raw body is kept as received, escapes and all (text, never cast to jsonb).
  auto conn = storage::connect(url);
  pqxx::read_transaction tx(*conn);
  CAF_CHECK_EQUAL(
      tx.exec_params1("SELECT count(*) FROM webhook_deliveries WHERE body = $1", body)[0].as<int>(),
      1);
}

CAF_TEST(unknown shapes are stored as unknown events and answered 200) {
  std::string body =
      R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"changes":[{"field":"story_insights","value":{"media_id":"18000000000000009","reach":5}}]}]})";
  CAF_CHECK_EQUAL(post(body, sign(body)).status, 200);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events WHERE kind = 'unknown'"), 1u);
}

CAF_TEST(with the database stopped deliveries get 503 and nothing answered 200 is lost) {
  // A stream of distinct comments while the database goes away and comes back; every
  // comment answered 200 must be in the journal exactly once afterwards.
  std::vector<std::string> acknowledged;
  int unavailable = 0;
  auto send = [&](int i) {
    auto id = std::to_string(17900000000020000 + i);
    auto body = comment_delivery({comment_change(id, "link")});
    auto r = post(body, sign(body));
    if (r.status == 200)
      acknowledged.push_back("comment:" + id);
    else if (r.status == 503) {
      ++unavailable;
      CAF_CHECK(!r.header("retry-after").empty());
    } else {
      CAF_FAIL("unexpected status " << r.status);
    }
  };
  for (int i = 0; i < 20; ++i) send(i);
  storage::testing::cluster().stop();
  for (int i = 20; i < 40; ++i) send(i);
  CAF_REQUIRE_EQUAL(storage::testing::cluster().start(), "");
  for (int i = 40; i < 60; ++i) send(i);
  // Meta retries what got 503.
  for (int i = 20; i < 40; ++i) send(i);
  CAF_CHECK_GREATER(unavailable, 0);
  auto conn = storage::connect(url);
  pqxx::read_transaction tx(*conn);
  for (auto& key : acknowledged)
    CAF_CHECK_EQUAL(
        tx.exec_params1("SELECT count(*) FROM journal_events WHERE dedupe_key = $1", key)[0]
            .as<int>(),
        1);
  CAF_CHECK_EQUAL(tx.exec1("SELECT count(*) FROM journal_events")[0].as<int>(), 60);
}

CAF_TEST_FIXTURE_SCOPE_END()
