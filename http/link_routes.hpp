#pragma once
/// GET /l/{token}: the tracked link of a DM button. Counts the click (per automation and
/// day) and redirects to the automation's URL; an unknown token gets 404.

#include <chrono>
#include <string>

#include "http/router.hpp"

namespace komentra::storage {
class pool;
}

namespace komentra::http {

class server;

void add_link_routes(router& r, server& srv, storage::pool& db);

/// Where DM buttons point so clicks are counted: "<public_base_url>/l/", or empty (buttons
/// keep their own URLs, clicks are not counted) unless public_base_url is https, because
/// Meta accepts only https button URLs.
std::string tracked_link_base(std::string public_base_url);

}  // namespace komentra::http
