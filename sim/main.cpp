// komentra-sim: a local Instagram Platform (Graph API, OAuth, webhooks) for tests, demos
// and load. `komentra-sim --help`, `komentra-sim serve --help`, `komentra-sim load --help`.
#include <csignal>
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "common/signals.hpp"
#include "sim/load.hpp"
#include "sim/simulator.hpp"

namespace {

bool split_host_port(const std::string& text, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  try {
    auto p = std::stoul(text.substr(colon + 1));
    if (p > 65535) return false;
    port = static_cast<std::uint16_t>(p);
  } catch (...) {
    return false;
  }
  return !host.empty();
}

}  // namespace

int main(int argc, char** argv) {
  using komentra::sim::load_options;
  using komentra::sim::sim_options;
  CLI::App app{
      "komentra-sim: a local Instagram Platform simulator (Graph API under any /vNN.0 prefix, "
      "OAuth, signed webhooks, Meta's limits and errors) with a control API under /_sim/.\n"
      "Without a subcommand it runs `serve`."};
  app.require_subcommand(0, 1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();

  sim_options so;
  std::string listen = "127.0.0.1:8090";
  // The serve options live on the top level so `komentra-sim --listen ...` works; the
  // `serve` subcommand passes them through.
  auto* serve = &app;
  app.add_subcommand("serve",
                     "Serve the Graph API and the control API (default; takes the options above)")
      ->fallthrough();
  serve->add_option("--listen", listen, "host:port to listen on (port 0 picks a free one)")
      ->capture_default_str();
  serve->add_option("--threads", so.threads, "HTTP server threads")->capture_default_str();
  serve->add_option("--app-id", so.app_id, "Instagram app id (OAuth client_id)")
      ->capture_default_str();
  serve
      ->add_option("--app-secret", so.app_secret,
                   "Instagram app secret: signs webhooks, OAuth client_secret")
      ->capture_default_str();
  serve
      ->add_option("--verify-token", so.verify_token,
                   "hub.verify_token sent by POST /_sim/webhooks/verify")
      ->capture_default_str();
  serve->add_option("--webhook-url", so.webhook_url,
                    "where webhook deliveries are POSTed (empty: log only)");
  serve->add_option("--duplicate-rate", so.duplicate_rate, "share of deliveries sent twice (0..1)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  serve
      ->add_option("--batch-window-ms", so.batch_window_ms,
                   "events within this window share one POST")
      ->capture_default_str();
  serve->add_option("--batch-max", so.batch_max, "entries per POST at most")->capture_default_str();
  serve
      ->add_option("--delivery-timeout-ms", so.delivery_timeout_ms,
                   "ack time-out per delivery (Meta: 5-20 s)")
      ->capture_default_str();
  serve->add_option("--max-attempts", so.max_attempts, "delivery attempts per body, first included")
      ->capture_default_str();
  serve->add_option("--retry-base-ms", so.retry_base_ms, "first retry delay; doubles per attempt")
      ->capture_default_str();
  serve->add_flag("!--no-sha1-header", so.sha1_header,
                  "do not send the legacy X-Hub-Signature (sha1)");
  serve->add_flag(
      "--require-subscription", so.require_subscription,
      "deliver only fields the account subscribed through POST /{ig-id}/subscribed_apps");
  serve
      ->add_option("--send-per-second", so.send_per_second,
                   "Send API calls per account per second (over: code 613)")
      ->capture_default_str();
  serve
      ->add_option("--private-replies-per-hour", so.private_replies_per_hour,
                   "private replies per account per hour (over: code 613)")
      ->capture_default_str();
  serve
      ->add_option("--buc-calls-per-hour", so.buc_calls_per_hour,
                   "non-messaging calls per account per hour (over: code 80002)")
      ->capture_default_str();
  serve
      ->add_option("--app-calls-per-hour", so.app_calls_per_hour,
                   "all calls of the app per hour (over: code 4)")
      ->capture_default_str();
  serve->add_flag(
      "!--no-postback-consent", so.postback_grants_consent,
      "a postback tap does not grant profile consent (profile reads keep failing with 230)");
  serve->add_flag(
      "--wrapped-token-response", so.wrapped_token_response,
      "answer the code exchange as {\"data\":[...]} (the docs) instead of flat (practice)");
  serve->add_option("--seed", so.seed, "seed for duplicates and fault shares (0: random)")
      ->capture_default_str();

  load_options lo;
  std::string keywords = "link";
  auto* load = app.add_subcommand(
      "load", "Send an open-loop stream of signed comment webhooks to a target and report");
  load->add_option("--rate", lo.rate, "deliveries per second")->capture_default_str();
  load->add_option("--accounts", lo.accounts, "distinct IG account ids (entry.id)")
      ->capture_default_str();
  load->add_option("--duration", lo.duration_s, "seconds to send for")->capture_default_str();
  load->add_option("--target", lo.target, "the webhook URL to POST to")->required();
  load->add_option("--app-secret", lo.app_secret, "secret for X-Hub-Signature-256")
      ->capture_default_str();
  load->add_option("--match-share", lo.match_share, "share of comments containing a keyword (0..1)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  load->add_option("--keywords", keywords, "comma-separated keywords for matching comments")
      ->capture_default_str();
  load->add_option("--timeout-ms", lo.timeout_ms, "per-request time-out")->capture_default_str();
  load->add_option("--client-threads", lo.client_threads, "HTTP client threads")
      ->capture_default_str();
  load->add_option("--seed", lo.seed, "seed for the text mix")->capture_default_str();

  app.footer("\nload subcommand:\n" + load->help());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help is not an error; anything else is a start-up error, exit status 2 as komentra's.
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  komentra::log::setup(komentra::log::format::text, log_level);

  if (load->parsed()) {
    lo.keywords.clear();
    std::size_t start = 0;
    while (start <= keywords.size()) {
      auto end = keywords.find(',', start);
      if (end == std::string::npos) end = keywords.size();
      if (end > start) lo.keywords.push_back(keywords.substr(start, end - start));
      start = end + 1;
    }
    if (lo.rate <= 0 || lo.duration_s <= 0) {
      std::cerr << "--rate and --duration must be positive\n";
      return 2;
    }
    auto rep = komentra::sim::run_load(lo);
    std::cout << komentra::sim::format_report(rep);
    return 0;
  }

  if (!split_host_port(listen, so.host, so.port)) {
    std::cerr << "--listen must be host:port, got '" << listen << "'\n";
    return 2;
  }
  // Before any thread starts, so that only the wait below takes them.
  komentra::block_termination_signals();
  komentra::sim::simulator sim(so);
  if (auto err = sim.start(); !err.empty()) {
    std::cerr << "komentra-sim: " << err << "; the address is --listen\n";
    return 2;
  }
  // Printed whatever the log level: programs that start the simulator on port 0 (the
  // demo, the tests) read the port from this line.
  std::fprintf(stderr,
               "komentra-sim listening on http://%s:%u (Graph API under /vNN.0/, control API under "
               "/_sim/); webhooks to %s\n",
               so.host.c_str(), static_cast<unsigned>(sim.port()),
               so.webhook_url.empty() ? "(none)" : so.webhook_url.c_str());
  komentra::wait_for_termination_signal();
  sim.stop();
  return 0;
}
