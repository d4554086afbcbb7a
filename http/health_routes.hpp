#pragma once
/// GET /healthz (the process answers) and GET /readyz (the database answers and its
/// schema is the one this build expects). Readiness is checked through the database
/// pool with a deadline, so a hung database turns into a 503, never a hung request.

#include <chrono>

#include "http/router.hpp"

namespace komentra::storage {
class pool;
}

namespace komentra::http {

class server;

void add_health_routes(router& r, server& srv, storage::pool& db,
                       std::chrono::milliseconds deadline);

}  // namespace komentra::http
