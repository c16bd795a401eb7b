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
    /// The command wrote more than the runner keeps; ``output`` is its beginning.
    public var outputTruncated = false

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
    /// The config test over what is at the live path now.
    func test() async -> CommandResult
    /// The config test with `bytes` standing at the output's path in a view of the file system private to the
    /// test (README: Tested before it is live); the live path keeps its bytes for everyone else.
    func testStaged(_ bytes: [UInt8]) async -> StagedTest
    func reload() async -> CommandResult
}

/// What a staged config test found.
public enum StagedTest: Equatable, Sendable {
    /// The test ran over the staged bytes; its result.
    case tested(CommandResult)
    /// No private view could be made here (no mount namespace allowed, say): why, in words. The caller then
    /// tests at the live path, the way of section 5.
    case unavailable(String)
}

/// The state file.
public protocol StateStore: Sendable {
    /// The record; a damaged one loads as a fresh record with ``SyncState/damage`` set, the file left as it is.
    func load() -> SyncState
    func save(_ state: SyncState) throws(StoreError)
    /// Moves a damaged state file aside, where no include directory globs it; returns where it was kept.
    func keepDamagedCopy() throws(StoreError) -> String
}

/// Something worth a warning that does not stop the plan.
public struct Notice: Equatable, Sendable {
    public var event: Event
    public var message: String
    public var metadata: [String: String]
    /// Identifies what the notice is about, for rate limiting (e.g. a certificate's path).
    public var subject: String?

    public init(event: Event, message: String, metadata: [String: String] = [:], subject: String? = nil) {
        self.event = event
        self.message = message
        self.metadata = metadata
        self.subject = subject
    }
}

/// What the pre-flight found.
public struct PreflightReport: Equatable, Sendable {
    public var refusals: [Refusal] = []
    public var notices: [Notice] = []

    public init(refusals: [Refusal] = [], notices: [Notice] = []) {
        self.refusals = refusals
        self.notices = notices
    }
}

/// Whether every listener answered from the expected file.
public struct Confirmation: Equatable, Sendable {
    /// The listener that did not answer as expected (nil when confirmed).
    public var failedListener: String?
    /// What it got instead: connection refused, a TLS failure, the previous generation, a timeout.
    public var observed: String
    public var elapsedSeconds: Double

    public init(failedListener: String?, observed: String, elapsedSeconds: Double) {
        self.failedListener = failedListener
        self.observed = observed
        self.elapsedSeconds = elapsedSeconds
    }

    public var confirmed: Bool { failedListener == nil }
}

/// The file a change replaces: its proxying listeners and its generation. A proxy that kept its old
/// configuration after a reload still answers on listeners the new file dropped; that is how a reload back to
/// a file with the same text as an earlier one (same generation) is still caught when it did not take.
public struct Superseded: Equatable, Sendable {
    public var listeners: [Listener]
    public var generation: String

    public init(listeners: [Listener], generation: String) {
        self.listeners = listeners
        self.generation = generation
    }

    /// From the bytes a change replaces; nil when they carry no generation (not written by this program).
    public static func from(_ bytes: [UInt8]?, kind: ProxyKind) -> Superseded? {
        guard let bytes else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let generation = Generation.of(text) else { return nil }
        return Superseded(listeners: InstalledConfig.read(text, kind: kind).listeners, generation: generation)
    }
}

/// Asks the proxy what it serves, before and after a change (README: Only what is served counts).
public protocol ServingCheck: Sendable {
    /// Checks the plan against the host before anything is written: ports held by other programs,
    /// certificates that do not cover a name or do not match their key, names or ports other sites use.
    func preflight(_ plan: ProxyPlan) async -> PreflightReport
    /// Waits until every listener of `plan` answers from `generation` (a redirect listener with its target),
    /// and no listener of the `superseded` file that `plan` dropped still answers from that file's generation.
    func confirm(_ plan: ProxyPlan, generation: String?, superseded: Superseded?) async -> Confirmation
    /// One request to GoCD's health endpoint through each proxying listener, answered by the configuration
    /// of `generation`; warnings for what failed.
    func endToEnd(_ plan: ProxyPlan, generation: String?) async -> [Notice]
    /// Whether the proxy's main process runs; nil when that cannot be told.
    func proxyRunning() -> Bool?
    /// After a failed config test: what to do, when the proxy can tell more than its output (e.g. every
    /// Apache module the file needs that is not loaded); nil otherwise.
    func diagnose(testOutput: String) async -> String?
    /// Warnings for certificates of `plan` that expired or expire soon (`certificate_expiring`, subject = path).
    func certificateNotices(_ plan: ProxyPlan) async -> [Notice]
    /// Of `names`, those not covered by every certificate file in `certificates` (all of them when there is none
    /// or one cannot be read).
    func namesNotCovered(_ names: [String], by certificates: [String]) async -> [String]
    /// The certificate findings of ``preflight(_:)`` alone, refusals only (after `certificate_command` ran).
    func certificateRefusals(_ plan: ProxyPlan) async -> [Refusal]
}

extension ServingCheck {
    /// Fakes with no certificate cover every name.
    public func namesNotCovered(_ names: [String], by certificates: [String]) async -> [String] { [] }

    /// The certificate part of ``preflight(_:)``: for each HTTPS listener of `plan`, a refusal when its pair's
    /// certificate does not cover its name or its key does not belong to it. Fakes find nothing wrong.
    public func certificateRefusals(_ plan: ProxyPlan) async -> [Refusal] { [] }
}

/// Runs `[proxy] certificate_command` for HTTPS names that have no certificate yet (README: Obtaining a
/// certificate): the names appended as arguments and in `GOCD_PROXY_SYNC_NAMES`, the ACME webroot in
/// `GOCD_PROXY_SYNC_ACME_WEBROOT`. Whether it obtained one is for the caller to find out (the certificate lookup).
public protocol CertificateRequester: Sendable {
    /// Runs the command for `names` (validated host names, sorted); its exit status is data.
    func request(_ names: [String]) async -> CommandResult
}

/// For engines without `certificate_command`.
public struct NoCertificateRequester: CertificateRequester {
    public init() {}
    public func request(_ names: [String]) async -> CommandResult {
        CommandResult(argv: [], exitStatus: nil, launchError: "no certificate_command is configured")
    }
}

/// The operator's include files (README: Your own directives): read every cycle, since their content is part of
/// what is applied.
public protocol IncludeReader: Sendable {
    /// The bytes of the include at `path`, once its path checks pass.
    /// - Throws: ``StoreError`` naming the file (unsafe, missing, not a regular file).
    func read(_ path: String) throws(StoreError) -> [UInt8]
}

/// For engines whose settings name no includes.
public struct NoIncludeReader: IncludeReader {
    public init() {}
    public func read(_ path: String) throws(StoreError) -> [UInt8] {
        throw StoreError("cannot read the include \(path): no include reader")
    }
}
