import FoundationEssentials
import ProxySyncCore

/// `<state_dir>/state.json`, written atomically.
public struct JSONStateStore: StateStore {
    public let path: String

    public init(stateDir: String) {
        self.path = stateDir + "/state.json"
    }

    public func load() -> SyncState {
        guard let bytes = try? Posix.readFile(path) else { return SyncState() }
        return (try? Self.decoder.decode(SyncState.self, from: Data(bytes))) ?? SyncState()
    }

    /// nil when there is no state file yet.
    public func loadIfPresent() -> SyncState? {
        guard let bytes = try? Posix.readFile(path) else { return nil }
        return try? Self.decoder.decode(SyncState.self, from: Data(bytes))
    }

    public func save(_ state: SyncState) throws(StoreError) {
        let data: Data
        do {
            data = try Self.encoder.encode(state)
        } catch {
            throw StoreError("cannot encode the state: \(error)")
        }
        try Posix.makeDirectories(Posix.dirname(path), mode: 0o750)
        try AtomicFile.write(Array(data) + [0x0A], to: path)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        return decoder
    }
}
