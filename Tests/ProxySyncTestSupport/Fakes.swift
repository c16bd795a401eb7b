import ProxySyncCore
import Synchronization

/// A site-URL source that returns whatever the test set, or an error.
public final class FakeSiteURLSource: SiteURLSource, @unchecked Sendable {
    private let state: Mutex<Result<SiteURLs, GoCDError>>
    public init(_ urls: SiteURLs) { state = Mutex(.success(urls)) }
    public func set(_ result: Result<SiteURLs, GoCDError>) { state.withLock { $0 = result } }
    public func fetchSiteURLs() async throws(GoCDError) -> SiteURLs { try state.withLock { $0 }.get() }
}

/// A config store in memory; it can be told to fail writes.
public final class InMemoryConfigStore: ConfigStore, @unchecked Sendable {
    private let lock = Mutex<Void>(())
    public private(set) var bytes: [UInt8]?
    public private(set) var backups: [String: [UInt8]] = [:]
    public private(set) var installs = 0
    public var failWrites = false

    public init(_ text: String? = nil) { bytes = text.map { Array($0.utf8) } }

    public var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    public func readInstalled() throws(StoreError) -> [UInt8]? { lock.withLock { _ in bytes } }

    public func backup(_ bytes: [UInt8]) throws(StoreError) -> String {
        lock.withLock { _ in
            let path = "/backups/\(backups.count)"
            backups[path] = bytes
            return path
        }
    }

    public func readBackup(_ path: String) throws(StoreError) -> [UInt8] {
        guard let bytes = lock.withLock({ _ in backups[path] }) else { throw StoreError("no backup \(path)") }
        return bytes
    }

    public func install(_ bytes: [UInt8]?) throws(StoreError) {
        if failWrites { throw StoreError("cannot write: No space left on device") }
        lock.withLock { _ in
            installs += 1
            self.bytes = bytes
        }
    }
}

/// A proxy whose test passes or fails by a rule over the bytes in the store; it counts calls.
public final class ScriptedProxyControl: ProxyControl, @unchecked Sendable {
    public var testPasses: @Sendable (String?) -> Bool
    public var reloadPasses = true
    public private(set) var calls: [String] = []
    let store: InMemoryConfigStore
    /// Told about successful reloads, so it can serve what was reloaded.
    public var serving: FakeServing?

    public init(store: InMemoryConfigStore, testPasses: @escaping @Sendable (String?) -> Bool = { _ in true }) {
        self.store = store
        self.testPasses = testPasses
    }

    public func test() async -> CommandResult {
        calls.append("test")
        let ok = testPasses(store.text)
        return CommandResult(argv: ["nginx", "-t"], exitStatus: ok ? 0 : 1, output: ok ? "" : "nginx: [emerg] test says no")
    }

    /// False: a staged test cannot be made here (the engine then tests at the live path).
    public var stagingAvailable = true

    public func testStaged(_ bytes: [UInt8]) async -> StagedTest {
        guard stagingAvailable else { return .unavailable("no mount namespace here") }
        calls.append("test-staged")
        let ok = testPasses(String(decoding: bytes, as: UTF8.self))
        return .tested(
            CommandResult(argv: ["nginx", "-t"], exitStatus: ok ? 0 : 1, output: ok ? "" : "nginx: [emerg] test says no"))
    }

    public func reload() async -> CommandResult {
        calls.append("reload")
        if reloadPasses { serving?.reloaded() }
        return CommandResult(
            argv: ["nginx", "-s", "reload"], exitStatus: reloadPasses ? 0 : 1, output: reloadPasses ? "" : "reload says no")
    }
}

/// A state store in memory.
public final class InMemoryStateStore: StateStore, @unchecked Sendable {
    public var state = SyncState()
    public private(set) var saves = 0
    public init() {}
    public func load() -> SyncState { state }
    public func save(_ state: SyncState) throws(StoreError) {
        saves += 1
        self.state = state
    }
    /// How often a damaged record was set aside; ``keepFails`` makes that fail.
    public private(set) var keptDamaged = 0
    public var keepFails = false
    public func keepDamagedCopy() throws(StoreError) -> String {
        if keepFails { throw StoreError("cannot rename /memory/state.json: read-only file system") }
        keptDamaged += 1
        return "/memory/state.json.damaged-\(keptDamaged)"
    }
}

/// A proxy's answers, in memory: after a successful reload it serves what the store holds, unless told that
/// reloads change nothing (as `nginx -s reload` does when a port cannot be bound).
public final class FakeServing: ServingCheck, @unchecked Sendable {
    let store: InMemoryConfigStore
    /// The text the proxy serves now.
    public private(set) var served: String?
    public var reloadsTakeEffect = true
    public var refusals: [Refusal] = []
    public var notices: [Notice] = []
    public var running: Bool? = true
    public private(set) var confirmations = 0
    public private(set) var endToEndChecks = 0

    public init(store: InMemoryConfigStore) {
        self.store = store
        served = store.text
    }

    /// Called by the fake proxy after a successful reload.
    public func reloaded() {
        if reloadsTakeEffect { served = store.text }
    }

    public func preflight(_ plan: ProxyPlan) async -> PreflightReport {
        PreflightReport(refusals: refusals, notices: notices)
    }

    /// What the last confirmation was told about the file it replaced.
    public private(set) var lastSuperseded: Superseded?

    /// Set: every HTTPS listener presents a certificate other than its configured file's (what confirmation says).
    public var certificateMiss: String?

    public func confirm(_ plan: ProxyPlan, generation: String?, superseded: Superseded?) async -> Confirmation {
        confirmations += 1
        lastSuperseded = superseded
        if let certificateMiss, let https = plan.listeners.first(where: { $0.scheme == .https }) {
            return Confirmation(failedListener: https.origin, observed: certificateMiss, elapsedSeconds: 0.5)
        }
        let servedGeneration = served.flatMap(Generation.of)
        if servedGeneration == generation || (generation == nil && served != nil) {
            return Confirmation(failedListener: nil, observed: "", elapsedSeconds: 0.01)
        }
        return Confirmation(
            failedListener: plan.listeners.first?.origin ?? "?",
            observed: "the previous generation (\(servedGeneration ?? "none"))", elapsedSeconds: 0.5)
    }

    public func endToEnd(_ plan: ProxyPlan, generation: String?) async -> [Notice] {
        endToEndChecks += 1
        return []
    }

    public func proxyRunning() -> Bool? { running }

    public func diagnose(testOutput: String) async -> String? { nil }

    public func certificateNotices(_ plan: ProxyPlan) async -> [Notice] {
        notices.filter { $0.event == .certificateExpiring }
    }
}

/// File identities in memory: a test "renews" a file by giving it another identity. Counts the stats.
public final class FakeFileIdentities: FileIdentityReader, @unchecked Sendable {
    private let lock = Mutex<[String: FileIdentity]>([:])
    private let counted = Mutex(0)

    public init(_ files: [String: FileIdentity] = [:]) { lock.withLock { $0 = files } }

    /// How many times a file was stat'ed.
    public var stats: Int { counted.withLock { $0 } }

    public func set(_ path: String, _ identity: FileIdentity?) { lock.withLock { $0[path] = identity } }

    /// A new inode, size and time for `path`, as certbot's link swap gives it.
    public func renew(_ path: String) {
        lock.withLock { files in
            let old = files[path] ?? FileIdentity(device: 2049, inode: 100, size: 1000, modifiedNanoseconds: 0)
            files[path] = FileIdentity(
                device: old.device, inode: old.inode + 1, size: old.size + 1,
                modifiedNanoseconds: old.modifiedNanoseconds + 60_000_000_000)
        }
    }

    public func identity(of path: String) -> FileIdentity? {
        counted.withLock { $0 += 1 }
        return lock.withLock { $0[path] }
    }
}
