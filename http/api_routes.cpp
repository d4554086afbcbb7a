#include "http/api_routes.hpp"

namespace komentra::http {

void add_api_routes(router&, api_context&) {}

}  // namespace komentra::http
