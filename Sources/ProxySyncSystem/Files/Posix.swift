import Glibc
import ProxySyncCore

/// Small POSIX helpers with messages a person can act on.
enum Posix {
    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// `what path: reason (hint)`.
    static func failure(_ what: String, _ path: String, _ code: Int32 = errno) -> StoreError {
        var hint = ""
        switch code {
        case EACCES, EPERM: hint = " (run as root or fix the owner and mode)"
        case ENOSPC: hint = " (the disk is full: free some space)"
        case EROFS: hint = " (read-only file system: with systemd, add the directory to ReadWritePaths=)"
        case ENOENT: hint = " (the directory does not exist)"
        default: break
        }
        return StoreError("cannot \(what) \(path): \(errorText(code))\(hint)")
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return nil
    }

    static func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    static func makeDirectories(_ path: String, mode: mode_t) throws(StoreError) {
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST { throw failure("create directory", current) }
        }
    }

    static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// The file a path finally names: symlinks followed (the target may not exist yet).
    static func resolveSymlinks(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            var info = stat()
            guard lstat(current, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(current, &buffer, Int(PATH_MAX))
            guard length > 0 else { return current }
            let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : dirname(current) + "/" + target
        }
        return current
    }
}

/// Writes to file descriptor 2 without buffering (log lines, usage errors).
public enum StandardError {
    public static func write(_ text: String) {
        _ = Posix.writeAll(2, Array(text.utf8))
    }
}

/// CLOCK_MONOTONIC, for timeouts and systemd's MONOTONIC_USEC.
public enum Monotonic {
    public static func microseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    public static func seconds() -> Double { Double(microseconds()) / 1e6 }
}

/// Wall-clock time for records and logs.
public enum WallClock {
    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(epochSeconds: Int64(spec.tv_sec), iso8601: iso8601(Int64(spec.tv_sec)))
    }

    public static func iso8601(_ seconds: Int64, compact: Bool = false) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let date =
            "\(parts.tm_year + 1900)\(compact ? "" : "-")\(two(parts.tm_mon + 1))\(compact ? "" : "-")\(two(parts.tm_mday))"
        let clock = "\(two(parts.tm_hour))\(compact ? "" : ":")\(two(parts.tm_min))\(compact ? "" : ":")\(two(parts.tm_sec))"
        return "\(date)T\(clock)Z"
    }
}
