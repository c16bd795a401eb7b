import Glibc
import ProxySyncCore

/// Writes node_exporter's textfile-collector file atomically, so a scrape never reads half a file.
///
/// The bytes go to `<dir>/.<name>.<pid>.tmp` (node_exporter reads only `*.prom`, so it never sees the temporary
/// file), are fsynced, made 0644 and renamed over the target; the directory is fsynced after the rename.
public enum TextfileWriter {
    /// The temporary file beside `path` that ``write(_:to:)`` uses.
    public static func temporaryPath(for path: String) -> String {
        "\(Posix.dirname(path))/.\(Posix.basename(path)).\(getpid()).tmp"
    }

    /// Atomically replaces `path` with `bytes`, mode 0644.
    ///
    /// - Throws: ``StoreError`` naming the path and what to do; the temporary file is removed on every failure path.
    public static func write(_ bytes: [UInt8], to path: String) throws(StoreError) {
        let directory = Posix.dirname(path)
        let temp = temporaryPath(for: path)
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Posix.failure("create a temporary file in", directory) }
        var renamed = false
        defer {
            if !renamed { unlink(temp) }
        }
        do {
            defer { close(fd) }
            if let code = Posix.writeAll(fd, bytes) { throw Posix.failure("write", temp, code) }
            if fchmod(fd, 0o644) != 0 { throw Posix.failure("set the mode of", temp) }
            if fsync(fd) != 0 { throw Posix.failure("flush", temp) }
        }
        if rename(temp, path) != 0 { throw Posix.failure("replace", path) }
        renamed = true
        Posix.fsyncDirectory(directory)
    }
}
