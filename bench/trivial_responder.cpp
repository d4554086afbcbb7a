/// komentra-bench-responder: the fallback ceiling of bench/run when nginx cannot run. An
/// HTTP/1.1 keep-alive server that reads each request (headers and Content-Length body) and
/// answers a fixed 200 "ok", nothing else. One epoll thread per --threads, each with its own
/// SO_REUSEPORT listener. Prints the port it listens on, then serves until killed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr std::string_view answer =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";

int listen_on(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1024) != 0) {
    std::perror("komentra-bench-responder: bind");
    std::exit(1);
  }
  return fd;
}

std::size_t content_length(std::string_view head) {
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;
       pos = head.find("\r\n", pos + 2)) {
    auto line = head.substr(pos + 2, 15);
    bool match = line.size() == 15;
    for (std::size_t i = 0; match && i < 15; ++i)
      match = std::tolower(static_cast<unsigned char>(line[i])) == "content-length:"[i];
    if (match) return std::strtoull(head.data() + pos + 17, nullptr, 10);
  }
  return 0;
}

void serve(int port) {
  int lfd = listen_on(port);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::unordered_map<int, std::string> input;
  std::vector<epoll_event> events(256);
  char buf[65536];
  for (;;) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int k = 0; k < n; ++k) {
      int fd = events[k].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          input[c];
        }
        continue;
      }
      auto& in = input[fd];
      auto r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        ::close(fd);
        input.erase(fd);
        continue;
      }
      in.append(buf, static_cast<std::size_t>(r));
      for (;;) {
        auto end = in.find("\r\n\r\n");
        if (end == std::string::npos) break;
        auto total = end + 4 + content_length(std::string_view(in).substr(0, end));
        if (in.size() < total) break;
        in.erase(0, total);
        if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) break;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port")
      port = std::atoi(argv[i + 1]);
    else if (a == "--threads")
      threads = std::atoi(argv[i + 1]);
  }
  if (port <= 0) {
    std::fprintf(stderr, "usage: komentra-bench-responder --port P [--threads 2]\n");
    return 2;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(serve, port);
  std::printf("komentra-bench-responder listening on http://127.0.0.1:%d\n", port);
  std::fflush(stdout);
  for (auto& t : pool) t.join();
}
