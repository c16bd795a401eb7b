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

    /// Takes the lock without waiting.
    public init(stateDir: String) throws(Failure) {
        do {
            try Posix.makeDirectories(stateDir, mode: 0o750)
        } catch {
            throw .unusable(error)
        }
        let path = stateDir + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .unusable(Posix.failure("open the lock file", path)) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw .held(path) }
            throw .unusable(Posix.failure("lock", path, code))
        }
        self.fd = fd
    }

    deinit { close(fd) }
}
