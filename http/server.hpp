#pragma once
/// The HTTP/1.1 server (Boost.Beast) behind every endpoint: keep-alive connections on a
/// few asio threads, with the limits of the configuration applied at the point of use
/// (body and header size, header/body/idle time-outs, open connections). Requests are
/// handed to one handler as plain http::request values; the handler answers through a
/// responder from any thread. Beast stays inside server.cpp.
///
/// Failure modes: an oversized body gets 413, oversized headers 431, a slow client is
/// disconnected, a handler exception gets 500; none of them affects other connections.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/message.hpp"

namespace komentra::http {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0 picks a free port; see server::port()
  int threads = 2;
  std::size_t body_limit_bytes = 4 * 1024 * 1024;
  std::size_t header_limit_bytes = 16 * 1024;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::size_t max_connections = 4096;
};

struct server_stats {
  std::uint64_t open_connections = 0;
  std::uint64_t requests = 0;
  std::uint64_t rejected_connections = 0;
  std::uint64_t body_too_large = 0;     ///< answered 413
  std::uint64_t headers_too_large = 0;  ///< answered 431
};

class server {
 public:
  server(server_options opts, handler h);
  ~server();  ///< stop(0) if still running

  /// Binds and starts the threads. Returns an error message (e.g. the port is in use).
  std::string start();

  /// The bound port (useful with port 0).
  std::uint16_t port() const;

  /// Stops accepting, lets in-flight requests finish within `grace`, closes idle
  /// keep-alive connections, then joins the threads.
  void stop(std::chrono::milliseconds grace);

  server_stats stats() const;

  /// Runs `fn` on a server thread after `delay` (request deadlines). Not run if the
  /// server stops first, or once the returned function (callable from any thread) was
  /// called: a deadline met early releases its timer at once.
  std::function<void()> schedule(std::chrono::milliseconds delay, std::function<void()> fn);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

/// Checks that host:port can be bound right now (start-up fails early, before anything
/// else is created). Returns an error message or empty.
std::string probe_listen(const std::string& host, std::uint16_t port);

/// Wraps `respond` so that `fallback` is sent if nothing was answered within `timeout`;
/// whichever comes first answers, once.
responder with_deadline(server& srv, std::chrono::milliseconds timeout, responder respond,
                        response fallback);

}  // namespace komentra::http
