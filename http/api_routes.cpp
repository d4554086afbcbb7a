#include "http/api_routes.hpp"

#include "http/api/support.hpp"

namespace komentra::http {

void add_api_routes(router& r, api_context& ctx) {
  api::add_auth_routes(r, ctx);
  api::add_workspace_routes(r, ctx);
  api::add_instagram_routes(r, ctx);
  api::add_automation_routes(r, ctx);
  api::add_analytics_routes(r, ctx);
  api::add_privacy_routes(r, ctx);
  api::add_notification_routes(r, ctx);
  api::add_openapi_route(r);
}

}  // namespace komentra::http
