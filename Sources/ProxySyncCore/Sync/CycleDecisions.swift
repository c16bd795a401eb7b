import Logging

/// What a cycle decides and records: why a file is applied, a refusal and how often it is logged, certificate
/// warnings at most daily, and the outcome written to the state file.
extension SyncEngine {
    // MARK: decisions

    /// Why a change is applied. Drift is decided from this program's own record of what it last wrote
    /// and the site URLs it last applied, never from the file's comments.
    /// A kept name whose time has come (`now` at or after its until) and which the plan no longer has makes the
    /// apply `kept-names-expired` when GoCD's site URLs are the ones applied before.
    static func reason(
        installed: [UInt8]?, managed: Bool, plan: ProxyPlan, state: SyncState, now: Timestamp
    ) -> ApplyReason {
        guard let installed else { return .initial }
        guard managed else { return .adopt }
        let sameURLs =
            state.lastAppliedSiteURL == plan.siteURL && state.lastAppliedSecureSiteURL == plan.secureSiteURL
        if sameURLs, let written = state.lastWrittenDigest, written != Digest.fnv1a64Hex(installed) { return .drift }
        let expired = state.keptNames.contains { name, until in
            plan.keptNames[name] == nil && (Timestamp.epochSeconds(iso8601: until).map { $0 <= now.epochSeconds } ?? false)
        }
        if sameURLs && expired { return .keptNamesExpired }
        return .change
    }

    /// A pre-flight refusal: exit 4, event `rejected`, naming the field whose listener it concerns.
    func refuse(_ refusal: Refusal, all: [Refusal], plan: ProxyPlan, urls: SiteURLs, now: Timestamp) -> CycleOutcome {
        let rejection = rejection(for: refusal, all: all, plan: plan, urls: urls)
        logRejected(
            "the new plan was refused before anything was written; the file in place keeps serving", rejection,
            urls: urls, now: now,
            ["field": "\(rejection.field)", "value": "\(rejection.value)", "reason": "\(rejection.reason)"])
        return .rejected(rejection)
    }

    /// The rejection a pre-flight refusal stands for: the field of the listener it concerns, GoCD's value, and
    /// every refusal's reason.
    func rejection(for refusal: Refusal, all: [Refusal], plan: ProxyPlan, urls: SiteURLs) -> SiteURLRejection {
        let field = plan.field(for: refusal.listener)
        return SiteURLRejection(
            field: field.rawValue, rawValue: field == .siteURL ? urls.siteURL : urls.secureSiteURL,
            reason: all.map(\.description).joined(separator: "; "))
    }

    /// Counts `rejection` as logged now, when another line already said it all (``logRejected(_:_:urls:now:_:)``
    /// then logs it at debug level until it changes, or an hour has passed).
    func markRefusalLogged(_ rejection: SiteURLRejection, urls: SiteURLs, now: Timestamp) {
        _ = memory.refusalDue(Self.refusalKey(rejection, urls: urls), now: now.epochSeconds)
    }

    static func refusalKey(_ rejection: SiteURLRejection, urls: SiteURLs) -> String {
        [urls.siteURL, urls.secureSiteURL, rejection.field, rejection.reason].joined(separator: "\u{0}")
    }

    /// A refusal is an error once per change of what is refused (both site URLs and the reason) and again at
    /// most hourly; the cycles between log it at debug level. Every cycle still ends `rejected` (exit 4, the
    /// metrics' outcome, the STATUS line): only the log line is not repeated.
    func logRejected(
        _ message: String, _ rejection: SiteURLRejection, urls: SiteURLs, now: Timestamp, _ metadata: Logger.Metadata
    ) {
        if memory.refusalDue(Self.refusalKey(rejection, urls: urls), now: now.epochSeconds) {
            log(.error, "\(message)", .rejected, metadata)
        } else {
            log(
                .debug, "still refused, as logged earlier (repeated at most hourly)", .rejected,
                metadata.merging(["repeat": "suppressed"]) { $1 })
        }
    }

    /// Logs certificate warnings at most once a day per file.
    func warnOnce(_ notices: [Notice], state current: inout SyncState, now: Timestamp) {
        for notice in notices {
            let subject = notice.subject ?? notice.message
            if current.certificateWarnings[subject] == now.day { continue }
            current.certificateWarnings[subject] = now.day
            log(notice)
        }
    }


    /// Records the outcome in the state file, unless the cycle changed nothing: an unchanged cycle after
    /// an unchanged cycle writes nothing at all (README), so the file's times are those of the last event.
    func record(_ outcome: CycleOutcome, into current: inout SyncState, now: Timestamp) {
        let previous = state.load()
        current.lastCycleAt = now.iso8601
        current.lastOutcome = outcome.event.rawValue
        if outcome.isSuccess {
            current.lastSuccessAt = now.iso8601
            current.consecutiveFailures = 0
        } else {
            current.consecutiveFailures += 1
            current.lastError = Self.errorText(outcome)
        }
        if outcome == .unchanged || outcome == .nothingToDerive {
            var a = previous
            var b = current
            (a.lastCycleAt, a.lastSuccessAt, b.lastCycleAt, b.lastSuccessAt) = (nil, nil, nil, nil)
            // After a success, "unchanged" adds nothing to the record of what last happened.
            if a.consecutiveFailures == 0 { (a.lastOutcome, b.lastOutcome) = (nil, nil) }
            if a == b { return }
        }
        do {
            try state.save(current)
        } catch {
            log(.error, "cannot write the state file", .writeFailed, ["error": "\(error)"])
        }
    }

    static func errorText(_ outcome: CycleOutcome) -> String {
        switch outcome {
        case .gocdError(let error): "\(error)"
        case .rejected(let rejection): "\(rejection)"
        case .testFailed: "the proxy's config test failed on the new file; the previous file was restored"
        case .proxyBroken: "the proxy's config test fails even with the previous file: the proxy configuration is broken"
        case .reloadFailed: "the reload command failed; a reload is owed"
        case .writeFailed(let error): error
        case .notServing(let what): what
        default: ""
        }
    }
}
