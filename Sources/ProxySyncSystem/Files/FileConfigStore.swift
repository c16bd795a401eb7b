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
        Failpoint.hit("before-backup")
        try Posix.makeDirectories(backupDirectory, mode: 0o700)
        let stamp = WallClock.iso8601(WallClock.now().epochSeconds, compact: true)
        let base = Posix.basename(output)
        var path = "\(backupDirectory)/\(base).\(stamp).bak"
        var counter = 1
        while access(path, F_OK) == 0 {
            counter += 1
            path = "\(backupDirectory)/\(base).\(stamp)-\(counter).bak"
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Posix.failure("write the backup", path) }
        defer { close(fd) }
        if let code = Posix.writeAll(fd, bytes) {
            unlink(path)
            throw Posix.failure("write the backup", path, code)
        }
        fsync(fd)
        prune(base: base)
        Failpoint.hit("after-backup")
        return path
    }

    public func readBackup(_ path: String) throws(StoreError) -> [UInt8] {
        guard let bytes = try Posix.readFile(path) else { throw StoreError("the backup \(path) is missing") }
        return bytes
    }

    public func install(_ bytes: [UInt8]?) throws(StoreError) {
        if let problem = PathSafety.problem(forOutput: output) {
            throw StoreError("refusing to write \(output): \(problem)")
        }
        if let bytes {
            installed.set(try AtomicFile.write(bytes, to: output, label: "output"))
        } else {
            try AtomicFile.remove(output, expecting: installed.get())
            installed.set(nil)
        }
    }

    /// Keeps the newest ``keep`` backups of this output; names sort by time.
    func prune(base: String) {
        guard let dir = opendir(backupDirectory) else { return }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasPrefix(base + ".") && name.hasSuffix(".bak") { names.append(name) }
        }
        closedir(dir)
        for name in names.sorted().dropLast(keep) { unlink("\(backupDirectory)/\(name)") }
    }
}

/// A file identity shared by copies of a ``FileConfigStore``.
final class SharedIdentity: Sendable {
    private let value = Mutex<AtomicFile.FileIdentity?>(nil)
    func get() -> AtomicFile.FileIdentity? { value.withLock { $0 } }
    func set(_ identity: AtomicFile.FileIdentity?) { value.withLock { $0 = identity } }
}
