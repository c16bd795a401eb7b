import Glibc
import ProxySyncCore
import Synchronization

/// `<state_dir>/state.json`, written atomically. The holder of the state lock is its only writer, so the
/// last state read or written is kept in memory and the file is read once. Neither read nor written through a
/// symbolic link (README: Security model): a link at `state.json` is a damaged record, and a save replaces it.
public final class JSONStateStore: StateStore, @unchecked Sendable {
    public let path: String
    private let cached = Mutex<SyncState?>(nil)

    public init(stateDir: String) {
        self.path = stateDir + "/state.json"
    }

    public func load() -> SyncState {
        if let known = cached.withLock({ $0 }) { return known }
        let loaded = read() ?? SyncState()
        cached.withLock { $0 = loaded }
        return loaded
    }

    /// nil when there is no state file yet; a record with ``SyncState/damage`` set when it cannot be believed
    /// (not JSON, a wrong type, a value out of range: ``SyncState/decode(_:)``). Never moves or writes anything.
    public func loadIfPresent() -> SyncState? { read() }

    func read() -> SyncState? {
        let bytes: [UInt8]
        do {
            guard let read = try Posix.readRegularFile(path, maxBytes: 1 << 20, what: "state file", followLinks: false)
            else { return nil }
            bytes = read
        } catch {
            var fresh = SyncState()
            fresh.damage = StateDamage(file: path, problem: "\(error)")
            return fresh
        }
        do {
            return try SyncState.decode(bytes)
        } catch {
            var fresh = SyncState()
            fresh.damage = StateDamage(file: path, problem: error.description)
            return fresh
        }
    }

    /// Renames `state.json` to `state.json.damaged-<UTC time>` (`-2`, `-3`, … within one second) in the state
    /// directory: kept for a post-mortem, never in an include directory, never over an earlier damaged copy.
    public func keepDamagedCopy() throws(StoreError) -> String {
        let stamp = WallClock.iso8601(WallClock.now().epochSeconds, compact: true)
        var aside = "\(path).damaged-\(stamp)"
        var counter = 1
        while access(aside, F_OK) == 0 {
            counter += 1
            aside = "\(path).damaged-\(stamp)-\(counter)"
        }
        guard rename(path, aside) == 0 else { throw Posix.failure("move the damaged state file aside:", path) }
        Posix.fsyncDirectory(Posix.dirname(path))
        return aside
    }

    public func save(_ state: SyncState) throws(StoreError) {
        try PathSafety.prepareStateDirectory(Posix.dirname(path))
        try AtomicFile.write(Array(state.json.serialized().utf8) + [0x0A], to: path, label: .state, followLinks: false)
        cached.withLock { $0 = state }
    }
}
