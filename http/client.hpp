#pragma once
/// An asynchronous HTTP/1.1 client (Boost.Beast + OpenSSL) for outgoing calls: the
/// engine's Graph API requests and the simulator's webhook deliveries. Requests are
/// plain values; the answer comes back through a callback. Beast stays in client.cpp.
///
/// Threads: the client owns its own asio io_context and `threads` I/O threads. Callbacks
/// run on one of those threads: keep them short and never block in them (calling send()
/// from a callback is fine). send() itself never blocks and may be called from any thread.
///
/// Connections: kept alive and reused per (scheme, host, port), at most
/// `max_idle_per_host` idle ones are kept, each for at most `idle_timeout`. Before reuse an
/// idle connection is probed without blocking; one the peer has closed is discarded. If a
/// reused connection still fails before any response byte arrives, the request is retried
/// once on a fresh connection, but only for idempotent methods (GET, HEAD, PUT, DELETE,
/// OPTIONS): a POST is never sent twice by the client, so "did my write happen?" stays
/// the caller's decision.
///
/// TLS: https URLs are verified against the system trust store (plus `extra_ca_file`),
/// with SNI and host-name verification; plain http is allowed.
///
/// Failures are values: a transport failure, a time-out or an oversized answer gives a
/// client_response with status 0 and a non-empty `error`; an HTTP error status (4xx, 5xx)
/// is a normal response. After stop() (or in the destructor) pending requests complete with
/// error "client stopped", and send() answers that error at once.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace komentra::http {

struct client_options {
  int threads = 1;
  /// Idle keep-alive connections kept per (scheme, host, port).
  std::size_t max_idle_per_host = 16;
  /// An idle connection older than this is closed instead of reused.
  std::chrono::milliseconds idle_timeout{30000};
  /// Resolve + TCP connect + TLS handshake; also bounded by the request's timeout.
  std::chrono::milliseconds connect_timeout{5000};
  /// Answers larger than this fail with an error.
  std::size_t body_limit_bytes = 8 * 1024 * 1024;
  /// Verify server certificates and host names (never turn off outside tests).
  bool verify_tls = true;
  /// An extra PEM file of trusted certificates, added to the system store.
  std::string extra_ca_file;
  std::string user_agent = "komentra";
};

struct client_request {
  std::string method = "GET";
  /// Absolute URL: http://host[:port]/path?query or https://... (IPv6 as [::1]).
  std::string url;
  /// Extra headers. Host, User-Agent and Content-Length are set by the client unless given.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// Deadline for the whole exchange (connect, write, read), from the call to send().
  std::chrono::milliseconds timeout{10000};
};

struct client_response {
  int status = 0;                                            ///< HTTP status; 0 when `error` is set
  std::vector<std::pair<std::string, std::string>> headers;  ///< names in lower case
  std::string body;
  /// Empty on success; otherwise what went wrong ("timeout", "connection refused",
  /// "certificate verify failed", ...).
  std::string error;
  bool timed_out = false;  ///< the error is the request's deadline
  /// Whether the request bytes were completely written before the failure (for deciding
  /// whether a failed non-idempotent call may have taken effect).
  bool request_sent = false;
  std::chrono::microseconds elapsed{0};

  bool ok() const { return error.empty(); }
  /// The first header of that (case-insensitive) name, or empty.
  std::string_view header(std::string_view name) const;
};

struct client_stats {
  std::uint64_t requests = 0;
  std::uint64_t connections_opened = 0;  ///< new TCP connections
  std::uint64_t connections_reused = 0;  ///< requests served on a kept-alive connection
  std::uint64_t failures = 0;            ///< responses with `error` set
};

/// The parts of an absolute http(s) URL.
struct url_parts {
  bool tls = false;
  std::string host;  ///< without brackets for IPv6
  std::uint16_t port = 0;
  std::string target = "/";  ///< path and query
};

/// Splits an absolute http/https URL; nullopt when it is not one.
std::optional<url_parts> parse_url(std::string_view url);

class client {
 public:
  /// Starts the I/O threads. Throws std::runtime_error when the TLS context cannot be
  /// set up (e.g. `extra_ca_file` is unreadable): a start-up error.
  explicit client(client_options opts = {});
  ~client();  ///< stop()
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends one request; `done` is called exactly once.
  void send(client_request req, std::function<void(client_response)> done);

  /// Blocking convenience for tools and tests: sends and waits. Must not be called from
  /// a callback of this client (it would wait for its own thread).
  client_response send_and_wait(client_request req);

  /// Aborts pending requests (their callbacks get "client stopped"), closes connections
  /// and joins the threads. Idempotent.
  void stop();

  client_stats stats() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace komentra::http
