#include "http/webhook_routes.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/json_writer.hpp"
#include "http/health_routes.hpp"
#include "http/server.hpp"
#include "metrics/metrics.hpp"
#include "protocol/signature.hpp"
#include "protocol/webhook_parser.hpp"

namespace komentra::http {

namespace {

constexpr const char* path = "/webhooks/instagram";

bool plain_challenge(const std::string& s) {
  // Echoing anything else back would be a reflected-content risk; Meta sends digits.
  return !s.empty() && s.size() <= 128 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c); });
}

void handshake(const webhook_options& opts, const request& req, responder& respond) {
  auto mode = req.query_param("hub.mode");
  auto token = req.query_param("hub.verify_token");
  auto challenge = req.query_param("hub.challenge");
  auto forbidden = [&](const char* why) {
    spdlog::warn("webhook handshake refused: {}", why);
    respond(response::text(403, "forbidden\n"));
  };
  if (!mode || *mode != "subscribe") return forbidden("hub.mode is not 'subscribe'");
  if (opts.verify_token.empty()) return forbidden("no verify token is configured");
  if (!token || !crypto::constant_time_equal(*token, opts.verify_token))
    return forbidden("hub.verify_token does not match the configured token");
  if (!challenge || !plain_challenge(*challenge)) {
    spdlog::warn("webhook handshake refused: hub.challenge is missing or not alphanumeric");
    return respond(response::text(400, "hub.challenge must be letters and digits\n"));
  }
  spdlog::info("webhook handshake accepted");
  response res{200, "text/plain", *challenge, {}};
  respond(std::move(res));
}

}  // namespace

void add_webhook_routes(router& r, server& srv, actors::journal_handle journal,
                        webhook_options opts) {
  auto shared = std::make_shared<webhook_options>(std::move(opts));
  r.add("GET", path, [shared](request&& req, const path_params&, responder respond) {
    handshake(*shared, req, respond);
  });
  r.add(
      "POST", path, [shared, &srv, journal](request&& req, const path_params&, responder respond) {
        auto id = crypto::to_hex(crypto::random_bytes(8));
        // Meta sends one signature. With several, which one counts would be a guess (a proxy
        // may have added one): refused like a wrong one.
        auto signatures = req.header_count("x-hub-signature-256");
        if (signatures != 1 || !protocol::verify_signature(req.header("x-hub-signature-256"),
                                                           req.body, shared->app_secrets)) {
          spdlog::warn("delivery {}: rejected: {} X-Hub-Signature-256 (from {})", id,
                       signatures == 0  ? "missing"
                       : signatures > 1 ? "more than one"
                                        : "wrong",
                       req.remote_address);
          metrics::webhook_delivery("bad_signature");
          return respond(response::error(401, "bad_signature",
                                         "X-Hub-Signature-256 is missing, repeated or does not "
                                         "match any configured app secret"));
        }
        auto parsed =
            protocol::parse_delivery(req.body.data(), req.body.size(), req.body.capacity());
        if (!parsed.ok()) {
          spdlog::warn("delivery {}: rejected: {}", id, parsed.error);
          metrics::webhook_delivery("invalid_payload");
          return respond(response::error(400, "invalid_payload", parsed.error));
        }
        auto count = parsed.events.size();
        // The deadline's 503 and the journal's answer race; the first one is counted.
        respond = [respond, once = std::make_shared<std::atomic<bool>>(false)](response res) {
          if (!once->exchange(true))
            metrics::webhook_delivery(res.status == 200 ? "accepted" : "unavailable");
          respond(std::move(res));
        };
        respond = with_deadline(srv, shared->commit_deadline, respond,
                                response::unavailable("the database did not confirm in time", 30));
        actors::journal_request jr;
        jr.delivery = {id, std::move(req.body), std::move(parsed.events)};
        jr.done = [respond, id, count](actors::journal_outcome out) {
          if (!out.stored)
            return respond(response::unavailable("events not stored: " + out.error, 30));
          json::writer w;
          w.begin_object().field("delivery", id).field("events", static_cast<std::int64_t>(count));
          w.field("stored", static_cast<std::int64_t>(out.new_events));
          w.field("duplicates", static_cast<std::int64_t>(out.duplicates)).end_object();
          respond(response::json(200, w.take()));
        };
        if (!journal.submit(std::move(jr))) {
          spdlog::warn("delivery {}: refused: the journal queue is full", id);
          respond(response::unavailable("too many deliveries waiting to be stored", 5));
        }
      });
}

}  // namespace komentra::http
