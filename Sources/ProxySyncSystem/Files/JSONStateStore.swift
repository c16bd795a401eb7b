import Glibc
import ProxySyncCore
import Synchronization

/// `<state_dir>/state.json`, written atomically. The holder of the state lock is its only writer, so the
/// last state read or written is kept in memory and the file is read once.
public final class JSONStateStore: StateStore, @unchecked Sendable {
    public let path: String
    private let cached = Mutex<SyncState?>(nil)

    public init(stateDir: String) {
        self.path = stateDir + "/state.json"
    }

    public func load() -> SyncState {
        if let known = cached.withLock({ $0 }) { return known }
        var loaded = SyncState()
        if let bytes = try? Posix.readRegularFile(path, maxBytes: 1 << 20, what: "state file") {
            if let json = try? JSON.parse(bytes), case .object = json {
                loaded = SyncState(json: json)
            } else {
                // Empty, truncated, NUL-filled or of the wrong shape: keep it for a post-mortem, start afresh,
                // and say so (the engine then re-checks what the proxy serves).
                let aside = path + ".damaged"
                rename(path, aside)
                loaded.damage =
                    "\(path) was not a valid state record (\(bytes.isEmpty ? "empty" : "\(bytes.count) bytes that are not a JSON object")); it was moved to \(aside)"
            }
        }
        cached.withLock { $0 = loaded }
        return loaded
    }

    /// nil when there is no state file yet.
    public func loadIfPresent() -> SyncState? {
        guard let bytes = try? Posix.readRegularFile(path, maxBytes: 1 << 20, what: "state file"),
            let json = try? JSON.parse(bytes)
        else { return nil }
        return SyncState(json: json)
    }

    public func save(_ state: SyncState) throws(StoreError) {
        try Posix.makeDirectories(Posix.dirname(path), mode: 0o750)
        try AtomicFile.write(Array(state.json.serialized().utf8) + [0x0A], to: path, label: "state")
        cached.withLock { $0 = state }
    }
}
