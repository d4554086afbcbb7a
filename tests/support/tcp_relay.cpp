#include "tests/support/tcp_relay.hpp"

#include <algorithm>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace komentra::testing {

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

tcp_relay::tcp_relay(std::uint16_t upstream_port) : upstream_(upstream_port) {
  listen_on(0);
  acceptor_ = std::thread([this] { accept_loop(); });
}

tcp_relay::~tcp_relay() {
  stopping_ = true;
  down();
  acceptor_.join();
  for (auto& t : pumps_) t.join();
}

void tcp_relay::listen_on(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto addr = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    throw std::runtime_error("tcp_relay: cannot listen on port " + std::to_string(port));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listener_ = fd;
}

void tcp_relay::down() {
  int fd = listener_.exchange(-1);
  if (fd >= 0) ::close(fd);
  std::lock_guard<std::mutex> lock(mtx_);
  for (int s : open_) ::shutdown(s, SHUT_RDWR);
}

void tcp_relay::up() {
  if (listener_ < 0) listen_on(port_);
}

void tcp_relay::accept_loop() {
  while (!stopping_) {
    int fd = listener_;
    if (fd < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0 || listener_ != fd) continue;
    int client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto addr = loopback(upstream_);
    if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(client);
      ::close(server);
      continue;
    }
    std::lock_guard<std::mutex> lock(mtx_);
    open_.push_back(client);
    open_.push_back(server);
    pumps_.emplace_back([this, client, server] { pump(client, server); });
  }
}

// Copies bytes both ways until either side closes (or down() shuts both).
void tcp_relay::pump(int client, int server) {
  char buf[16384];
  pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  for (bool open = true; open && !stopping_;) {
    if (::poll(p, 2, 50) <= 0) continue;
    for (int i = 0; i < 2 && open; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto n = ::read(p[i].fd, buf, sizeof buf);
      if (n <= 0 || ::write(p[1 - i].fd, buf, static_cast<std::size_t>(n)) != n) open = false;
    }
  }
  std::lock_guard<std::mutex> lock(mtx_);
  for (int s : {client, server}) {
    open_.erase(std::remove(open_.begin(), open_.end(), s), open_.end());
    ::close(s);
  }
}

}  // namespace komentra::testing
