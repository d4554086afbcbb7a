#include "app/service.hpp"

#include <spdlog/spdlog.h>

#include <caf/all.hpp>

#include "actors/engine.hpp"
#include "actors/journal.hpp"
#include "actors/messages.hpp"
#include "actors/router.hpp"
#include "actors/token_refresher.hpp"
#include "app/database.hpp"
#include "http/api_routes.hpp"
#include "http/client.hpp"
#include "http/health_routes.hpp"
#include "http/link_routes.hpp"
#include "http/operations_routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/webhook_routes.hpp"
#include "storage/engine_store.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"

namespace komentra::app {

namespace ms = std::chrono;

struct actor_config : caf::actor_system_config {
  explicit actor_config(const config::settings& cfg) {
    actors::add_message_types(*this);
    set("scheduler.max-threads", static_cast<std::size_t>(cfg.integer("actors.threads")));
    set("scheduler.policy", caf::atom_from_string(cfg.str("actors.scheduler")));
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

// A listen failure names the key that sets the address.
std::string listen_error(const std::string& err) {
  return err + "; the address is listen (KOMENTRA_LISTEN)";
}

struct service::impl {
  config::settings cfg;
  database db;
  std::unique_ptr<storage::pool> pool;
  std::unique_ptr<actor_config> actor_cfg;
  std::unique_ptr<caf::actor_system> actor_sys;
  std::shared_ptr<actors::engine_context> engine;
  actors::router_actor router;
  actors::journal_handle journal;
  caf::actor token_refresher;
  http::router routes;
  std::unique_ptr<http::server> server;
  std::unique_ptr<http::client> graph;  ///< outgoing Graph API / OAuth calls
  std::unique_ptr<http::api_context> api;

  explicit impl(config::settings c) : cfg(std::move(c)) {}

  std::string start() {
    auto [host, port] = config::split_host_port(cfg.str("listen"));
    if (cfg.list("meta.app_secrets").empty())
      spdlog::warn(
          "no meta.app_secrets configured (KOMENTRA_META_APP_SECRETS): every webhook "
          "delivery will be rejected with 401");
    // Fail on a busy port before anything (database, data directory) is created.
    if (port != 0)
      if (auto err = http::probe_listen(host, port); !err.empty()) return listen_error(err);
    // Not configured, the public URL is where this server listens (a break test on another
    // port got email links and the webhook check pointing at 8080).
    if (cfg.source("public_base_url") == config::origin::schema_default && port != 0) {
      auto reachable = host == "0.0.0.0" || host == "::" ? std::string("127.0.0.1") : host;
      if (reachable.find(':') != std::string::npos) reachable = "[" + reachable + "]";
      cfg.set("public_base_url", "http://" + reachable + ":" + std::to_string(port),
              config::origin::schema_default);
    }
    if (auto err = db.open(cfg); !err.empty()) return err;
    {
      auto conn = storage::connect(db.url());
      auto res = storage::migrate(*conn);
      if (!res.error.empty()) return res.error;
      if (res.from_version != res.to_version)
        spdlog::info("database schema migrated from version {} to {}", res.from_version,
                     res.to_version);
    }
    pool = std::make_unique<storage::pool>(
        storage::pool_options{db.url(), static_cast<std::size_t>(cfg.integer("database.pool_size")),
                              static_cast<std::size_t>(cfg.integer("database.queue_limit")),
                              static_cast<std::size_t>(cfg.integer("database.batch_max_jobs"))});

    http::server_options opts;
    opts.host = host;
    opts.port = port;
    opts.threads = static_cast<int>(cfg.integer("http.threads"));
    opts.body_limit_bytes = static_cast<std::size_t>(cfg.integer("http.body_limit_bytes"));
    opts.header_limit_bytes = static_cast<std::size_t>(cfg.integer("http.header_limit_bytes"));
    opts.header_timeout = ms::milliseconds(cfg.integer("http.header_timeout_ms"));
    opts.body_timeout = ms::milliseconds(cfg.integer("http.body_timeout_ms"));
    opts.idle_timeout = ms::milliseconds(cfg.integer("http.idle_timeout_ms"));
    opts.max_connections = static_cast<std::size_t>(cfg.integer("http.max_connections"));
    server =
        std::make_unique<http::server>(opts, [this](http::request&& req, http::responder respond) {
          routes(std::move(req), std::move(respond));
        });
    http::add_health_routes(routes, *server, *pool, ms::milliseconds(2000));

    http::client_options graph_opts;
    // Many accounts send at once to the same Graph API host: a connection opened for each
    // call beyond the idle ones kept costs a TCP (and TLS) handshake.
    graph_opts.max_idle_per_host =
        static_cast<std::size_t>(cfg.integer("engine.graph_connections"));
    graph = std::make_unique<http::client>(graph_opts);
    actor_cfg = std::make_unique<actor_config>(cfg);
    actor_sys = std::make_unique<caf::actor_system>(*actor_cfg);
    engine = make_engine();
    router = actors::spawn_router(*actor_sys, engine);
    actors::token_refresher_settings tsettings;
    tsettings.interval = std::chrono::seconds(cfg.integer("tokens.refresh_interval_s"));
    tsettings.refresh_after = std::chrono::hours(24 * cfg.integer("tokens.refresh_after_days"));
    tsettings.expiry_margin = std::chrono::hours(24 * cfg.integer("tokens.refresh_margin_days"));
    token_refresher = actors::spawn_token_refresher(*actor_sys, engine, router, tsettings);
    actors::journal_options jopts;
    jopts.database_url = db.url();
    jopts.writers = static_cast<std::size_t>(cfg.integer("journal.writers"));
    jopts.max_batch_rows = static_cast<std::size_t>(cfg.integer("journal.max_batch_rows"));
    jopts.batch_wait = std::chrono::microseconds(cfg.integer("journal.batch_wait_us"));
    jopts.raw_retention = std::chrono::hours(cfg.integer("journal.raw_retention_hours"));
    jopts.unowned_retention = std::chrono::hours(cfg.integer("journal.unowned_retention_hours"));
    journal = actors::spawn_journal(*actor_sys, jopts, router,
                                    static_cast<std::size_t>(cfg.integer("journal.queue_limit")));
    http::webhook_options wopts;
    wopts.app_secrets = cfg.list("meta.app_secrets");
    wopts.verify_token = cfg.str("meta.verify_token");
    wopts.commit_deadline = ms::milliseconds(cfg.integer("journal.commit_deadline_ms"));
    http::add_webhook_routes(routes, *server, journal, wopts);

    api = std::make_unique<http::api_context>(http::api_context{cfg, *pool, *server, *graph, {}});
    auto r = router;
    api->engine.automations_changed = [r](const std::string& id) {
      caf::anon_send(r, actors::reload_atom::value, id);
    };
    api->engine.account_removed = [r](const std::string& id) {
      caf::anon_send(r, actors::remove_atom::value, id);
    };
    api->engine.live_state = [this](const std::string& id, std::function<void(std::string)> done) {
      ask_account_state(id, std::move(done));
    };
    http::add_api_routes(routes, *api);
    http::add_link_routes(routes, *server, *pool);
    http::add_operations_routes(
        routes, {cfg.str("admin_token"), cfg.str("meta.verify_token"), cfg.str("public_base_url"),
                 server.get(), pool.get(), graph.get(), actor_sys.get(), router, engine->counters,
                 journal});

    // Events stored but not decided, and actions not sent, before the last stop go on now.
    actors::resume_unfinished_work(*actor_sys, engine, router);
    if (auto err = server->start(); !err.empty()) return listen_error(err);
    spdlog::info("komentra listening on http://{}:{} (database: {})", host, server->port(),
                 db.embedded() ? "embedded PostgreSQL" : config::mask_database_url(db.url()));
    return {};
  }

  std::shared_ptr<actors::engine_context> make_engine() {
    auto ctx = std::make_shared<actors::engine_context>();
    auto& s = ctx->settings;
    s.graph_base_url = cfg.str("graph.base_url");
    s.facebook_graph_base_url = cfg.str("graph.facebook_base_url");
    s.graph_version = cfg.str("meta.graph_version");
    s.token_key_hex = cfg.str("token_key");
    s.link_base_url = http::tracked_link_base(cfg.str("public_base_url"));
    if (s.link_base_url.empty())
      spdlog::info(
          "public_base_url is not https: DM buttons carry their own URLs and link clicks "
          "are not counted (set KOMENTRA_PUBLIC_BASE_URL to an https URL to count them)");
    s.passivate_after = std::chrono::seconds(cfg.integer("engine.passivate_after_s"));
    s.unknown_account_ttl = std::chrono::seconds(cfg.integer("engine.unknown_account_ttl_s"));
    s.mailbox_high_watermark =
        static_cast<std::size_t>(cfg.integer("engine.mailbox_high_watermark"));
    s.public_replies_per_hour = static_cast<int>(cfg.integer("engine.public_replies_per_hour"));
    s.max_send_attempts = static_cast<int>(cfg.integer("engine.max_send_attempts"));
    s.retry_base = ms::milliseconds(cfg.integer("engine.retry_base_ms"));
    s.unreachable_give_up = std::chrono::hours(cfg.integer("engine.unreachable_give_up_hours"));
    s.call_timeout = ms::milliseconds(cfg.integer("engine.graph_timeout_ms"));
    s.verify_delay = ms::milliseconds(cfg.integer("engine.verify_delay_ms"));
    s.crash_limit = static_cast<int>(cfg.integer("engine.crash_limit"));
    s.crash_window = std::chrono::seconds(cfg.integer("engine.crash_window_s"));
    s.senders = static_cast<std::size_t>(cfg.integer("engine.senders"));
    ctx->db = pool.get();
    ctx->graph = graph.get();
    for (std::size_t i = 0; i < s.senders; ++i)
      ctx->senders.push_back(actors::spawn_sender(*actor_sys, ctx));
    return ctx;
  }

  // Asks the router for an account actor's state without blocking: a short-lived actor
  // waits for the answer and hands it to `done`.
  void ask_account_state(std::string id, std::function<void(std::string)> done) {
    actors::ask_router(*actor_sys, router, std::chrono::seconds(3),
                       caf::make_message(actors::state_atom::value, std::move(id)), done,
                       [done](const std::string&) { done("{\"status\":\"unavailable\"}"); });
  }

  void stop() {
    if (server) {
      spdlog::info("shutting down: no new connections, finishing in-flight requests");
      server->stop(ms::milliseconds(cfg.integer("http.shutdown_grace_ms")));
      server.reset();
    }
    if (graph) graph->stop();
    if (actor_sys) {
      // The journal finishes its batch before it exits; the system waits for all actors.
      journal.stop();
      caf::anon_send_exit(token_refresher, caf::exit_reason::user_shutdown);
      token_refresher = nullptr;
      caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
      if (engine)
        for (auto& snd : engine->senders) caf::anon_send_exit(snd, caf::exit_reason::user_shutdown);
      engine.reset();
      journal = {};
      router = nullptr;
      actor_sys.reset();
      actor_cfg.reset();
    }
    api.reset();
    graph.reset();
    pool.reset();
    db.close();
  }
};

service::service(config::settings cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

service::~service() {
  stop();
}

std::string service::start() {
  try {
    return impl_->start();
  } catch (const std::exception& e) {
    return std::string("start-up failed: ") + e.what();
  }
}

void service::stop() {
  impl_->stop();
}

std::string service::database_url() const {
  return impl_->db.url();
}

const actors::engine_counters& service::engine_counters() const {
  return *impl_->engine->counters;
}

const actors::journal_counters& service::journal_counters() const {
  return impl_->journal.counters();
}

std::uint16_t service::port() const {
  return impl_->server ? impl_->server->port() : 0;
}

}  // namespace komentra::app
