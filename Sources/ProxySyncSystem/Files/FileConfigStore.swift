import Glibc
import ProxySyncCore
import Synchronization

/// The managed output file, with backups kept under `<state_dir>/backups/` (never in the include directory).
public struct FileConfigStore: ConfigStore {
    public let output: String
    public let backupDirectory: String
    /// How many backups to keep.
    public let keep: Int
    /// The file this store last installed, so that removing it never removes something swapped in since.
    private let installed = SharedIdentity()

    public init(output: String, stateDir: String, keep: Int = 5) {
        self.output = output
        self.backupDirectory = stateDir + "/backups"
        self.keep = keep
    }

    public func readInstalled() throws(StoreError) -> [UInt8]? {
        try PathSafety.readOutput(output)
    }

    public func backup(_ bytes: [UInt8]) throws(StoreError) -> String {
        Failpoint.hit(.beforeBackup)
        // Held to the state directory's rules, and written without following a link at the backup's name.
        try PathSafety.prepareStateDirectory(Posix.dirname(backupDirectory))
        try PathSafety.prepareStateDirectory(backupDirectory, mode: 0o700)
        let stamp = WallClock.iso8601(WallClock.now().epochSeconds, compact: true)
        let base = Posix.basename(output)
        // A later backup of the same second gets the next counter (`-2`, `-3`, …), never a pruned one's.
        var counter = (backupNames(base: base).compactMap { Self.order($0, base: base) }.filter { $0.stamp == stamp }
            .map(\.counter).max() ?? 0) + 1
        func name() -> String { "\(backupDirectory)/\(base).\(stamp)\(counter == 1 ? "" : "-\(counter)").bak" }
        var path = name()
        var existing = stat()
        while lstat(path, &existing) == 0 {
            counter += 1
            path = name()
        }
        try AtomicFile.write(bytes, to: path, label: .backup, followLinks: false, newFileMode: 0o600)
        prune(base: base, keeping: path)
        Failpoint.hit(.afterBackup)
        return path
    }

    public func readBackup(_ path: String) throws(StoreError) -> [UInt8] {
        let read: [UInt8]?
        do {
            read = try Posix.readRegularFile(path, maxBytes: PathSafety.maxOutputBytes, what: "backup")
        } catch {
            throw StoreError("cannot read the backup \(error)")
        }
        guard let bytes = read else { throw StoreError("the backup \(path) is missing") }
        return bytes
    }

    public func install(_ bytes: [UInt8]?) throws(StoreError) {
        if let problem = PathSafety.problem(forOutput: output) {
            throw StoreError("refusing to write \(output): \(problem)")
        }
        if let bytes {
            installed.set(try AtomicFile.write(bytes, to: output, label: .output))
        } else {
            try AtomicFile.remove(output, expecting: installed.get())
            installed.set(nil)
        }
    }

    /// Keeps the newest ``keep`` backups of this output (and always `keeping`, the one just written), in
    /// the order they were made: by time stamp, then counter. (By name alone `-10` sorts before `-2` and
    /// `-2` before the second's first backup, which once pruned the backup an interrupted apply needed.)
    func prune(base: String, keeping: String) {
        let names = backupNames(base: base).compactMap { name in Self.order(name, base: base).map { (name, $0) } }
        let sorted = names.sorted { ($0.1.stamp, $0.1.counter) < ($1.1.stamp, $1.1.counter) }.map(\.0)
        for name in sorted.dropLast(keep) where "\(backupDirectory)/\(name)" != keeping {
            unlink("\(backupDirectory)/\(name)")
        }
    }

    /// The names of this output's backups, in no order.
    func backupNames(base: String) -> [String] {
        guard let dir = opendir(backupDirectory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasPrefix(base + ".") && name.hasSuffix(".bak") { names.append(name) }
        }
        return names
    }

    /// `<base>.<stamp>.bak` → (stamp, 1); `<base>.<stamp>-<n>.bak` → (stamp, n); nil for other names.
    static func order(_ name: String, base: String) -> (stamp: String, counter: Int)? {
        guard name.hasPrefix(base + "."), name.hasSuffix(".bak") else { return nil }
        let middle = name.dropFirst(base.count + 1).dropLast(4)
        guard !middle.isEmpty else { return nil }
        if let dash = middle.lastIndex(of: "-"), let counter = Int(middle[middle.index(after: dash)...]) {
            return (String(middle[..<dash]), counter)
        }
        return (String(middle), 1)
    }
}

/// A file identity shared by copies of a ``FileConfigStore``.
final class SharedIdentity: Sendable {
    private let value = Mutex<AtomicFile.FileIdentity?>(nil)
    func get() -> AtomicFile.FileIdentity? { value.withLock { $0 } }
    func set(_ identity: AtomicFile.FileIdentity?) { value.withLock { $0 = identity } }
}
