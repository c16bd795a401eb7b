import Glibc
import ProxySyncCore

/// Why a file that must be a small regular file (the config file) was not read; `reason` reads after the path.
struct FileRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "\(path): \(reason)" }
}

extension Posix {
    /// Reads a regular file of at most `maxBytes`, or nil when nothing is at `path`.
    ///
    /// The open never blocks (a FIFO would wait for a writer forever) and never makes a terminal ours; anything but a
    /// regular file (after symlinks) is refused, and so is a file larger than `maxBytes`, before any byte is read.
    ///
    /// - Parameters:
    ///   - what: what the file should be, for the messages ("config file").
    ///   - followLinks: false for a file in the state directory: a symbolic link at `path` is refused, not followed.
    static func readRegularFile(
        _ path: String, maxBytes: Int, what: String = "config file", followLinks: Bool = true
    ) throws(FileRefusal) -> [UInt8]? {
        func refuse(_ reason: String) -> FileRefusal { FileRefusal(path: path, reason: reason) }
        func unreadable(_ code: Int32) -> FileRefusal {
            switch code {
            case ELOOP: refuse("too many levels of symbolic links (a symlink loop?)")
            case EACCES, EPERM: refuse("cannot read: \(errorText(code)) (run as root or fix the owner and mode)")
            default: refuse("cannot read: \(errorText(code))")
            }
        }
        let limit = maxBytes % (1 << 20) == 0 ? "\(maxBytes >> 20) MiB" : "\(maxBytes) bytes"
        let tooLarge = refuse("is larger than \(limit): not a \(what)")
        let linkRefused = refuse("is a symbolic link, which is never followed here: not a \(what) (remove it)")
        func check(_ info: stat) throws(FileRefusal) {
            if (info.st_mode & S_IFMT) == S_IFLNK { throw linkRefused }
            if let kind = kindName(info.st_mode) { throw refuse("is \(kind), not a \(what)") }
            if info.st_size > maxBytes { throw tooLarge }
        }
        // stat first, so that a device (a tape rewinds on open) or a FIFO is never opened; fstat again in case the
        // path changed in between.
        var info = stat()
        guard (followLinks ? stat(path, &info) : lstat(path, &info)) == 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw unreadable(code)
        }
        try check(info)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (followLinks ? 0 : O_NOFOLLOW))
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            if code == ELOOP && !followLinks { throw linkRefused }
            throw unreadable(code)
        }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else { throw unreadable(errno) }
        try check(info)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw unreadable(errno)
            }
            if count == 0 { break }
            out.append(contentsOf: buffer[0..<count])
            // It may grow while we read.
            if out.count > maxBytes { throw tooLarge }
        }
        return out
    }

    /// "a FIFO", "a directory"…; nil for a regular file.
    static func kindName(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        default: "an unknown kind of file"
        }
    }
}
