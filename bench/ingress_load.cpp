/// komentra-bench-ingress: a closed-loop HTTP load generator for POST /webhooks/instagram on
/// loopback. N keep-alive connections (no pipelining) each send one signed comment delivery,
/// wait for the whole answer, and send the next, for a fixed duration after a warm-up. Every
/// delivery carries distinct comment ids (nothing is a duplicate) and is built and signed
/// before the timed run, so the generator only writes and reads bytes while measuring.
///
/// It prints key=value lines: deliveries/s, events/s, p50/p99 time to the answer, status
/// counts, and the CPU time each --pid process tree (the process, its live descendants and its
/// reaped children) used per answered delivery. Runs on one epoll thread per --threads.
///
/// How it fails: a connection that breaks is counted in `errors` and reopened; a server that
/// cannot be reached at start exits with status 1 and one line saying so.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/crypto.hpp"
#include "process_cpu.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/webhooks/instagram";
  int connections = 64;
  int threads = 1;
  double duration_s = 10;
  double warmup_s = 1;
  int events = 1;  ///< comment changes per delivery
  std::string secret;
  std::uint64_t id_base = 0;  ///< first comment id; 0 derives one from the clock
  std::size_t max_deliveries = 1'000'000;
  std::size_t pool_mb = 768;
  bool reuse = false;  ///< wrap around the pool (duplicates) instead of stopping
  std::vector<std::pair<std::string, int>> pids;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "komentra-bench-ingress: %s\n"
      "usage: komentra-bench-ingress --port P [--host 127.0.0.1] [--path /webhooks/instagram]\n"
      "  [--connections 64] [--threads 1] [--duration 10] [--warmup 1] [--events 1]\n"
      "  [--secret S] [--id-base N] [--max-deliveries 1000000] [--pool-mb 768]\n"
      "  [--reuse] [--pid LABEL=PID]...\n"
      "       komentra-bench-ingress --free-port   (prints a port free right now)\n",
      why);
  std::exit(2);
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--host")
      o.host = value();
    else if (a == "--port")
      o.port = std::stoi(value());
    else if (a == "--path")
      o.path = value();
    else if (a == "--connections")
      o.connections = std::stoi(value());
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--duration")
      o.duration_s = std::stod(value());
    else if (a == "--warmup")
      o.warmup_s = std::stod(value());
    else if (a == "--events")
      o.events = std::stoi(value());
    else if (a == "--secret")
      o.secret = value();
    else if (a == "--id-base")
      o.id_base = std::stoull(value());
    else if (a == "--max-deliveries")
      o.max_deliveries = std::stoull(value());
    else if (a == "--pool-mb")
      o.pool_mb = std::stoull(value());
    else if (a == "--reuse")
      o.reuse = true;
    else if (a == "--pid") {
      o.pids.push_back(komentra::bench::parse_pid_option(value()));
    } else
      usage(("unknown option " + a).c_str());
  }
  if (o.port <= 0) usage("--port is required");
  if (o.connections < 1 || o.threads < 1 || o.events < 1 || o.duration_s <= 0)
    usage("--connections, --threads, --events and --duration must be positive");
  o.threads = std::min(o.threads, o.connections);
  return o;
}

// The comment change of tests/ingress.test.cpp, with a distinct id per event.
void append_comment_change(std::string& out, std::uint64_t comment_id) {
  out += R"({"field":"comments","value":{"from":{"id":"9000000000000001","username":"user_a"},)"
         R"("media":{"id":"18000000000000001","media_product_type":"FEED"},"id":")";
  out += std::to_string(comment_id);
  out += R"(","text":"Send me the link please"}})";
}

std::string delivery_body(std::uint64_t account, std::uint64_t first_id, int events) {
  std::string body = R"({"object":"instagram","entry":[{"id":")" + std::to_string(account) +
                     R"(","time":1796299200,"changes":[)";
  for (int e = 0; e < events; ++e) {
    if (e) body += ',';
    append_comment_change(body, first_id + e);
  }
  body += "]}]}";
  return body;
}

/// Every request of the run, complete with headers, in one buffer.
struct request_pool {
  std::string bytes;
  std::vector<std::size_t> offsets;  ///< request i is [offsets[i], offsets[i+1])
  std::size_t size() const { return offsets.size() - 1; }
  std::string_view at(std::size_t i) const {
    return std::string_view(bytes).substr(offsets[i], offsets[i + 1] - offsets[i]);
  }
};

request_pool build_pool(const options& o) {
  auto sample = delivery_body(17841400000000001, o.id_base, o.events);
  std::size_t per_request = sample.size() + 256;
  std::size_t count =
      std::max<std::size_t>(1, std::min(o.max_deliveries, o.pool_mb * 1024 * 1024 / per_request));
  request_pool pool;
  pool.bytes.reserve(count * per_request);
  pool.offsets.reserve(count + 1);
  std::string head_prefix = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" +
                            std::to_string(o.port) + "\r\nContent-Type: application/json\r\n";
  for (std::size_t i = 0; i < count; ++i) {
    // Sixteen accounts, as a multi-tenant service would see.
    auto body = delivery_body(17841400000000001 + i % 16, o.id_base + i * o.events, o.events);
    pool.offsets.push_back(pool.bytes.size());
    pool.bytes += head_prefix;
    if (!o.secret.empty())
      pool.bytes += "X-Hub-Signature-256: sha256=" +
                    komentra::crypto::to_hex(komentra::crypto::hmac_sha256(o.secret, body)) +
                    "\r\n";
    pool.bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    pool.bytes += body;
  }
  pool.offsets.push_back(pool.bytes.size());
  return pool;
}

/// One answered request.
struct completion {
  std::int64_t done_ns;  ///< since the run's epoch
  std::uint32_t latency_us;
  std::uint16_t status;
  std::uint16_t stored;  ///< "stored":N of Komentra's answer, else events for a 200
};

struct shared_state {
  const options* opts;
  const request_pool* pool;
  clock_type::time_point epoch;
  clock_type::time_point record_from;  ///< end of the warm-up
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> exhausted{false};
  std::atomic<std::uint64_t> errors{0}, reconnects{0};
};

int open_connection(const options& o) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(o.port));
  if (::inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  return true;
}

struct connection {
  int fd = -1;
  std::string_view request;
  std::size_t sent = 0;
  std::string in;
  clock_type::time_point started;
  bool busy = false;
};

/// One epoll loop driving its share of the connections.
class worker {
 public:
  worker(shared_state& s, int connections) : s_(s), conns_(connections) {}

  std::vector<completion> results;

  bool open_all() {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < conns_.size(); ++i)
      if (!reopen(i)) return false;
    return true;
  }

  void run() {
    for (std::size_t i = 0; i < conns_.size(); ++i) send_next(i);
    std::vector<epoll_event> events(conns_.size());
    while (!s_.stop.load(std::memory_order_relaxed)) {
      int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 20);
      for (int k = 0; k < n; ++k) {
        auto i = static_cast<std::size_t>(events[k].data.u64);
        if (events[k].events & EPOLLOUT) write_some(i);
        if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_some(i);
      }
    }
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(ep_);
  }

 private:
  bool reopen(std::size_t i) {
    auto& c = conns_[i];
    if (c.fd >= 0) ::close(c.fd);
    c = connection{};
    c.in.reserve(4096);
    c.fd = open_connection(*s_.opts);
    if (c.fd < 0) return false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void send_next(std::size_t i) {
    auto& c = conns_[i];
    if (s_.stop.load(std::memory_order_relaxed)) return;
    auto n = s_.next.fetch_add(1, std::memory_order_relaxed);
    if (n >= s_.pool->size()) {
      if (!s_.opts->reuse) {
        s_.exhausted = true;
        return;
      }
      n %= s_.pool->size();
    }
    c.request = s_.pool->at(n);
    c.sent = 0;
    c.in.clear();
    c.busy = true;
    c.started = clock_type::now();
    write_some(i);
  }

  void write_some(std::size_t i) {
    auto& c = conns_[i];
    while (c.sent < c.request.size()) {
      auto w = ::send(c.fd, c.request.data() + c.sent, c.request.size() - c.sent, MSG_NOSIGNAL);
      if (w > 0) {
        c.sent += static_cast<std::size_t>(w);
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        watch(i, EPOLLIN | EPOLLOUT);
        return;
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        return broken(i);
      }
    }
    watch(i, EPOLLIN);
  }

  void watch(std::size_t i, std::uint32_t mask) {
    epoll_event ev{};
    ev.events = mask;
    ev.data.u64 = i;
    ::epoll_ctl(ep_, EPOLL_CTL_MOD, conns_[i].fd, &ev);
  }

  void broken(std::size_t i) {
    if (conns_[i].busy) ++s_.errors;
    ++s_.reconnects;
    if (reopen(i)) send_next(i);
  }

  void read_some(std::size_t i) {
    auto& c = conns_[i];
    char buf[16384];
    for (;;) {
      auto r = ::recv(c.fd, buf, sizeof buf, 0);
      if (r > 0) {
        c.in.append(buf, static_cast<std::size_t>(r));
        if (static_cast<std::size_t>(r) < sizeof buf) break;
      } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else if (r < 0 && errno == EINTR) {
        continue;
      } else {
        return broken(i);
      }
    }
    parse(i);
  }

  void parse(std::size_t i) {
    auto& c = conns_[i];
    auto head_end = c.in.find("\r\n\r\n");
    if (head_end == std::string::npos) return;
    std::string_view head(c.in.data(), head_end);
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return broken(i);
    int status = std::atoi(head.data() + 9);
    std::size_t length = 0;
    bool close_after = false;
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      auto eol = head.find("\r\n", pos + 2);
      auto line =
          head.substr(pos + 2, (eol == std::string_view::npos ? head.size() : eol) - pos - 2);
      if (iequals_prefix(line, "content-length:"))
        length = std::strtoull(line.data() + 15, nullptr, 10);
      else if (iequals_prefix(line, "connection:") && line.find("close") != std::string_view::npos)
        close_after = true;
      else if (iequals_prefix(line, "transfer-encoding:"))
        return broken(i);  // not sent by either server
      pos = eol;
    }
    std::size_t total = head_end + 4 + length;
    if (c.in.size() < total) return;
    auto now = clock_type::now();
    c.busy = false;
    if (now >= s_.record_from) {
      std::string_view body(c.in.data() + head_end + 4, length);
      std::uint16_t stored = 0;
      if (auto at = body.find("\"stored\":"); at != std::string_view::npos)
        stored = static_cast<std::uint16_t>(std::atoi(body.data() + at + 9));
      else if (status == 200)
        stored = static_cast<std::uint16_t>(s_.opts->events);
      results.push_back(
          {std::chrono::duration_cast<std::chrono::nanoseconds>(now - s_.epoch).count(),
           static_cast<std::uint32_t>(
               std::chrono::duration_cast<std::chrono::microseconds>(now - c.started).count()),
           static_cast<std::uint16_t>(status), stored});
    }
    if (c.in.size() > total) return broken(i);  // an answer we did not ask for
    if (close_after) {
      ++s_.reconnects;
      if (!reopen(i)) return;
    }
    send_next(i);
  }

  shared_state& s_;
  std::vector<connection> conns_;
  int ep_ = -1;
};

// CPU µs of each --pid process tree, then of this process.
std::vector<double> sample_cpu(const options& o) {
  std::vector<int> roots;
  for (auto& [label, pid] : o.pids) roots.push_back(pid);
  roots.push_back(static_cast<int>(::getpid()));
  return komentra::bench::tree_cpu_us(roots);
}

int print_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return 1;
  std::printf("%d\n", ntohs(addr.sin_port));
  ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--free-port") return print_free_port();
  auto opts = parse_options(argc, argv);
  if (opts.id_base == 0)
    opts.id_base =
        18'000'000'000'000'000ull +
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()) %
            1'000'000'000ull * 1'000'000ull;

  auto build_start = clock_type::now();
  auto pool = build_pool(opts);
  std::fprintf(stderr, "prepared %zu signed deliveries of %d event(s) (%.0f MB) in %.1f s\n",
               pool.size(), opts.events, pool.bytes.size() / 1e6,
               std::chrono::duration<double>(clock_type::now() - build_start).count());

  shared_state state;
  state.opts = &opts;
  state.pool = &pool;
  std::vector<std::unique_ptr<worker>> workers;
  for (int t = 0; t < opts.threads; ++t) {
    int share = opts.connections / opts.threads + (t < opts.connections % opts.threads ? 1 : 0);
    workers.push_back(std::make_unique<worker>(state, share));
    if (!workers.back()->open_all()) {
      std::fprintf(stderr, "komentra-bench-ingress: cannot connect to %s:%d: %s\n",
                   opts.host.c_str(), opts.port, std::strerror(errno));
      return 1;
    }
  }

  state.epoch = clock_type::now();
  state.record_from =
      state.epoch + std::chrono::microseconds(static_cast<std::int64_t>(opts.warmup_s * 1e6));
  auto until = state.record_from +
               std::chrono::microseconds(static_cast<std::int64_t>(opts.duration_s * 1e6));
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  std::this_thread::sleep_until(state.record_from);
  auto cpu_before = sample_cpu(opts);
  auto window_start = clock_type::now();
  while (clock_type::now() < until && !state.exhausted)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto cpu_after = sample_cpu(opts);
  auto window_end = clock_type::now();
  state.stop = true;
  for (auto& t : threads) t.join();

  auto end_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(window_end - state.epoch).count();
  std::vector<std::uint32_t> latencies;
  std::map<int, std::uint64_t> statuses;
  std::uint64_t stored = 0, ok = 0;
  for (auto& w : workers)
    for (auto& r : w->results) {
      if (r.done_ns > end_ns) continue;
      latencies.push_back(r.latency_us);
      ++statuses[r.status];
      if (r.status == 200) {
        ++ok;
        stored += r.stored;
      }
    }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) -> double {
    if (latencies.empty()) return 0;
    auto idx = static_cast<std::size_t>(std::ceil(p * latencies.size())) - 1;
    return latencies[std::min(idx, latencies.size() - 1)] / 1000.0;
  };
  double seconds = std::chrono::duration<double>(window_end - window_start).count();
  auto answered = latencies.size();

  std::printf("connections=%d\nevents_per_delivery=%d\nseconds=%.3f\n", opts.connections,
              opts.events, seconds);
  std::printf("deliveries=%zu\ndeliveries_per_s=%.1f\n", answered, answered / seconds);
  std::printf("ok_per_s=%.1f\nevents_per_s=%.1f\n", ok / seconds, stored / seconds);
  std::printf("p50_ms=%.3f\np99_ms=%.3f\n", pct(0.50), pct(0.99));
  std::string status_list;
  for (auto& [code, n] : statuses)
    status_list +=
        (status_list.empty() ? "" : ",") + std::to_string(code) + ":" + std::to_string(n);
  std::printf("statuses=%s\nerrors=%llu\nreconnects=%llu\npool_exhausted=%d\n", status_list.c_str(),
              static_cast<unsigned long long>(state.errors.load()),
              static_cast<unsigned long long>(state.reconnects.load()), state.exhausted ? 1 : 0);
  for (std::size_t k = 0; k <= opts.pids.size(); ++k) {
    auto label = k < opts.pids.size() ? opts.pids[k].first : std::string("bench");
    double us = cpu_after[k] - cpu_before[k];
    std::printf("cpu_%s_pct=%.1f\ncpu_%s_us_per_delivery=%.1f\n", label.c_str(),
                100.0 * us / 1e6 / seconds, label.c_str(), answered ? us / answered : 0.0);
  }
  return 0;
}
