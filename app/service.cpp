#include "app/service.hpp"

#include <signal.h>

#include <spdlog/spdlog.h>

#include <caf/all.hpp>

#include "actors/journal.hpp"
#include "actors/messages.hpp"
#include "actors/router.hpp"
#include "app/database.hpp"
#include "http/api_routes.hpp"
#include "http/client.hpp"
#include "http/health_routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/webhook_routes.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"

namespace komentra::app {

namespace ms = std::chrono;

struct actor_config : caf::actor_system_config {
  explicit actor_config(const config::settings& cfg) {
    actors::add_message_types(*this);
    set("scheduler.max-threads", static_cast<std::size_t>(cfg.integer("actors.threads")));
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

struct service::impl {
  config::settings cfg;
  database db;
  std::unique_ptr<storage::pool> pool;
  std::unique_ptr<actor_config> actor_cfg;
  std::unique_ptr<caf::actor_system> actor_sys;
  actors::router_actor router;
  actors::journal_handle journal;
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
      if (auto err = http::probe_listen(host, port); !err.empty()) return err;
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
                              static_cast<std::size_t>(cfg.integer("database.queue_limit"))});

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

    actor_cfg = std::make_unique<actor_config>(cfg);
    actor_sys = std::make_unique<caf::actor_system>(*actor_cfg);
    router = actors::spawn_router(*actor_sys);
    actors::journal_options jopts;
    jopts.database_url = db.url();
    jopts.max_batch_rows = static_cast<std::size_t>(cfg.integer("journal.max_batch_rows"));
    jopts.batch_wait = std::chrono::microseconds(cfg.integer("journal.batch_wait_us"));
    jopts.raw_retention = std::chrono::hours(cfg.integer("journal.raw_retention_hours"));
    journal = actors::spawn_journal(*actor_sys, jopts, router,
                                    static_cast<std::size_t>(cfg.integer("journal.queue_limit")));
    http::webhook_options wopts;
    wopts.app_secrets = cfg.list("meta.app_secrets");
    wopts.verify_token = cfg.str("meta.verify_token");
    wopts.commit_deadline = ms::milliseconds(cfg.integer("journal.commit_deadline_ms"));
    http::add_webhook_routes(routes, *server, journal, wopts);

    graph = std::make_unique<http::client>(http::client_options{});
    api = std::make_unique<http::api_context>(http::api_context{cfg, *pool, *server, *graph, {}});
    api->engine.automations_changed = [](const std::string&) {};
    api->engine.account_removed = [](const std::string&) {};
    api->engine.live_state = [](const std::string&, std::function<void(std::string)> done) {
      done("{}");
    };
    http::add_api_routes(routes, *api);
    if (auto err = server->start(); !err.empty()) return err;
    spdlog::info("komentra listening on http://{}:{} (database: {})", host, server->port(),
                 db.embedded() ? "embedded PostgreSQL" : config::mask_database_url(db.url()));
    return {};
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
      caf::anon_send_exit(journal.actor(), caf::exit_reason::user_shutdown);
      caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
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

std::uint16_t service::port() const {
  return impl_->server ? impl_->server->port() : 0;
}

void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_termination_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace komentra::app
