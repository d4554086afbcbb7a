#include "common/memory.hpp"

#include <dlfcn.h>

#include <cstddef>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace komentra::memory {

void give_back_freed_memory() {
  // Looked up at run time: only the server binary links jemalloc, the libraries do not.
  using mallctl_fn = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  static auto mallctl = reinterpret_cast<mallctl_fn>(::dlsym(RTLD_DEFAULT, "mallctl"));
  if (mallctl) {
    // 4096 is MALLCTL_ARENAS_ALL in jemalloc 5.
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace komentra::memory
