#pragma once
/// Meta's webhook endpoint: GET /webhooks/instagram (the verification handshake) and
/// POST /webhooks/instagram (signed deliveries). A delivery is answered 200 only after
/// its events are committed by the journal; a wrong or missing signature gets 401 and
/// nothing is stored; a body that is not Meta's JSON envelope gets 400; a database that
/// is down, slow past the deadline or backed up gets 503 with Retry-After, so Meta
/// retries later and nothing is lost.

#include <chrono>
#include <string>
#include <vector>

#include "actors/journal.hpp"
#include "http/router.hpp"

namespace komentra::http {

class server;

struct webhook_options {
  std::vector<std::string> app_secrets;
  std::string verify_token;
  std::chrono::milliseconds commit_deadline{5000};
};

void add_webhook_routes(router& r, server& srv, actors::journal_handle journal,
                        webhook_options opts);

}  // namespace komentra::http
