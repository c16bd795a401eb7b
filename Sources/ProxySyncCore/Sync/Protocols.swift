/// Where site URLs come from (GoCD over libcurl, or a fake).
public protocol SiteURLSource: Sendable {
    func fetchSiteURLs() async throws(GoCDError) -> SiteURLs
}

/// A file could not be read, written, backed up or restored.
public struct StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The managed file and its backups.
public protocol ConfigStore: Sendable {
    /// The bytes at the output path, or nil when there is no file.
    func readInstalled() throws(StoreError) -> [UInt8]?
    /// Keeps `bytes` under the state directory; returns where.
    func backup(_ bytes: [UInt8]) throws(StoreError) -> String
    /// Reads a backup written by ``backup(_:)``.
    func readBackup(_ path: String) throws(StoreError) -> [UInt8]
    /// Atomically replaces the output with `bytes`, or removes it when `bytes` is nil.
    func install(_ bytes: [UInt8]?) throws(StoreError)
}

/// The outcome of running a command: an exit status is data, not an error.
public struct CommandResult: Equatable, Sendable {
    public var argv: [String]
    /// nil when the command did not exit normally (killed, timed out, or never started).
    public var exitStatus: Int32?
    public var timedOut: Bool
    public var output: String
    /// Why the command could not be started at all.
    public var launchError: String?

    public init(argv: [String], exitStatus: Int32?, timedOut: Bool = false, output: String = "", launchError: String? = nil) {
        self.argv = argv
        self.exitStatus = exitStatus
        self.timedOut = timedOut
        self.output = output
        self.launchError = launchError
    }

    public var succeeded: Bool { exitStatus == 0 && !timedOut && launchError == nil }

    /// One line saying how it ended, for logs.
    public var summary: String {
        let command = argv.joined(separator: " ")
        if let launchError { return "\(command): could not start: \(launchError)" }
        if timedOut { return "\(command): timed out and was killed" }
        if let exitStatus { return "\(command): exit status \(exitStatus)" }
        return "\(command): ended by a signal"
    }
}

/// The proxy's own config test and reload.
public protocol ProxyControl: Sendable {
    func test() async -> CommandResult
    func reload() async -> CommandResult
}

/// The state file.
public protocol StateStore: Sendable {
    func load() -> SyncState
    func save(_ state: SyncState) throws(StoreError)
}
