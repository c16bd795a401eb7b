import Logging

/// Every event name an operator can see, in one place (journald's `EVENT` field, the plain log line's
/// prefix, `status`, the metrics' `outcome` label). The README's table is checked against this list.
public enum Event: String, CaseIterable, Sendable {
    case started, unchanged, applied, rejected
    case gocdError = "gocd_error"
    case testFailed = "test_failed"
    case proxyBroken = "proxy_broken"
    case rolledBack = "rolled_back"
    case reloaded
    case reloadFailed = "reload_failed"
    case notServing = "not_serving"
    case upstreamUnreachable = "upstream_unreachable"
    case certificateExpiring = "certificate_expiring"
    case certificateRenewed = "certificate_renewed"
    case certificateRequested = "certificate_requested"
    case certificateObtained = "certificate_obtained"
    case certificateRequestFailed = "certificate_request_failed"
    case writeFailed = "write_failed"
    case lockHeld = "lock_held"
    case configReloaded = "config_reloaded"
    case configInvalid = "config_invalid"
    case stopping

    /// The priority as the README's events table states it.
    public var priority: String {
        switch self {
        case .started, .applied, .configReloaded, .stopping, .certificateRenewed, .certificateObtained: "notice"
        case .certificateRequested: "info"
        case .unchanged: "debug"
        case .rejected, .testFailed, .reloadFailed, .writeFailed, .lockHeld, .configInvalid, .certificateRequestFailed:
            "error"
        case .gocdError: "error (notice for 503)"
        case .proxyBroken: "critical"
        case .rolledBack, .upstreamUnreachable, .certificateExpiring: "warning"
        case .reloaded: "info"
        case .notServing: "error (critical when the proxy is down)"
        }
    }

    /// For log metadata: `["event": Event.applied.value]`.
    public var value: Logger.MetadataValue { .string(rawValue) }
}

/// Why a new file was applied (`applied reason=`).
public enum ApplyReason: String, CaseIterable, Sendable {
    /// No file at the output before.
    case initial
    /// GoCD's site URLs (or the settings) changed what the file must say.
    case change
    /// The file was edited by hand since this program wrote it; the managed content is put back.
    case drift
    /// A file without the managed header was there: kept as a backup and replaced.
    case adopt
    /// Only an include's content changed (README: Your own directives).
    case include
    /// A name kept after a rename (keep_previous_names_hours) reached its time and is dropped; GoCD's site URLs
    /// are the ones applied before (README: Renaming the GoCD site).
    case keptNamesExpired = "kept-names-expired"
    /// No file change: a certificate, key or chain file was renewed in place; tested, reloaded and confirmed.
    case certificate
    /// The site in place plus the ACME challenge for names that have no certificate yet, before
    /// `certificate_command` asks for one (README: Obtaining a certificate).
    case challenge
    /// No file change: a reload that failed earlier was retried and confirmed.
    case reloadRetry = "reload-retry"
    /// An apply interrupted by a crash was finished at start-up.
    case recovered
}
