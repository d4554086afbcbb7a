#include "http/server.hpp"

#include <atomic>

#include <array>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace komentra::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

class session;

struct server::impl : std::enable_shared_from_this<server::impl> {
  server_options opts;
  handler on_request;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  // Keeps run() going while a handler holds a request and no I/O is pending.
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> open{0}, requests{0}, rejected{0}, body_too_large{0},
      headers_too_large{0};
  std::mutex mtx;
  std::vector<std::weak_ptr<session>> sessions;

  impl(server_options o, handler h)
      : opts(std::move(o)), on_request(std::move(h)), ioc(opts.threads) {}

  void accept();
  void track(const std::shared_ptr<session>& s);
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& socket, std::shared_ptr<server::impl> srv)
      : stream_(std::move(socket)), srv_(std::move(srv)) {
    ++srv_->open;
  }
  ~session() { release(); }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  /// Closes the connection unless a request is being handled (graceful shutdown).
  void close_if_idle() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->close();
    });
  }

 private:
  void read_header() {
    parser_.emplace();
    parser_->body_limit(srv_->opts.body_limit_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(srv_->opts.header_limit_bytes));
    // A fresh connection must send its headers promptly; a kept-alive one may idle.
    stream_.expires_after(served_ == 0 ? srv_->opts.header_timeout : srv_->opts.idle_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail(ec);
    auto& req = parser_->get();
    if (req[bhttp::field::expect] == "100-continue") {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code ec, std::size_t) {
                           if (ec) return self->close();
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(srv_->opts.body_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
  }

  void fail(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      ++srv_->body_too_large;
      keep_alive_ = false;
      return write(response::body_too_large(srv_->opts.body_limit_bytes));
    }
    if (ec == bhttp::error::header_limit) {
      ++srv_->headers_too_large;
      keep_alive_ = false;
      return write(response::error(431, "headers_too_large", "request headers are too large"));
    }
    if (ec != bhttp::error::end_of_stream && ec != beast::error::timeout &&
        ec != net::error::operation_aborted && ec != net::error::connection_reset &&
        ec != net::error::eof && parser_ && parser_->got_some()) {
      keep_alive_ = false;
      return write(response::error(400, "bad_request", "malformed HTTP request"));
    }
    close();
  }

  void on_body(beast::error_code ec) {
    if (ec) return fail(ec);
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    req.headers.reserve(16);
    for (auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    req.body = std::move(msg.body());
    req.body.reserve(req.body.size() + 64);
    beast::error_code ep_ec;
    auto ep = stream_.socket().remote_endpoint(ep_ec);
    if (!ep_ec) req.remote_address = ep.address().to_string();
    busy_ = true;
    ++served_;
    ++srv_->requests;
    stream_.expires_never();
    auto done = std::make_shared<std::atomic<bool>>(false);
    responder respond = [self = shared_from_this(), done](response res) {
      if (done->exchange(true)) return;  // a second answer is a handler bug; ignore it
      net::post(self->stream_.get_executor(),
                [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    try {
      srv_->on_request(std::move(req), respond);
    } catch (const std::exception& e) {
      spdlog::error("http handler threw: {}", e.what());
      respond(response::error(500, "internal", "internal error"));
    }
  }

  void write(response res) {
    if (res.close_without_answer) {
      busy_ = false;
      return close();
    }
    auto msg = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(res.status), version_ ? version_ : 11);
    msg->set(bhttp::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) msg->set(k, v);
    msg->body() = std::move(res.body);
    bool keep = keep_alive_ && !srv_->stopping;
    msg->keep_alive(keep);
    msg->prepare_payload();
    stream_.expires_after(srv_->opts.body_timeout);
    bhttp::async_write(stream_, *msg,
                       [self = shared_from_this(), msg, keep](beast::error_code ec, std::size_t) {
                         self->busy_ = false;
                         if (ec) return self->close();
                         if (!keep) return self->drain_and_close();
                         self->read_header();
                       });
  }

  // After refusing a request whose body is still arriving, closing at once would make
  // the kernel reset the connection and the client could lose our answer; so stop
  // sending, read and drop what is in flight for a moment, then close.
  void drain_and_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(1));
    drain_ = std::make_shared<std::array<char, 16384>>();
    drain_more();
  }

  void drain_more() {
    stream_.async_read_some(net::buffer(*drain_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              self->drain_more();
                            });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
    release();
  }

  // A closed connection no longer counts as open, even while a late responder still
  // holds this session.
  void release() {
    if (!released_) {
      released_ = true;
      --srv_->open;
    }
  }

  beast::tcp_stream stream_;
  std::shared_ptr<server::impl> srv_;
  beast::flat_buffer buffer_;
  std::shared_ptr<std::array<char, 16384>> drain_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = true;
  bool released_ = false;
  bool busy_ = false;
  unsigned version_ = 11;
  std::uint64_t served_ = 0;
};

void server::impl::track(const std::shared_ptr<session>& s) {
  std::lock_guard<std::mutex> lock(mtx);
  // Drop entries of closed sessions now and then so the list stays small.
  if (sessions.size() > 2 * opts.max_connections)
    sessions.erase(
        std::remove_if(sessions.begin(), sessions.end(), [](auto& w) { return w.expired(); }),
        sessions.end());
  sessions.push_back(s);
}

void server::impl::accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          if (ec) {
                            if (ec == net::error::operation_aborted || !self->acceptor.is_open())
                              return;
                            spdlog::warn("accept failed: {}", ec.message());
                          } else if (self->stopping) {
                            return;
                          } else if (self->open.load() >= self->opts.max_connections) {
                            ++self->rejected;
                            beast::error_code ignore;
                            socket.close(ignore);
                          } else {
                            auto s = std::make_shared<session>(std::move(socket), self);
                            self->track(s);
                            s->run();
                          }
                          self->accept();
                        });
}

server::server(server_options opts, handler h)
    : impl_(std::make_shared<impl>(std::move(opts), std::move(h))) {}

server::~server() {
  stop(std::chrono::milliseconds(0));
}

namespace {

std::string bind_and_listen(net::io_context& ioc, tcp::acceptor& acc, const std::string& host,
                            std::uint16_t port) {
  auto where = host + ":" + std::to_string(port);
  beast::error_code ec;
  tcp::endpoint endpoint;
  auto addr = net::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) return "cannot resolve listen host " + host + ": " + ec.message();
    endpoint = *results.begin();
  } else {
    endpoint = tcp::endpoint(addr, port);
  }
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return "cannot listen on " + where + ": " + ec.message() +
           (ec == net::error::address_in_use
                ? " (another program uses this port; stop it or choose another address)"
                : "");
  return {};
}

}  // namespace

std::string probe_listen(const std::string& host, std::uint16_t port) {
  net::io_context ioc;
  tcp::acceptor acc(ioc);
  return bind_and_listen(ioc, acc, host, port);
}

std::string server::start() {
  auto& o = impl_->opts;
  if (auto err = bind_and_listen(impl_->ioc, impl_->acceptor, o.host, o.port); !err.empty())
    return err;
  impl_->accept();
  for (int i = 0; i < o.threads; ++i) impl_->threads.emplace_back([s = impl_] { s->ioc.run(); });
  return {};
}

std::uint16_t server::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void server::stop(std::chrono::milliseconds grace) {
  auto s = impl_;
  if (s->threads.empty() || s->stopping.exchange(true)) return;
  net::post(s->acceptor.get_executor(), [s] {
    beast::error_code ec;
    s->acceptor.close(ec);
  });
  {
    std::lock_guard<std::mutex> lock(s->mtx);
    for (auto& w : s->sessions)
      if (auto sess = w.lock()) sess->close_if_idle();
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (s->open.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (s->open.load() > 0)
    spdlog::warn("{} connection(s) still open after the shutdown grace period; closing them",
                 s->open.load());
  s->work.reset();
  s->ioc.stop();
  for (auto& t : s->threads) t.join();
  s->threads.clear();
}

std::function<void()> server::schedule(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<net::steady_timer>(impl_->ioc, delay);
  timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
    if (!ec) fn();
  });
  // A timer is not thread-safe: its cancel runs on the io_context like its wait.
  // The canceller may outlive the server (a late answer after shutdown): it holds neither.
  std::weak_ptr<net::steady_timer> weak_timer = timer;
  std::weak_ptr<impl> weak_server = impl_;
  return [weak_timer, weak_server] {
    if (auto srv = weak_server.lock())
      net::post(srv->ioc, [weak_timer] {
        if (auto t = weak_timer.lock()) t->cancel();
      });
  };
}

server_stats server::stats() const {
  return {impl_->open.load(), impl_->requests.load(), impl_->rejected.load(),
          impl_->body_too_large.load(), impl_->headers_too_large.load()};
}

responder with_deadline(server& srv, std::chrono::milliseconds timeout, responder respond,
                        response fallback) {
  // Whichever of the two comes first answers; the other does nothing. An answer in time
  // cancels the timer, so a busy server does not keep one per request for the whole deadline.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto cancel =
      srv.schedule(timeout, [respond, answered, fallback = std::move(fallback)]() mutable {
        if (!answered->exchange(true)) respond(std::move(fallback));
      });
  return [respond, answered, cancel = std::move(cancel)](response res) {
    if (answered->exchange(true)) return;
    cancel();
    respond(std::move(res));
  };
}

}  // namespace komentra::http
