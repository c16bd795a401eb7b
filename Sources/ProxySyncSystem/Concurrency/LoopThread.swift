import CPosixShims
import Glibc

/// The daemon's own thread: it runs the poll loop's task, the cycle's blocking work inline, and the timed wait
/// between cycles, so an idle cycle wakes one thread once.
///
/// - Important: a task executor (`withTaskExecutorPreference`): the loop's nonisolated async code runs here,
///   not on Swift's cooperative pool. ``Blocking/run(_:)`` runs work inline when called on this thread. The
///   wait between cycles is the thread's own `ppoll` timeout on an eventfd, so no timer thread and no
///   cooperative-pool thread takes part in an idle cycle. Rings (SIGTERM, SIGHUP) come from other threads:
///   they write the eventfd and end the wait at once; a cycle in progress always completes first, since
///   nothing else runs on this thread while it does.
public final class LoopThread: TaskExecutor, RingWaiter, @unchecked Sendable {
    private struct Shared {
        var jobs: [UnownedJob] = []
        var rings: [Doorbell.Ring] = []
        var waiter: (deadline: UInt64, continuation: CheckedContinuation<Doorbell.Ring?, Never>)?
        var stopping = false

        /// A ring already waiting, if any (shutdown wins).
        mutating func takeRing() -> Doorbell.Ring? {
            if rings.contains(.shutdown) {
                rings.removeAll()
                return .shutdown
            }
            return rings.isEmpty ? nil : rings.removeFirst()
        }
    }

    private let shared = Locked(Shared())
    private let wakeDescriptor: Int32
    /// Marks the loop threads, for ``isCurrent``.
    private static let marker: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Starts the thread; it lives until ``stop()``.
    public init() {
        let descriptor = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(descriptor >= 0, "eventfd failed: errno \(errno)")
        wakeDescriptor = descriptor
        _ = Self.marker
        let unmanaged = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { argument in
                let loop = Unmanaged<LoopThread>.fromOpaque(argument!).takeRetainedValue()
                loop.main()
                return nil
            }, unmanaged.toOpaque())
        precondition(started == 0, "pthread_create failed: \(started)")
        pthread_detach(thread)
    }

    /// True on a loop thread: blocking work may run inline there.
    public static var isCurrent: Bool { pthread_getspecific(marker) != nil }

    /// True on this loop's own thread.
    var isOwnThread: Bool { pthread_getspecific(Self.marker) == Unmanaged.passUnretained(self).toOpaque() }

    /// Ends the thread once its queued work is done; nothing may be enqueued after.
    public func stop() {
        shared.withLock { $0.stopping = true }
        wake()
    }

    // MARK: TaskExecutor

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        shared.withLock { shared in
            precondition(!shared.stopping, "a job was sent to a stopped loop thread")
            shared.jobs.append(job)
        }
        // On this loop's own thread the run loop takes the job before it waits again.
        if !isOwnThread { wake() }
    }

    // MARK: RingWaiter

    public func ring(_ ring: Doorbell.Ring) {
        let waiter = shared.withLock { shared -> CheckedContinuation<Doorbell.Ring?, Never>? in
            guard let waiter = shared.waiter else {
                shared.rings.append(ring)
                return nil
            }
            shared.waiter = nil
            return waiter.continuation
        }
        // Resuming enqueues the waiting task here, which wakes the thread.
        waiter?.resume(returning: ring)
    }

    public func take() async -> Doorbell.Ring? { shared.withLock { $0.takeRing() } }

    /// Waits up to `duration` on this thread's own timeout; returns the ring that ended it early, if any.
    public func wait(for duration: Duration) async -> Doorbell.Ring? {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + attoseconds / 1_000_000_000
        let deadline = Self.now() + UInt64(max(0, nanoseconds))
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // The deadline is kept by this thread's own poll: only a task running here may wait.
                precondition(isOwnThread, "LoopThread.wait called off its thread")
                let ring = shared.withLock { shared -> Doorbell.Ring? in
                    if let ring = shared.takeRing() { return ring }
                    precondition(shared.waiter == nil, "two waits at once on one loop thread")
                    shared.waiter = (deadline, continuation)
                    return nil
                }
                if let ring { continuation.resume(returning: ring) }
            }
        } onCancel: {
            ring(.shutdown)
        }
    }

    // MARK: The thread

    private func main() {
        pthread_setspecific(Self.marker, Unmanaged.passUnretained(self).toOpaque())
        // Signals are for the threads that handle them (libdispatch's sources), never this one.
        var all = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, nil)
        _ = pthread_setname_np(pthread_self(), "proxy-sync-loop")
        let executor = asUnownedTaskExecutor()
        while true {
            let now = Self.now()
            let (jobs, expired, timeout, stop) = shared.withLock {
                shared -> ([UnownedJob], CheckedContinuation<Doorbell.Ring?, Never>?, UInt64?, Bool) in
                let jobs = shared.jobs
                shared.jobs.removeAll(keepingCapacity: true)
                var expired: CheckedContinuation<Doorbell.Ring?, Never>?
                var timeout: UInt64?
                if let waiter = shared.waiter {
                    if waiter.deadline <= now {
                        expired = waiter.continuation
                        shared.waiter = nil
                    } else {
                        timeout = waiter.deadline - now
                    }
                }
                return (jobs, expired, timeout, shared.stopping)
            }
            // Jobs first; a wait that ran out in the same pass is resumed after them, never dropped.
            for job in jobs { job.runSynchronously(on: executor) }
            if let expired { expired.resume(returning: nil) }
            if !jobs.isEmpty || expired != nil { continue }
            if stop, timeout == nil { break }
            sleep(nanoseconds: timeout)
        }
    }

    deinit { close(wakeDescriptor) }

    /// Sleeps in `poll` until the eventfd is written or `nanoseconds` pass (forever when nil), rounded up to
    /// whole milliseconds so that it never wakes early and spins.
    private func sleep(nanoseconds: UInt64?) {
        var descriptor = pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = nanoseconds.map { Int32(clamping: ($0 + 999_999) / 1_000_000) } ?? -1
        _ = poll(&descriptor, 1, milliseconds)
        if descriptor.revents & Int16(POLLIN) != 0 {
            var value: eventfd_t = 0
            _ = eventfd_read(wakeDescriptor, &value)
        }
    }

    private func wake() { _ = eventfd_write(wakeDescriptor, 1) }

    /// CLOCK_MONOTONIC in nanoseconds.
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
