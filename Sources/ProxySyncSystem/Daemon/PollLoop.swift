import ProxySyncCore

/// What the poll loop drives: one cycle, what to do after it, a config re-read, a watchdog ping.
public protocol PollLoopDriver: AnyObject, Sendable {
    func cycle() async -> CycleOutcome
    /// Called after every cycle with the delay chosen before the next one (READY/STATUS go out here).
    func cycleFinished(_ outcome: CycleOutcome, nextDelaySeconds: Double, first: Bool)
    /// SIGHUP: re-read the config; returns the interval and backoff cap now in force.
    func reloadConfiguration() -> (intervalSeconds: Double, maxBackoffSeconds: Double)
    func watchdogPing()
}

/// The daemon's schedule: cycle, wait (interval ± jitter, or backoff after GoCD errors), repeat.
///
/// - Important: a ring of the doorbell ends the *wait* at once; a cycle in progress always completes.
///   Time comes from `clock`, so tests drive it with a manual clock instead of sleeping.
public struct PollLoop<C: Clock>: Sendable where C.Duration == Duration {
    public let clock: C
    public let doorbell: Doorbell
    /// Half of `$WATCHDOG_USEC`: the longest wait without a ping.
    public let watchdogInterval: Duration?
    /// A number in -1...1 for the ±10 % jitter.
    public let jitter: @Sendable () -> Double

    public init(clock: C, doorbell: Doorbell, watchdogInterval: Duration?, jitter: @escaping @Sendable () -> Double) {
        self.clock = clock
        self.doorbell = doorbell
        self.watchdogInterval = watchdogInterval
        self.jitter = jitter
    }

    /// Runs until the doorbell rings for shutdown.
    public func run(_ driver: any PollLoopDriver, intervalSeconds: Double, maxBackoffSeconds: Double) async {
        var backoff = Backoff(intervalSeconds: intervalSeconds, maxBackoffSeconds: maxBackoffSeconds)
        var first = true
        while true {
            if await doorbell.take() == .shutdown { return }
            let outcome = await driver.cycle()
            let delay = backoff.next(after: outcome, jitter: jitter())
            driver.cycleFinished(outcome, nextDelaySeconds: delay, first: first)
            first = false
            driver.watchdogPing()
            switch await wait(seconds: delay, driver: driver) {
            case .shutdown:
                return
            case .reload:
                let settings = driver.reloadConfiguration()
                backoff = Backoff(intervalSeconds: settings.intervalSeconds, maxBackoffSeconds: settings.maxBackoffSeconds)
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
            let doorbell = self.doorbell
            let clock = self.clock
            let ring: Doorbell.Ring?? = await withTaskGroup(of: Doorbell.Ring??.self) { group in
                group.addTask { await doorbell.next() }
                group.addTask {
                    try? await clock.sleep(for: slice)
                    return .some(nil)
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            if case .some(.some(let ring)) = ring { return ring }
            if watchdogInterval != nil { driver.watchdogPing() }
        }
        return nil
    }
}
