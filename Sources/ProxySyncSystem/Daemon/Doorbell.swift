/// Wakes the daemon's wait early: for a shutdown or a SIGHUP.
public actor Doorbell {
    public enum Ring: Sendable { case shutdown, reload }

    private var pending: [Ring] = []
    private var waiter: CheckedContinuation<Ring?, Never>?

    public init() {}

    public func ring(_ ring: Ring) {
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: ring)
        } else {
            pending.append(ring)
        }
    }

    /// A ring already waiting, if any (shutdown wins).
    public func take() -> Ring? {
        if pending.contains(.shutdown) {
            pending.removeAll()
            return .shutdown
        }
        return pending.isEmpty ? nil : pending.removeFirst()
    }

    /// Waits for the next ring, or returns nil when cancelled.
    public func next() async -> Ring? {
        if let ring = take() { return ring }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else {
                    waiter = continuation
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter() }
        }
    }

    private func cancelWaiter() {
        waiter?.resume(returning: nil)
        waiter = nil
    }
}
