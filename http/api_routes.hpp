#pragma once
/// The dashboard API under /api/v1 (JSON, described by /api/v1/openapi.json), the
/// link-click redirect /l/{token}, and Meta's deauthorize and data-deletion callbacks.

#include "http/api_context.hpp"
#include "http/router.hpp"

namespace komentra::http {

void add_api_routes(router& r, api_context& ctx);

}  // namespace komentra::http
