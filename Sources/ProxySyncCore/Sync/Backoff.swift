/// The delay before the next cycle: the interval, or exponential backoff after failures worth waiting out.
public struct Backoff: Equatable, Sendable {
    public var intervalSeconds: Double
    public var maxBackoffSeconds: Double
    /// GoCD errors (or plans the proxy did not serve) in a row; reset by any other outcome.
    public private(set) var failures = 0

    public init(intervalSeconds: Double, maxBackoffSeconds: Double) {
        self.intervalSeconds = intervalSeconds
        self.maxBackoffSeconds = max(maxBackoffSeconds, intervalSeconds)
    }

    /// Records an outcome and returns the delay before the next cycle, in seconds.
    ///
    /// A GoCD error backs off (GoCD may be restarting); so does `not_serving`, so that a plan the proxy
    /// does not serve is retried on this schedule and never reloads the proxy every cycle.
    ///
    /// - Parameter jitter: a number in -1...1 (from a random source), scaled to ±10 % of the delay.
    public mutating func next(after outcome: CycleOutcome, jitter: Double) -> Double {
        switch outcome {
        case .gocdError: failures += 1
        // Each attempt reloads the proxy twice (the new file, then the restored one): start further out.
        case .notServing: failures += failures == 0 ? 2 : 1
        default: failures = 0
        }
        var base = intervalSeconds
        if failures > 0 {
            let factor = Double(1 << min(failures, 20))
            base = min(intervalSeconds * factor, maxBackoffSeconds)
        }
        let clamped = min(max(jitter, -1), 1)
        return max(0.05, base * (1 + 0.1 * clamped))
    }
}
