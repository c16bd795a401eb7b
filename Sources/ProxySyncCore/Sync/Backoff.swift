/// When the next cycle runs: pure arithmetic over the last outcome (SPEC §6).
public struct Backoff: Equatable, Sendable {
    public var intervalSeconds: Int
    public var maxBackoffSeconds: Int
    /// GoCD errors in a row; reset by any cycle that reached GoCD.
    public private(set) var gocdFailures = 0

    public init(intervalSeconds: Int, maxBackoffSeconds: Int) {
        self.intervalSeconds = intervalSeconds
        self.maxBackoffSeconds = max(maxBackoffSeconds, intervalSeconds)
    }

    /// Records an outcome and returns the delay before the next cycle, in seconds.
    ///
    /// - Parameter jitter: a number in -1...1 (from a random source), scaled to ±10 % of the delay.
    public mutating func next(after outcome: CycleOutcome, jitter: Double) -> Double {
        if case .gocdError = outcome {
            gocdFailures += 1
        } else {
            gocdFailures = 0
        }
        var base = Double(intervalSeconds)
        if gocdFailures > 0 {
            let factor = Double(1 << min(gocdFailures, 20))
            base = min(Double(intervalSeconds) * factor, Double(maxBackoffSeconds))
        }
        let clamped = min(max(jitter, -1), 1)
        return max(0.1, base * (1 + 0.1 * clamped))
    }
}
