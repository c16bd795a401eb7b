/// How one cycle ended. ``exitCode`` is what `once` exits with (README: Exit codes).
public enum CycleOutcome: Equatable, Sendable {
    case unchanged
    case applied(reason: ApplyReason, diff: String)
    case dryRun(semanticDiff: String, unifiedDiff: String, changePending: Bool)
    case nothingToDerive
    case gocdError(GoCDError)
    case rejected(SiteURLRejection)
    case testFailed(output: String)
    case reloadFailed(output: String)
    case writeFailed(String)
    case proxyBroken(output: String)
    /// The proxy did not serve the new file after the reload; the previous file was restored (README: Only what is served counts).
    case notServing(String)

    public var exitCode: Int32 { exitStatus.rawValue }

    /// The event name (README: Running under systemd) that best summarises the outcome.
    /// A dry run changes nothing and is never recorded; it counts as `unchanged`.
    public var event: Event {
        switch self {
        case .unchanged, .dryRun, .nothingToDerive: .unchanged
        case .applied: .applied
        case .gocdError: .gocdError
        case .rejected: .rejected
        case .testFailed: .testFailed
        case .reloadFailed: .reloadFailed
        case .writeFailed: .writeFailed
        case .proxyBroken: .proxyBroken
        case .notServing: .notServing
        }
    }

    public var isSuccess: Bool { exitCode == 0 }
}
