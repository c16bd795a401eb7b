import Glibc
import ProxySyncCore

/// Reads the operator's include files, each held to the managed file's path rules (README: Your own directives).
public struct FileIncludeReader: IncludeReader {
    /// The most of one include this program reads.
    public static let maxBytes = 1 << 20

    public init() {}

    public func read(_ path: String) throws(StoreError) -> [UInt8] {
        if let problem = PathSafety.problem(forInclude: path) {
            throw StoreError("refusing the include \(path): \(problem)")
        }
        let bytes: [UInt8]?
        do {
            bytes = try Posix.readRegularFile(Posix.resolveSymlinks(path), maxBytes: Self.maxBytes, what: "regular file")
        } catch {
            throw StoreError("refusing the include \(error)")
        }
        guard let bytes else { throw StoreError("the include \(path) does not exist (create it or drop it from the config file)") }
        return bytes
    }
}

extension PathSafety {
    /// Why the include at `path` may not be part of the site, or nil: it must be a regular file (a root-owned link
    /// to one is followed) owned by root or this program's user, not writable by group or others, below
    /// directories only root can change.
    public static func problem(forInclude path: String) -> String? {
        problem(forRootFile: path, guarding: "the include \(path)", effect: "change the proxy's configuration")
    }

    /// Why the program of `certificate_command` may not be run as root, or nil: the include's rules (a regular file
    /// owned by root or this program's user, not writable by group or others, below directories only root can
    /// change; a root-owned link to one is followed), and executable.
    public static func problem(forCommand path: String) -> String? {
        if let problem = problem(
            forRootFile: path, guarding: "the program \(path)", effect: "choose what runs as root",
            missing: "create it or fix certificate_command")
        {
            return problem
        }
        if access(path, X_OK) != 0 { return "\(path) is not executable (chmod 0755 \(path))" }
        return nil
    }

    static func problem(
        forRootFile path: String, guarding: String, effect: String,
        missing: String = "create it or drop it from the config file"
    ) -> String? {
        if let problem = directoryProblem(Posix.dirname(path), entry: path, guarding: guarding) { return problem }
        var info = stat()
        guard lstat(path, &info) == 0 else { return "\(path) does not exist (\(missing))" }
        var target = path
        if (info.st_mode & S_IFMT) == S_IFLNK {
            guard info.st_uid == 0 else {
                return "\(path) is a symbolic link owned by uid \(info.st_uid), not root: only a root-owned link is followed"
            }
            target = Posix.resolveSymlinks(path)
            if let problem = directoryProblem(Posix.dirname(target), entry: target, guarding: guarding) { return problem }
            guard lstat(target, &info) == 0 else { return "\(path) points at \(target), which does not exist" }
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return "\(target) is \(kind(info.st_mode)), not a regular file" }
        if info.st_uid != 0 && info.st_uid != getuid() {
            return "\(target) is owned by uid \(info.st_uid), not root: its owner could \(effect) (chown root \(target))"
        }
        if info.st_mode & 0o022 != 0 {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            return "\(target) is writable by group or others (mode \(mode)): anyone who can write it can \(effect) (chmod go-w \(target))"
        }
        return nil
    }
}
