import CoreMetrics
import Glibc
import ProxySyncCore
import Synchronization

/// The program's metrics, as swift-metrics handles (Counter, Gauge, Timer) on whatever factory they are given.
///
/// ``observe(_:state:now:cycleSeconds:)`` turns one finished cycle and the state it left into metric values; the
/// exporter renders them. Outcome counters for every outcome exist from the start at 0, so `increase()` sees the
/// first failure of a kind.
public final class SyncMetrics: Sendable {
    /// `gocd_proxy_sync_cycles_total{outcome}` values: the events that end a cycle (``CycleOutcome/event``;
    /// `.nothingToDerive` counts as `unchanged`).
    public static let outcomes: [String] = [
        Event.unchanged, .applied, .rejected, .gocdError, .testFailed, .proxyBroken, .reloadFailed, .writeFailed,
        .notServing,
    ].map(\.rawValue)

    public enum Name {
        public static let buildInfo = "gocd_proxy_sync_build_info"
        public static let cycles = "gocd_proxy_sync_cycles_total"
        public static let lastSuccess = "gocd_proxy_sync_last_success_timestamp_seconds"
        public static let lastChange = "gocd_proxy_sync_last_change_timestamp_seconds"
        public static let consecutiveFailures = "gocd_proxy_sync_consecutive_failures"
        public static let reloadOwed = "gocd_proxy_sync_reload_owed"
        public static let serving = "gocd_proxy_sync_serving"
        public static let certificateExpiry = "gocd_proxy_sync_certificate_expiry_timestamp_seconds"
        public static let gocdRequestDuration = "gocd_proxy_sync_gocd_request_duration_seconds"
        public static let applyDuration = "gocd_proxy_sync_apply_duration_seconds"
    }

    /// `# HELP` text per metric (swift-metrics has no place for it; ``Exposition`` adds the lines).
    public static let help: [String: String] = [
        Name.buildInfo: "Always 1; the labels say which version and libcurl run.",
        Name.cycles: "Sync cycles by how they ended (the log event of the outcome).",
        Name.lastSuccess: "When a cycle last ended in sync (applied, unchanged or nothing to derive), epoch seconds; 0 = never.",
        Name.lastChange: "When the managed file was last changed by an apply, epoch seconds; 0 = never.",
        Name.consecutiveFailures: "Cycles in a row that did not end in sync.",
        Name.reloadOwed: "1 while a failed reload is retried every cycle.",
        Name.serving: "1 when the proxy was confirmed serving the managed file, 0 when confirmed not; absent when unknown.",
        Name.certificateExpiry: "notAfter of the configured tls_certificate, epoch seconds.",
        Name.gocdRequestDuration: "Time to fetch the site URLs from GoCD, answered or failed.",
        Name.applyDuration:
            "Duration of cycles that swapped the file in (applied or not_serving): swap, test, reload, confirmation.",
    ]

    /// What changes between observations.
    struct Memory {
        /// `state.lastChangeAt` as last seen: a different value means the file was changed since.
        var seenChangeAt: String?
        var serving: Gauge?
        var certificate: (path: String, gauge: Gauge)?
    }

    let factory: any MetricsFactory
    let buildInfo: Gauge
    let cycles: [String: Counter]
    let lastSuccess: Gauge
    let lastChange: Gauge
    let consecutiveFailures: Gauge
    let reloadOwed: Gauge
    /// Recorded by ``TimedSiteURLSource``.
    public let gocdRequestDuration: Timer
    let applyDuration: Timer
    let memory = Mutex(Memory())

    public init(factory: any MetricsFactory, version: String, libcurl: String) {
        self.factory = factory
        buildInfo = Gauge(label: Name.buildInfo, dimensions: [("version", version), ("libcurl", libcurl)], factory: factory)
        buildInfo.record(1)
        var cycles: [String: Counter] = [:]
        for outcome in Self.outcomes {
            cycles[outcome] = Counter(label: Name.cycles, dimensions: [("outcome", outcome)], factory: factory)
        }
        self.cycles = cycles
        lastSuccess = Gauge(label: Name.lastSuccess, factory: factory)
        lastChange = Gauge(label: Name.lastChange, factory: factory)
        consecutiveFailures = Gauge(label: Name.consecutiveFailures, factory: factory)
        reloadOwed = Gauge(label: Name.reloadOwed, factory: factory)
        gocdRequestDuration = Timer(label: Name.gocdRequestDuration, factory: factory)
        applyDuration = Timer(label: Name.applyDuration, factory: factory)
    }

    /// Sets the gauges from the state file as found at start-up, before any cycle of this process: the times of
    /// an earlier process's last success and change are read from the state's own ISO 8601 strings.
    public func prime(_ state: SyncState) {
        lastSuccess.record(state.lastSuccessAt.flatMap(ISOTime.epochSeconds) ?? 0)
        lastChange.record(state.lastChangeAt.flatMap(ISOTime.epochSeconds) ?? 0)
        memory.withLock { $0.seenChangeAt = state.lastChangeAt }
        setStateGauges(state)
    }

    /// Counts one finished cycle and sets the gauges from the state it left.
    ///
    /// `now` is the wall-clock time at the end of the cycle: it becomes the last success time when the cycle ended in
    /// sync, and the last change time when the state's `lastChangeAt` moved (an apply, also one whose reload failed).
    /// `cycleSeconds` goes into the apply histogram for cycles that swapped a file in (`.applied`, `.notServing`):
    /// the whole cycle's duration stands in for swap-to-reload-done, which it exceeds only by the GoCD request and
    /// the render (milliseconds, against a config test and reload).
    public func observe(_ outcome: CycleOutcome, state: SyncState, now: Timestamp, cycleSeconds: Double) {
        if case .dryRun = outcome { return }
        cycles[outcome.event.rawValue]?.increment()
        if outcome.isSuccess { lastSuccess.record(now.epochSeconds) }
        let changed = memory.withLock { memory in
            defer { memory.seenChangeAt = state.lastChangeAt }
            return state.lastChangeAt != nil && state.lastChangeAt != memory.seenChangeAt
        }
        if changed { lastChange.record(now.epochSeconds) }
        switch outcome {
        case .applied, .notServing: applyDuration.recordNanoseconds(Int64(cycleSeconds * 1e9))
        default: break
        }
        setStateGauges(state)
    }

    /// Sets (or removes, with nil) `gocd_proxy_sync_certificate_expiry_timestamp_seconds{path}`.
    public func setCertificate(path: String?, notAfter: Int64?) {
        let factory = self.factory
        memory.withLock { memory in
            if let current = memory.certificate, current.path != path || notAfter == nil {
                current.gauge.destroy()
                memory.certificate = nil
            }
            guard let path, let notAfter else { return }
            let gauge =
                memory.certificate?.gauge
                ?? Gauge(label: Name.certificateExpiry, dimensions: [("path", path)], factory: factory)
            gauge.record(notAfter)
            memory.certificate = (path, gauge)
        }
    }

    func setStateGauges(_ state: SyncState) {
        consecutiveFailures.record(state.consecutiveFailures)
        reloadOwed.record(state.reloadOwed ? 1 : 0)
        let factory = self.factory
        memory.withLock { memory in
            if let serving = state.serving {
                let gauge = memory.serving ?? Gauge(label: Name.serving, factory: factory)
                gauge.record(serving ? 1 : 0)
                memory.serving = gauge
            } else if let gauge = memory.serving {
                gauge.destroy()
                memory.serving = nil
            }
        }
    }
}

/// Epoch seconds of the `YYYY-MM-DDTHH:MM:SSZ` strings this program writes into `state.json`.
/// ISO 8601 times as this program writes them (`YYYY-MM-DDTHH:MM:SSZ`).
public enum ISOTime {
    public static func epochSeconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes[19] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ from: Int, _ count: Int) -> Int32? {
            var value: Int32 = 0
            for byte in bytes[from..<from + count] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int32(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Int64(timegm(&parts))
    }
}
