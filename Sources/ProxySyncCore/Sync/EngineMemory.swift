import Synchronization

/// What the engine keeps between the cycles of one process, and never writes down.
final class EngineMemory: Sendable {
    private let certificatesCheckedOn = Mutex<String?>(nil)
    private let lastRendering = Mutex<Rendering?>(nil)
    /// The digest of a rendering whose includes failed the config test, with the test's output: it is tried
    /// again only when something changes (an include again, GoCD's site URLs, the settings).
    fileprivate let failedIncludes = Mutex<(digest: String, output: String)?>(nil)

    /// The plan and file text rendered from one answer of GoCD under one set of proxy settings. Both are pure
    /// functions of those two, so an idle cycle, which gets the same answer every time, reuses them instead of
    /// deriving, rendering and sealing again (most of an idle cycle's own CPU before this was kept).
    struct Rendering: Sendable {
        let urls: SiteURLs
        let settings: ProxySettings
        /// The names kept after a rename (SPEC 5e), part of the plan.
        let kept: [String: String]
        let plan: ProxyPlan
        let text: String
        let bytes: [UInt8]
        let digest: String
    }

    /// The last rendering, when it was made from exactly these URLs and settings.
    func rendering(for urls: SiteURLs, settings: ProxySettings, kept: [String: String] = [:]) -> Rendering? {
        lastRendering.withLock { last in
            guard let last, last.urls == urls, last.settings == settings, last.kept == kept else { return nil }
            return last
        }
    }

    func remember(_ rendering: Rendering) { lastRendering.withLock { $0 = rendering } }

    /// The certificate pairs the last rendering was made with (`tls_certificate_dir`).
    func lastCertificatePairs() -> [String: CertificatePair] { lastRendering.withLock { $0?.settings.certificatePairs ?? [:] } }

    /// A refusal as last logged at its full level: what was refused, and when (epoch seconds).
    private let loggedRefusal = Mutex<(key: String, at: Int64)?>(nil)

    /// How long the same refusal goes unrepeated in the log (the outcome, metrics and STATUS say it every cycle).
    static let refusalRepeatSeconds: Int64 = 3600

    /// True when this refusal (the field, the value GoCD sent and the reason) should be logged at its full level
    /// now: the first time, after any change of it, and again once an hour has passed since it was last logged.
    func refusalDue(_ key: String, now: Int64) -> Bool {
        loggedRefusal.withLock { last in
            if let last, last.key == key, now - last.at < Self.refusalRepeatSeconds, now >= last.at { return false }
            last = (key, now)
            return true
        }
    }

    /// A plan was accepted, or GoCD's site URLs changed to something that is not refused: the next refusal,
    /// even of a value refused before, is news.
    func forgetRefusal() { loggedRefusal.withLock { $0 = nil } }

    private let startConfirmed = Mutex(false)

    /// True once per process: the first unchanged cycle confirms what is served instead of trusting the record.
    func startConfirmationDue() -> Bool {
        startConfirmed.withLock { done in
            defer { done = true }
            return !done
        }
    }

    /// True once per day (and at the first cycle of a process): time to look at certificate expiry on an
    /// unchanged cycle. Cycles that write check certificates anyway.
    func certificatesDue(day: String) -> Bool {
        certificatesCheckedOn.withLock { checked in
            if checked == day { return false }
            checked = day
            return true
        }
    }

    private let stagingWarned = Mutex<Bool>(false)

    /// True the first time in a process that a staged config test could not be run (one warning, not one per apply).
    func firstStagingWarning() -> Bool {
        stagingWarned.withLock { warned in
            defer { warned = true }
            return !warned
        }
    }
}

extension EngineMemory {
    func includeFailure() -> (digest: String, output: String)? { failedIncludes.withLock { $0 } }

    func rememberIncludeFailure(_ failure: (digest: String, output: String)?) { failedIncludes.withLock { $0 = failure } }
}
