import Glibc
import ProxySyncCore

/// `<state_dir>/lock`, held with flock for the life of a `once` or `run`.
public final class StateLock {
    public enum Failure: Error, CustomStringConvertible {
        case held(String)
        case unusable(StoreError)

        public var description: String {
            switch self {
            case .held(let path):
                "another gocd-proxy-sync holds the lock \(path): wait for it to finish, or stop the service (systemctl stop gocd-proxy-sync)"
            case .unusable(let error): "\(error)"
            }
        }
    }

    private let fd: Int32

    /// Takes the lock without waiting, in a state directory only root can change (created 0750 when missing,
    /// only below such a directory: ``PathSafety/prepareStateDirectory(_:mode:)``). A symbolic link at `lock`
    /// is refused, never followed; so is anything but a regular file there (a FIFO would block the open).
    public init(stateDir: String) throws(Failure) {
        do {
            try PathSafety.prepareStateDirectory(stateDir)
        } catch {
            throw .unusable(error)
        }
        let path = stateDir + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0o600)
        guard fd >= 0 else {
            if errno == ELOOP {
                let text = "refusing to open the lock \(path): it is a symbolic link, which is never followed"
                throw .unusable(StoreError("\(text) (remove it: rm \(path))"))
            }
            throw .unusable(Posix.failure("open the lock file", path))
        }
        var info = stat()
        if fstat(fd, &info) != 0 || (info.st_mode & S_IFMT) != S_IFREG {
            close(fd)
            let kind = Posix.kindName(info.st_mode) ?? "not a regular file"
            throw .unusable(StoreError("refusing to use the lock \(path): it is \(kind), not a regular file (remove it)"))
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw .held(path) }
            throw .unusable(Posix.failure("lock", path, code))
        }
        self.fd = fd
        // The holder's pid, for `status` (written once per lock, never per cycle; the lock is the flock itself).
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
    }

    deinit { close(fd) }

    /// Who holds `<state_dir>/lock` now, without touching the lock (taking it even for a moment could make a
    /// starting daemon exit 8): the pid the holder wrote into it, believed only while that process holds a
    /// flock (`/proc/locks`). nil when nobody does, or when that cannot be seen.
    public static func holder(stateDir: String) -> (pid: Int32, command: [String])? {
        guard let bytes = try? Posix.readRegularFile(stateDir + "/lock", maxBytes: 64, what: "lock file", followLinks: false),
            let pid = Int32(String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }), pid > 0,
            let locks = try? Posix.readRegularFile("/proc/locks", maxBytes: 16 << 20, what: "lock table")
        else { return nil }
        // `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF`; waiters are marked `->` and do not hold it.
        let holds = String(decoding: locks, as: UTF8.self).split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count >= 5 && fields[1] == "FLOCK" && fields[3] == "WRITE" && fields[4] == "\(pid)"
        }
        guard holds else { return nil }
        let argv = (try? Posix.readRegularFile("/proc/\(pid)/cmdline", maxBytes: 64 << 10, what: "command line"))
            .flatMap { $0 }.map { $0.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) } }
        return (pid, argv ?? [])
    }
}
