#pragma once
/// Test support: a tiny blocking HTTP/1.1 client over POSIX sockets, able to send
/// exactly the bytes a test wants (malformed requests included). Not for production
/// paths: it blocks.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace komentra::http::testing {

struct reply {
  int status = 0;  ///< 0 when the connection closed without an answer
  std::vector<std::pair<std::string, std::string>> headers;  ///< names in lower case
  std::string body;
  std::string header(const std::string& name) const;
};

/// One connection; requests can be sent one after another (keep-alive).
class connection {
 public:
  connection(const std::string& host, std::uint16_t port);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  bool connected() const { return fd_ >= 0; }
  /// Sends raw bytes.
  bool send_raw(const std::string& bytes);
  /// Reads one response (Content-Length framed, or until close). Time-out in ms.
  reply read_reply(int timeout_ms = 10000);
  /// Sends a request built from the parts and reads its reply.
  reply exchange(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::vector<std::pair<std::string, std::string>>& headers = {});
  /// True when the server closed the connection (reads EOF within timeout).
  bool closed_by_peer(int timeout_ms = 2000);

 private:
  int fd_ = -1;
  std::string buffer_;
};

/// A listening TCP socket on a free loopback port; returns the socket, sets `port`.
int listen_loopback(std::uint16_t& port);

/// A free TCP port on loopback (bound, read back, released), for a server a test starts.
std::uint16_t free_port();

/// One request on a new connection.
reply request(std::uint16_t port, const std::string& method, const std::string& target,
              const std::string& body = "",
              const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace komentra::http::testing
