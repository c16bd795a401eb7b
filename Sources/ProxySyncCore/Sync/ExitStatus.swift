/// What `once`, `check` and `render` exit with: one catalogue, which the README's "Exit codes" table lists
/// (a test keeps the two in step).
public enum ExitStatus: Int32, CaseIterable, Sendable {
    /// In sync: applied, or nothing to change (also when GoCD has no site URLs set).
    case ok = 0
    /// Usage or configuration error: a bad flag, an unreadable or invalid config, an unsafe credential file.
    case usage = 2
    /// GoCD did not answer with site URLs.
    case gocdError = 3
    /// GoCD's site URLs were rejected as unsafe or unusable (or by the pre-flight); nothing written.
    case rejected = 4
    /// The proxy's config test failed on the new file; the previous file is in place.
    case testFailed = 5
    /// The reload command failed; the tested new file stays and the reload is owed.
    case reloadFailed = 6
    /// A file could not be written, or a path is unsafe; the previous file is intact.
    case writeFailed = 7
    /// Another instance holds the state directory's lock.
    case locked = 8
    /// The proxy's config test was already failing before this change.
    case proxyBroken = 9
    /// The proxy did not serve the new file after the reload; the previous file was restored.
    case notServing = 10
}

extension CycleOutcome {
    /// The exit status of `once` for this outcome.
    public var exitStatus: ExitStatus {
        switch self {
        case .unchanged, .applied, .dryRun, .nothingToDerive: .ok
        case .gocdError: .gocdError
        case .rejected: .rejected
        case .testFailed: .testFailed
        case .reloadFailed: .reloadFailed
        case .writeFailed: .writeFailed
        case .proxyBroken: .proxyBroken
        case .notServing: .notServing
        }
    }
}
