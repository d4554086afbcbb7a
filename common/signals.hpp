#pragma once
/// SIGINT and SIGTERM taken synchronously, the way komentra and komentra-sim stop: the main
/// thread blocks them before it starts any other thread (threads inherit the mask), then
/// waits for one and shuts down in order. A blocked mask is also inherited through fork and
/// exec, so a child started meanwhile would never see its SIGTERM: children clear it first
/// (child_process and process::run do).

namespace komentra {

/// Blocks SIGINT and SIGTERM in the calling thread.
void block_termination_signals();

/// Waits until SIGINT or SIGTERM arrives (they must be blocked); returns which.
int wait_for_termination_signal();

/// Unblocks every signal: in a child between fork and exec (async-signal-safe).
void unblock_all_signals();

}  // namespace komentra
