import Glibc
import ProxySyncCore

/// Where the managed file lives must be changeable by root only (README: Security model), as OpenSSH's StrictModes asks
/// of a key's directories: otherwise a local user could swap the file, or a directory on the way, for a link
/// that makes the root daemon write, read or delete something else.
public enum PathSafety {
    /// The most of the managed file this program reads.
    public static let maxOutputBytes = 4 << 20

    /// Why `output` is not safe to manage, or nil. Checks every directory from `/` to the output's directory
    /// and, for a symlinked output, that root owns the link and every directory to its target.
    public static func problem(forOutput output: String) -> String? {
        if let problem = directoryProblem(Posix.dirname(output), entry: output) { return problem }
        var info = stat()
        guard lstat(output, &info) == 0 else { return nil }  // no file yet: the directory check is what matters
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return nil
        case S_IFLNK:
            guard info.st_uid == 0 else {
                return "\(output) is a symbolic link owned by uid \(info.st_uid), not root: only a root-owned link is followed"
            }
            let target = Posix.resolveSymlinks(output)
            if let problem = directoryProblem(Posix.dirname(target), entry: target) { return problem }
            var targetInfo = stat()
            if lstat(target, &targetInfo) == 0, (targetInfo.st_mode & S_IFMT) != S_IFREG {
                return "\(output) points at \(target), which is \(kind(targetInfo.st_mode)), not a regular file"
            }
            return nil
        default:
            return "\(output) is \(kind(info.st_mode)), not a regular file"
        }
    }

    /// What the state directory guards, for the messages.
    static let stateFiles = "the lock, state.json and the backups"

    /// Why `directory` (`[sync] state_dir`, or `<state_dir>/backups`) is not safe for the lock, `state.json` and
    /// the backups, or nil. The output's rules hold for every directory from `/` down to it (README: Security model),
    /// and the directory itself must be writable by root only, sticky or not: several files live in it, and one
    /// that another user could create or swap there (a link at `lock` or `state.json`) would make root create or
    /// replace a file anywhere. A link on the way counts only when root owns it and the directory it sits in. A
    /// directory that does not exist yet is judged by the nearest one that does: root creates the rest.
    public static func problem(forStateDirectory directory: String) -> String? {
        var existing = directory
        var firstMissing: String?
        var info = stat()
        while lstat(existing, &info) != 0 {
            guard errno == ENOENT, existing != "/", existing != "." else { return nil }  // writing will say why
            firstMissing = existing
            existing = Posix.dirname(existing)
        }
        if let problem = linkProblem(onTheWayTo: existing) { return problem }
        if let firstMissing {
            return directoryProblem(existing, entry: firstMissing, guarding: stateFiles)
        }
        if let problem = directoryProblem(existing, entry: existing + "/lock", guarding: stateFiles) { return problem }
        guard stat(existing, &info) == 0 else { return nil }  // a dangling link: opening the lock will say so
        if (info.st_mode & S_IFMT) != S_IFDIR {
            return "\(existing) is \(kind(info.st_mode)), not a directory"
        }
        if info.st_mode & 0o022 != 0 {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            return
                "\(existing) is writable by group or others (mode \(mode)): only root may be able to create or replace \(stateFiles) (chmod go-w \(existing))"
        }
        return nil
    }

    /// Creates `directory` (`mode`, owned by root) when it is missing, only when ``problem(forStateDirectory:)``
    /// allows it, and checks it again once it exists (someone else may have made it first in a sticky directory).
    public static func prepareStateDirectory(_ directory: String, mode: mode_t = 0o750) throws(StoreError) {
        func refuse(_ problem: String) -> StoreError {
            let advice = "or set [sync] state_dir to a directory only root can change"
            return StoreError("refusing to use the state directory \(directory): \(problem); \(advice)")
        }
        if let problem = problem(forStateDirectory: directory) { throw refuse(problem) }
        try Posix.makeDirectories(directory, mode: mode)
        if let problem = problem(forStateDirectory: directory) { throw refuse(problem) }
    }

    /// A symbolic link among the components of `path` (as written) that someone other than root could change:
    /// one not owned by root, or in a directory that is not root's only. (``directoryProblem(_:entry:guarding:)``
    /// judges the directories a path resolves to, not the links that lead there.)
    static func linkProblem(onTheWayTo path: String, guarding: String = stateFiles) -> String? {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") where part != "." {
            current += "/" + part
            var info = stat()
            guard lstat(current, &info) == 0 else { return nil }
            guard (info.st_mode & S_IFMT) == S_IFLNK else { continue }
            if info.st_uid != 0 {
                return "\(current) is a symbolic link owned by uid \(info.st_uid), not root: only a root-owned link is followed"
            }
            if let problem = directoryProblem(Posix.dirname(current), entry: current, guarding: guarding) {
                return problem
            }
        }
        return nil
    }

    /// Every directory from `/` down to `directory` (after resolving links) must be owned by root and not
    /// writable by group or others — except a root-owned sticky directory (such as /tmp) whose next entry
    /// on the way is owned by root, which the kernel's protected_* rules make safe.
    ///
    /// - Parameters:
    ///   - entry: the file below `directory` (when it does not exist yet, root will create it).
    ///   - guarding: what the directories hold, for the messages.
    static func directoryProblem(_ directory: String, entry: String, guarding: String = "the managed file") -> String? {
        var real = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(directory, &real) != nil else { return nil }  // missing: writing will say so
        let path = String(cString: real)
        var prefixes = ["/"]
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            prefixes.append(current)
        }
        prefixes.append(path + "/" + Posix.basename(entry))
        for (index, prefix) in prefixes.dropLast().enumerated() {
            var info = stat()
            guard lstat(prefix, &info) == 0 else { return nil }
            if info.st_uid != 0 {
                return "\(prefix) is owned by uid \(info.st_uid), not root: anyone who owns it can swap \(guarding) (chown root \(prefix))"
            }
            if info.st_mode & 0o022 != 0 {
                let sticky = info.st_mode & S_ISVTX != 0
                var next = stat()
                let nextMissing = lstat(prefixes[index + 1], &next) != 0 && errno == ENOENT
                let nextOwnedByRoot = nextMissing || next.st_uid == 0
                if !(sticky && nextOwnedByRoot) {
                    let mode = String(info.st_mode & 0o7777, radix: 8)
                    return "\(prefix) is writable by group or others (mode \(mode)): only root may be able to change the directories above \(guarding) (chmod go-w \(prefix))"
                }
            }
        }
        return nil
    }

    static func kind(_ mode: mode_t) -> String {
        (mode & S_IFMT) == S_IFLNK ? "a symbolic link" : Posix.kindName(mode) ?? "a regular file"
    }

    /// Reads the managed file: only a regular file (never a FIFO or device, which could hang or never end),
    /// at most ``maxOutputBytes``. nil when there is none.
    public static func readOutput(_ output: String) throws(StoreError) -> [UInt8]? {
        if let problem = problem(forOutput: output) { throw StoreError("refusing to manage \(output): \(problem)") }
        do {
            return try Posix.readRegularFile(
                Posix.resolveSymlinks(output), maxBytes: maxOutputBytes, what: "regular file")
        } catch {
            throw StoreError("refusing to read \(error)")
        }
    }
}
