import CoreMetrics
import ProxySyncCore

/// A ``SiteURLSource`` that records how long each fetch from GoCD took, answered or failed, in a swift-metrics Timer
/// (`gocd_proxy_sync_gocd_request_duration_seconds`).
public struct TimedSiteURLSource: SiteURLSource {
    public let base: any SiteURLSource
    public let timer: Timer

    public init(_ base: any SiteURLSource, timer: Timer) {
        self.base = base
        self.timer = timer
    }

    public func fetchSiteURLs() async throws(GoCDError) -> SiteURLs {
        let started = ContinuousClock.now
        defer { timer.recordNanoseconds(Self.nanoseconds(started.duration(to: .now))) }
        return try await base.fetchSiteURLs()
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
