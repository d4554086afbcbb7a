#pragma once
/// Runs external programs (initdb, pg_ctl, setfacl) synchronously, optionally as another
/// OS user. Used only at start-up and shutdown, never on a request path.

#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace komentra::process {

/// Who a child runs as. Only meaningful when the caller is root.
struct identity {
  uid_t uid;
  gid_t gid;
  std::string name;
};

struct result {
  int exit_code = -1;  ///< -1 when the program could not be started or was killed
  std::string output;  ///< stdout and stderr, interleaved
};

/// Runs argv[0] (searched in PATH) with the given arguments and waits for it.
result run(const std::vector<std::string>& argv, const std::optional<identity>& as = std::nullopt);

/// Makes the calling process `as` (supplementary groups, gid, then uid: only root may drop
/// them). For a child between fork and exec; on failure says why on stderr, returns false.
bool become(const identity& as);

/// Looks up an OS user by name.
std::optional<identity> lookup_user(const std::string& name);

/// True when the current process runs as root.
bool running_as_root();

}  // namespace komentra::process
