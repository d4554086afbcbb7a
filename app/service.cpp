#include "app/service.hpp"

#include <signal.h>

#include <spdlog/spdlog.h>

#include "app/database.hpp"
#include "http/health_routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"

namespace komentra::app {

namespace ms = std::chrono;

struct service::impl {
  config::settings cfg;
  database db;
  std::unique_ptr<storage::pool> pool;
  http::router routes;
  std::unique_ptr<http::server> server;

  explicit impl(config::settings c) : cfg(std::move(c)) {}

  std::string start() {
    auto [host, port] = config::split_host_port(cfg.str("listen"));
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
    pool = std::make_unique<storage::pool>(storage::pool_options{
        db.url(), static_cast<std::size_t>(cfg.integer("database.pool_size")),
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
    server = std::make_unique<http::server>(
        opts, [this](http::request&& req, http::responder respond) {
          routes(std::move(req), std::move(respond));
        });
    http::add_health_routes(routes, *server, *pool, ms::milliseconds(2000));
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
    pool.reset();
    db.close();
  }
};

service::service(config::settings cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

service::~service() { stop(); }

std::string service::start() {
  try {
    return impl_->start();
  } catch (const std::exception& e) {
    return std::string("start-up failed: ") + e.what();
  }
}

void service::stop() { impl_->stop(); }

std::uint16_t service::port() const { return impl_->server ? impl_->server->port() : 0; }

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
