#include "http/client.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace komentra::http {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

std::string_view client_response::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  return {};
}

std::optional<url_parts> parse_url(std::string_view url) {
  url_parts out;
  auto lower_prefix = [&](std::string_view p) {
    if (url.size() < p.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(url[i])) != p[i]) return false;
    return true;
  };
  if (lower_prefix("https://")) {
    out.tls = true;
    url.remove_prefix(8);
  } else if (lower_prefix("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  auto end = url.find_first_of("/?#");
  auto authority = url.substr(0, end);
  auto rest = end == std::string_view::npos ? std::string_view{} : url.substr(end);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port_text;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return std::nullopt;
  for (auto& c : out.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (port_text.empty()) {
    out.port = out.tls ? 443 : 80;
  } else {
    unsigned long port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return std::nullopt;
      port = port * 10 + static_cast<unsigned long>(c - '0');
      if (port > 65535) return std::nullopt;
    }
    if (port == 0) return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
  }
  if (rest.empty()) {
    out.target = "/";
  } else if (rest.front() == '?') {
    out.target = "/" + std::string(rest);
  } else {
    out.target = std::string(rest);
  }
  return out;
}

namespace {

bool is_idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

/// One TCP (or TLS over TCP) connection to one origin. Its operations run on its strand.
struct connection {
  connection(net::io_context& ioc, ssl::context* tls_ctx, std::string origin)
      : key(std::move(origin)), strand(net::make_strand(ioc)), resolver(strand), timer(strand) {
    if (tls_ctx)
      tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(strand, *tls_ctx);
    else
      plain = std::make_unique<beast::tcp_stream>(strand);
  }

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  /// Abrupt close (no TLS close_notify): cancels whatever is pending on it.
  void close() {
    beast::error_code ec;
    resolver.cancel();
    timer.cancel();
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }

  /// Whether an idle connection still looks usable: nothing to read and not closed.
  bool alive() {
    auto& sock = lowest().socket();
    if (!sock.is_open()) return false;
    char c;
    auto n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  std::string key;
  net::strand<net::io_context::executor_type> strand;
  tcp::resolver resolver;
  net::steady_timer timer;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  clock_type::time_point idle_since;
};

}  // namespace

struct client::impl : std::enable_shared_from_this<client::impl> {
  explicit impl(client_options o) : opts(std::move(o)), tls_ctx(ssl::context::tls_client) {
    beast::error_code ec;
    tls_ctx.set_default_verify_paths(ec);
    if (ec) throw std::runtime_error("cannot load the system trust store: " + ec.message());
    if (!opts.extra_ca_file.empty()) {
      tls_ctx.load_verify_file(opts.extra_ca_file, ec);
      if (ec)
        throw std::runtime_error("cannot load CA file " + opts.extra_ca_file + ": " + ec.message());
    }
    tls_ctx.set_verify_mode(opts.verify_tls ? ssl::verify_peer : ssl::verify_none);
    tls_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    for (int i = 0; i < std::max(1, opts.threads); ++i) threads.emplace_back([this] { ioc.run(); });
  }

  std::shared_ptr<connection> take_idle(const std::string& key) {
    std::lock_guard<std::mutex> lock(mtx);
    if (stopping) return nullptr;
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto now = clock_type::now();
    while (!it->second.empty()) {
      auto c = std::move(it->second.back());
      it->second.pop_back();
      if (now - c->idle_since < opts.idle_timeout && c->alive()) {
        active.insert(c);
        return c;
      }
      c->close();
    }
    return nullptr;
  }

  void give_back(const std::shared_ptr<connection>& c, bool reusable) {
    std::lock_guard<std::mutex> lock(mtx);
    active.erase(c);
    if (!reusable || stopping) return c->close();
    auto& list = idle[c->key];
    auto now = clock_type::now();
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](auto& x) {
                                if (now - x->idle_since < opts.idle_timeout) return false;
                                x->close();
                                return true;
                              }),
               list.end());
    if (list.size() >= opts.max_idle_per_host) {
      list.front()->close();
      list.pop_front();
    }
    c->idle_since = now;
    list.push_back(c);
  }

  /// A new connection, or nullptr once stopping.
  std::shared_ptr<connection> open_new(const std::string& key, bool use_tls) {
    auto c = std::make_shared<connection>(ioc, use_tls ? &tls_ctx : nullptr, key);
    std::lock_guard<std::mutex> lock(mtx);
    if (stopping) return nullptr;
    active.insert(c);
    return c;
  }

  client_options opts;
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  ssl::context tls_ctx;
  std::vector<std::thread> threads;
  std::mutex mtx;
  std::map<std::string, std::deque<std::shared_ptr<connection>>> idle;
  std::set<std::shared_ptr<connection>> active;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> n_requests{0}, n_opened{0}, n_reused{0}, n_failures{0};
};

namespace {

/// One request/response exchange, possibly retried once on a fresh connection.
class exchange : public std::enable_shared_from_this<exchange> {
 public:
  exchange(std::shared_ptr<client::impl> cl, client_request req, url_parts url,
           std::function<void(client_response)> done)
      : cl_(std::move(cl)),
        req_(std::move(req)),
        url_(std::move(url)),
        done_(std::move(done)),
        started_(clock_type::now()),
        deadline_(started_ + req_.timeout) {
    key_ = std::string(url_.tls ? "https://" : "http://") + url_.host + ":" +
           std::to_string(url_.port);
    build_message();
  }

  void start() {
    if (auto c = cl_->take_idle(key_)) {
      ++cl_->n_reused;
      conn_ = std::move(c);
      reused_ = true;
      net::post(conn_->strand, [self = shared_from_this()] { self->write(); });
    } else {
      open_connection();
    }
  }

 private:
  void build_message() {
    auto verb = bhttp::string_to_verb(req_.method);
    if (verb == bhttp::verb::unknown)
      msg_.method_string(req_.method);
    else
      msg_.method(verb);
    msg_.target(url_.target);
    msg_.version(11);
    bool default_port = url_.port == (url_.tls ? 443 : 80);
    auto host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    if (!default_port) host += ":" + std::to_string(url_.port);
    msg_.set(bhttp::field::host, host);
    msg_.set(bhttp::field::user_agent, cl_->opts.user_agent);
    for (auto& [k, v] : req_.headers) msg_.set(k, v);
    msg_.body() = req_.body;
    msg_.keep_alive(true);
    if (!req_.body.empty() || req_.method == "POST" || req_.method == "PUT" ||
        req_.method == "PATCH")
      msg_.prepare_payload();
  }

  void open_connection() {
    if (cl_->stopping) return finish_error("client stopped", false);
    conn_ = cl_->open_new(key_, url_.tls);
    if (!conn_) return finish_error("client stopped", false);
    ++cl_->n_opened;
    reused_ = false;
    net::post(conn_->strand, [self = shared_from_this()] { self->resolve(); });
  }

  clock_type::time_point connect_deadline() const {
    return std::min(deadline_, clock_type::now() + cl_->opts.connect_timeout);
  }

  void resolve() {
    if (is_ip_literal(url_.host)) {
      tcp::endpoint ep(net::ip::make_address(url_.host), url_.port);
      return connect(std::vector<tcp::endpoint>{ep});
    }
    conn_->timer.expires_at(connect_deadline());
    conn_->timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->resolve_timed_out_ = true;
        self->conn_->resolver.cancel();
      }
    });
    conn_->resolver.async_resolve(
        url_.host, std::to_string(url_.port),
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          self->conn_->timer.cancel();
          if (self->resolve_timed_out_) return self->fail("resolve", beast::error::timeout);
          if (ec) return self->fail("resolve", ec);
          std::vector<tcp::endpoint> eps;
          for (auto& r : results) eps.push_back(r.endpoint());
          self->connect(std::move(eps));
        });
  }

  void connect(std::vector<tcp::endpoint> endpoints) {
    conn_->lowest().expires_at(connect_deadline());
    conn_->lowest().async_connect(
        endpoints, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->fail("connect", ec);
          if (self->conn_->tls)
            self->handshake();
          else
            self->write();
        });
  }

  void handshake() {
    auto& s = *conn_->tls;
    if (!is_ip_literal(url_.host) &&
        !SSL_set_tlsext_host_name(s.native_handle(), url_.host.c_str()))
      return fail("handshake (SNI)", beast::error_code(static_cast<int>(::ERR_get_error()),
                                                       net::error::get_ssl_category()));
    if (cl_->opts.verify_tls) s.set_verify_callback(ssl::host_name_verification(url_.host));
    conn_->lowest().expires_at(connect_deadline());
    s.async_handshake(ssl::stream_base::client, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail("handshake", ec);
      self->write();
    });
  }

  template <class Stream>
  void write_on(Stream& s) {
    bhttp::async_write(s, msg_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("write", ec);
      self->sent_ = true;
      self->read();
    });
  }

  void write() {
    if (cl_->stopping) return fail("write", net::error::operation_aborted);
    sent_ = false;
    conn_->lowest().expires_at(deadline_);
    if (conn_->tls)
      write_on(*conn_->tls);
    else
      write_on(*conn_->plain);
  }

  // The header first, so an announced oversized body is refused before it is read
  // (Beast 1.74's own body_limit check did not fire for responses here).
  template <class Stream>
  void read_on(Stream& s) {
    bhttp::async_read_header(
        s, conn_->buffer, *parser_,
        [self = shared_from_this(), &s](beast::error_code ec, std::size_t) {
          if (ec) return self->fail("read", ec);
          auto len = self->parser_->content_length();
          if (len && *len > self->cl_->opts.body_limit_bytes)
            return self->fail("read", bhttp::error::body_limit);
          bhttp::async_read(
              s, self->conn_->buffer, *self->parser_, [self](beast::error_code ec, std::size_t) {
                if (ec) return self->fail("read", ec);
                if (self->parser_->get().body().size() > self->cl_->opts.body_limit_bytes)
                  return self->fail("read", bhttp::error::body_limit);
                self->on_response();
              });
        });
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(cl_->opts.body_limit_bytes);
    if (req_.method == "HEAD") parser_->skip(true);
    conn_->lowest().expires_at(deadline_);
    if (conn_->tls)
      read_on(*conn_->tls);
    else
      read_on(*conn_->plain);
  }

  void on_response() {
    auto& msg = parser_->get();
    client_response res;
    res.status = static_cast<int>(msg.result_int());
    res.request_sent = true;
    res.headers.reserve(16);
    for (auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      res.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    bool reusable = msg.keep_alive() && msg_.keep_alive();
    res.body = std::move(msg.body());
    conn_->lowest().expires_never();
    cl_->give_back(conn_, reusable);
    conn_.reset();
    finish(std::move(res));
  }

  void fail(const char* phase, beast::error_code ec) {
    bool got_bytes = parser_ && parser_->got_some();
    conn_->lowest().expires_never();
    cl_->give_back(conn_, false);
    conn_.reset();
    if (cl_->stopping) return finish_error("client stopped", sent_);
    // A kept-alive connection the server closed meanwhile: try once more, fresh, when
    // sending the request again cannot do harm.
    if (reused_ && !retried_ && !got_bytes && ec != beast::error::timeout &&
        is_idempotent(req_.method)) {
      retried_ = true;
      return open_connection();
    }
    if (ec == beast::error::timeout) {
      timed_out_ = true;
      return finish_error(std::string(phase) + ": timeout", sent_);
    }
    if (ec == bhttp::error::body_limit)
      return finish_error(
          "read: response body exceeds " + std::to_string(cl_->opts.body_limit_bytes) + " bytes",
          sent_);
    std::string what = ec.message();
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset)
      what = "connection closed by peer";
    finish_error(std::string(phase) + ": " + what, sent_);
  }

  void finish_error(std::string error, bool sent) {
    client_response res;
    res.error = std::move(error);
    res.timed_out = timed_out_;
    res.request_sent = sent;
    ++cl_->n_failures;
    finish(std::move(res));
  }

  void finish(client_response res) {
    if (finished_) return;
    finished_ = true;
    res.elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - started_);
    auto done = std::move(done_);
    done(std::move(res));
  }

  std::shared_ptr<client::impl> cl_;
  client_request req_;
  url_parts url_;
  std::function<void(client_response)> done_;
  clock_type::time_point started_, deadline_;
  std::string key_;
  bhttp::request<bhttp::string_body> msg_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  std::shared_ptr<connection> conn_;
  bool reused_ = false, retried_ = false, sent_ = false, finished_ = false;
  bool timed_out_ = false, resolve_timed_out_ = false;
};

}  // namespace

client::client(client_options opts) : impl_(std::make_shared<impl>(std::move(opts))) {}

client::~client() {
  stop();
}

void client::send(client_request req, std::function<void(client_response)> done) {
  ++impl_->n_requests;
  if (impl_->stopping) {
    ++impl_->n_failures;
    client_response res;
    res.error = "client stopped";
    return done(std::move(res));
  }
  auto url = parse_url(req.url);
  if (!url) {
    ++impl_->n_failures;
    client_response res;
    // Without the query: some endpoints (token refresh) need the token there.
    res.error = "invalid URL: " + req.url.substr(0, req.url.find('?'));
    net::post(impl_->ioc,
              [done = std::move(done), res = std::move(res)]() mutable { done(std::move(res)); });
    return;
  }
  auto ex = std::make_shared<exchange>(impl_, std::move(req), std::move(*url), std::move(done));
  ex->start();
}

client_response client::send_and_wait(client_request req) {
  auto p = std::make_shared<std::promise<client_response>>();
  auto f = p->get_future();
  send(std::move(req), [p](client_response res) { p->set_value(std::move(res)); });
  return f.get();
}

void client::stop() {
  auto s = impl_;
  {
    std::lock_guard<std::mutex> lock(s->mtx);
    if (s->stopping.exchange(true)) return;
    for (auto& c : s->active) net::post(c->strand, [c] { c->close(); });
    for (auto& [key, list] : s->idle)
      for (auto& c : list) c->close();
    s->idle.clear();
  }
  s->work.reset();
  for (auto& t : s->threads) t.join();
  s->threads.clear();
}

client_stats client::stats() const {
  return {impl_->n_requests.load(), impl_->n_opened.load(), impl_->n_reused.load(),
          impl_->n_failures.load()};
}

}  // namespace komentra::http
