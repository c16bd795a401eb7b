import ProxySyncCore

/// What the poll loop drives: one cycle, what to do after it, a config re-read, a watchdog ping.
public protocol PollLoopDriver: AnyObject, Sendable {
    func cycle() async -> CycleOutcome
    /// Called after every cycle with the delay chosen before the next one (READY/STATUS go out here, and
    /// count as a watchdog ping: the loop pings on its own only while waiting).
    func cycleFinished(_ outcome: CycleOutcome, nextDelaySeconds: Double, first: Bool)
    /// SIGHUP: re-read the config; returns the interval and backoff cap now in force.
    func reloadConfiguration() -> (intervalSeconds: Double, maxBackoffSeconds: Double)
    func watchdogPing()
}

/// What the loop waits on between cycles: a ring (shutdown, SIGHUP) or the end of a stretch of time.
public protocol RingWaiter: Sendable {
    /// A ring already waiting, if any (shutdown wins).
    func take() async -> Doorbell.Ring?
    /// Waits up to `duration`; returns the ring that ended the wait early, or nil when the time ran out.
    func wait(for duration: Duration) async -> Doorbell.Ring?
}

/// A ``RingWaiter`` from a clock and a ``Doorbell``: what the tests drive with a manual clock. The daemon
/// itself waits on its ``LoopThread``.
public struct ClockWaiter<C: Clock>: RingWaiter where C.Duration == Duration {
    public let clock: C
    public let doorbell: Doorbell

    public init(clock: C, doorbell: Doorbell) {
        self.clock = clock
        self.doorbell = doorbell
    }

    public func take() async -> Doorbell.Ring? { await doorbell.take() }

    public func wait(for duration: Duration) async -> Doorbell.Ring? {
        let doorbell = self.doorbell
        let clock = self.clock
        let ring: Doorbell.Ring?? = await withTaskGroup(of: Doorbell.Ring??.self) { group in
            group.addTask { await doorbell.next() }
            group.addTask {
                try? await clock.sleep(for: duration)
                return .some(nil)
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if case .some(.some(let ring)) = ring { return ring }
        return nil
    }
}

/// The daemon's schedule: cycle, wait (interval ± jitter, or backoff after GoCD errors), repeat.
///
/// - Important: a ring ends the *wait* at once; a cycle in progress always completes. Time comes from
///   `clock`, so tests drive it with a manual clock instead of sleeping.
public struct PollLoop<C: Clock, W: RingWaiter>: Sendable where C.Duration == Duration {
    public let clock: C
    public let waiter: W
    /// Half of `$WATCHDOG_USEC`: the longest wait without a ping.
    public let watchdogInterval: Duration?
    /// A number in -1...1 for the ±10 % jitter.
    public let jitter: @Sendable () -> Double

    public init(clock: C, waiter: W, watchdogInterval: Duration?, jitter: @escaping @Sendable () -> Double) {
        self.clock = clock
        self.waiter = waiter
        self.watchdogInterval = watchdogInterval
        self.jitter = jitter
    }

    /// Runs until the doorbell rings for shutdown.
    public func run(_ driver: any PollLoopDriver, intervalSeconds: Double, maxBackoffSeconds: Double) async {
        var backoff = Backoff(intervalSeconds: intervalSeconds, maxBackoffSeconds: maxBackoffSeconds)
        var first = true
        func reload() {
            let settings = driver.reloadConfiguration()
            backoff = Backoff(intervalSeconds: settings.intervalSeconds, maxBackoffSeconds: settings.maxBackoffSeconds)
        }
        while true {
            // A ring that came while no wait was listening (during a cycle, or before the first) still counts.
            switch await waiter.take() {
            case .shutdown: return
            case .reload: reload()
            case nil: break
            }
            let outcome = await driver.cycle()
            let delay = backoff.next(after: outcome, jitter: jitter())
            driver.cycleFinished(outcome, nextDelaySeconds: delay, first: first)
            first = false
            switch await wait(seconds: delay, driver: driver) {
            case .shutdown:
                return
            case .reload:
                reload()
            case nil:
                break
            }
        }
    }

    /// Waits for `seconds`, pinging the watchdog at least every ``watchdogInterval``; returns early on a ring.
    func wait(seconds: Double, driver: any PollLoopDriver) async -> Doorbell.Ring? {
        let deadline = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        while clock.now < deadline {
            let remaining = clock.now.duration(to: deadline)
            let slice = watchdogInterval.map { min($0, remaining) } ?? remaining
            if let ring = await waiter.wait(for: slice) { return ring }
            if watchdogInterval != nil { driver.watchdogPing() }
        }
        return nil
    }
}
