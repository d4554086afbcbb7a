#pragma once
/// Test support: a TCP relay on loopback that can be cut, standing between komentra and
/// komentra-sim's Graph API as the network does. While it is down, connecting to it is
/// refused (its listening socket is closed) and the connections it carried are closed, as
/// when the Graph API cannot be reached; up again, it listens on the same port.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace komentra::testing {

class tcp_relay {
 public:
  /// Relays 127.0.0.1:<port()> to 127.0.0.1:<upstream_port>.
  explicit tcp_relay(std::uint16_t upstream_port);
  ~tcp_relay();
  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Refuses new connections and closes the open ones.
  void down();
  /// Accepts connections again.
  void up();

 private:
  void listen_on(std::uint16_t port);
  void accept_loop();
  void pump(int client, int server);

  std::uint16_t upstream_;
  std::uint16_t port_ = 0;
  std::atomic<int> listener_{-1};
  std::atomic<bool> stopping_{false};
  std::mutex mtx_;
  std::vector<int> open_;  ///< sockets of relayed connections
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace komentra::testing
