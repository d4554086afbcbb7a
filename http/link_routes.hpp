#pragma once
/// GET /l/{token}: the tracked link of a DM button. Counts the click (per automation and
/// day) and redirects to the automation's URL; an unknown token gets 404.

#include <chrono>

#include "http/router.hpp"

namespace komentra::storage {
class pool;
}

namespace komentra::http {

class server;

void add_link_routes(router& r, server& srv, storage::pool& db);

}  // namespace komentra::http
