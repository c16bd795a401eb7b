import Glibc

/// SIGTERM, SIGINT and SIGHUP for `run`, without libdispatch.
///
/// A `sigaction` handler writes the signal number to a pipe (async-signal-safe); one plain thread reads the
/// pipe and calls `handle`. ServiceLifecycle's own signal handling uses a Dispatch source on a queue created
/// from the main thread, and under the unit's sandbox libdispatch then logs an error-looking
/// `Failed to set thread priority … errno=13` when it tries to renice that queue's thread.
public final class SignalWatcher: @unchecked Sendable {
    nonisolated(unsafe) private static var writeEnd: Int32 = -1
    private let handle: @Sendable (Int32) -> Void
    private var readEnd: Int32 = -1

    /// Starts watching `signals`; `handle` runs on the watcher's own thread, once per signal received.
    public init(_ signals: [Int32], handle: @escaping @Sendable (Int32) -> Void) {
        self.handle = handle
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        readEnd = fds[0]
        Self.writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        // Only the write end must not block (a flood of signals drops bytes, never blocks a handler).
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(SignalWatcher.writeEnd, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        pthread_create(
            &thread, nil,
            { context in
                let watcher = Unmanaged<SignalWatcher>.fromOpaque(context!).takeRetainedValue()
                watcher.readLoop()
                return nil
            }, box.toOpaque())
        pthread_detach(thread)
    }

    private func readLoop() {
        var byte: UInt8 = 0
        while true {
            let count = read(readEnd, &byte, 1)
            if count == 1 {
                handle(Int32(byte))
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
