#pragma once
/// Giving freed memory back to the system after a wave of frees (account actors passivated
/// by the thousand), whichever allocator the process runs on.

namespace komentra::memory {

/// jemalloc (the server links it): purges every arena's unused pages. glibc's malloc (test
/// binaries): malloc_trim. Takes up to ~100 ms on a large heap: call it off the event path.
void give_back_freed_memory();

}  // namespace komentra::memory
