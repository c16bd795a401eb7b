/// How one cycle ended. ``exitCode`` is what `once` exits with (SPEC §2).
public enum CycleOutcome: Equatable, Sendable {
    case unchanged
    case applied(reason: String, diff: String)
    case dryRun(semanticDiff: String, unifiedDiff: String, changePending: Bool)
    case nothingToDerive
    case gocdError(GoCDError)
    case rejected(SiteURLRejection)
    case testFailed(output: String)
    case reloadFailed(output: String)
    case writeFailed(String)
    case proxyBroken(output: String)
    /// The proxy did not serve the new file after the reload; the previous file was restored (SPEC §5a).
    case notServing(String)

    public var exitCode: Int32 {
        switch self {
        case .unchanged, .applied, .dryRun, .nothingToDerive: 0
        case .gocdError: 3
        case .rejected: 4
        case .testFailed: 5
        case .reloadFailed: 6
        case .writeFailed: 7
        case .proxyBroken: 9
        case .notServing: 10
        }
    }

    /// The event name (SPEC §6) that best summarises the outcome.
    public var event: String {
        switch self {
        case .unchanged: "unchanged"
        case .applied: "applied"
        case .dryRun: "dry_run"
        case .nothingToDerive: "unchanged"
        case .gocdError: "gocd_error"
        case .rejected: "rejected"
        case .testFailed: "test_failed"
        case .reloadFailed: "reload_failed"
        case .writeFailed: "write_failed"
        case .proxyBroken: "proxy_broken"
        case .notServing: "not_serving"
        }
    }

    public var isSuccess: Bool { exitCode == 0 }
}
