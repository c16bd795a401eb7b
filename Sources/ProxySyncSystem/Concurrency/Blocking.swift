import Dispatch

/// Where blocking work runs — libcurl's `perform`, commands, the proxy probes — so it never blocks Swift's
/// cooperative pool.
///
/// - Important: one serial queue for all of it. A cycle is sequential, so nothing waits on anything else
///   here; one queue means one extra thread instead of one per kind of work, and fewer thread wake-ups per
///   cycle. Its QoS is `utility` and enforced: libdispatch on Linux renices a worker thread to imitate a QoS
///   class, and a higher class than the default asks for a negative nice value, which the unit's sandbox
///   (no `CAP_SYS_NICE`) refuses with a logged `Failed to set thread priority … errno=13`.
public enum Blocking {
    static let queue = DispatchQueue(label: "gocd-proxy-sync.blocking", qos: .utility)

    /// Runs `work` on the blocking queue and returns its result; on a ``LoopThread`` it runs inline, since
    /// that thread is the daemon's own and blocking it holds up nothing else.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        if LoopThread.isCurrent { return work() }
        return await withCheckedContinuation { continuation in
            queue.async(qos: .utility, flags: .enforceQoS) { continuation.resume(returning: work()) }
        }
    }
}
