import CPosixShims
import Glibc
import ProxySyncCore

/// The only routine that writes a file the proxy reads: temp in the same directory, fsync, rename, fsync dir.
public enum AtomicFile {
    /// Temporary files start with this and end with ``tempSuffix``: hidden, and never matching `*.conf`.
    public static let tempPrefix = ".gocd-proxy-sync."
    public static let tempSuffix = ".tmp"

    /// Atomically replaces `path` with `bytes`, keeping the mode, owner and SELinux label of the file
    /// it replaces (`newFileMode`, root, for a new file). A symlink at `path` is kept: its target is replaced —
    /// unless `followLinks` is false (the files of the state directory): then the link itself is replaced by
    /// the new file, and nothing is read or written through it.
    ///
    /// `label` names its fault points in debug builds (``FaultPoint/write(_:_:)``, one per ``FaultPoint/WriteStep``).
    ///
    /// - Throws: ``StoreError``; the temporary file is removed on every failure path.
    @discardableResult
    public static func write(
        _ bytes: [UInt8], to path: String, label: FaultPoint.WrittenFile = .output, followLinks: Bool = true,
        newFileMode: mode_t = 0o644
    ) throws(StoreError) -> FileIdentity? {
        let target = followLinks ? Posix.resolveSymlinks(path) : path
        let directory = Posix.dirname(target)
        // A name taken by something this program cannot remove (a directory, say) is skipped, not fatal.
        var temp = ""
        var fd: Int32 = -1
        for attempt in 0..<8 {
            let suffix = attempt == 0 ? "" : ".\(attempt)"
            temp = "\(directory)/\(tempPrefix)\(Posix.basename(target)).\(getpid())\(suffix)\(tempSuffix)"
            unlink(temp)
            fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd >= 0 || (errno != EEXIST && errno != EISDIR) { break }
        }
        guard fd >= 0 else { throw Posix.failure("create a temporary file in", directory) }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            if let code = Posix.writeAll(fd, bytes) { throw Posix.failure("write", temp, code) }
            Failpoint.hit(.write(label, .afterTempWrite))
            var existing = stat()
            let replacesFile =
                followLinks
                ? stat(target, &existing) == 0
                : lstat(target, &existing) == 0 && (existing.st_mode & S_IFMT) == S_IFREG
            if replacesFile {
                fchmod(fd, existing.st_mode & 0o7777)
                if fchown(fd, existing.st_uid, existing.st_gid) != 0 && geteuid() == 0 {
                    throw Posix.failure("set the owner of", temp)
                }
                copySELinuxLabel(from: target, to: fd)
            } else {
                fchmod(fd, newFileMode)
            }
            if fsync(fd) != 0 { throw Posix.failure("flush", temp) }
            Failpoint.hit(.write(label, .afterFsync))
        }
        var written = stat()
        let hasIdentity = lstat(temp, &written) == 0
        if rename(temp, target) != 0 { throw Posix.failure("replace", target) }
        ok = true
        Failpoint.hit(.write(label, .afterRename))
        Posix.fsyncDirectory(directory)
        Failpoint.hit(.write(label, .afterDirFsync))
        return hasIdentity ? FileIdentity(written) : nil
    }

    /// Atomically replaces `path` with `bytes` for a file this program publishes for others to read (the
    /// metrics textfile, the live record): a temporary name in the same directory, then rename, so a reader
    /// never sees half a file. Unlike ``write(_:to:label:)`` it follows no link at all: the directory is
    /// reached from `/` one component at a time with `O_NOFOLLOW`, and the file is created and renamed relative
    /// to that directory, so a link planted at the file's name is replaced, and a directory on the way swapped
    /// for a link (such a file may sit under directories another service owns) is refused instead of followed.
    /// It copies no owner, mode or label (always 0644) and skips the fsyncs: rewritten every cycle, it only has
    /// to be whole when read, not to survive a power cut.
    ///
    /// - Throws: ``StoreError``; the temporary file is removed on every failure path.
    public static func publish(_ bytes: [UInt8], at path: String, label: FaultPoint.WrittenFile) throws(StoreError) {
        let directory = Posix.dirname(path)
        let name = Posix.basename(path)
        try PublishDirectories.shared.with(directory) { dirfd throws(StoreError) in
            let temp = "\(tempPrefix)\(name).\(getpid())\(tempSuffix)"
            var fd = openat(dirfd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
            if fd < 0 && errno == EEXIST {
                // Left by a process of the same pid that died mid-write (a PID reused after a crash).
                unlinkat(dirfd, temp, 0)
                fd = openat(dirfd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
            }
            guard fd >= 0 else { throw Posix.failure("create a temporary file in", directory) }
            var ok = false
            defer {
                if !ok { unlinkat(dirfd, temp, 0) }
            }
            do {
                defer { close(fd) }
                // The umask must not narrow what readers (node_exporter, `status` as a user) may read.
                fchmod(fd, 0o644)
                if let code = Posix.writeAll(fd, bytes) { throw Posix.failure("write", "\(directory)/\(temp)", code) }
                Failpoint.hit(.write(label, .afterTempWrite))
            }
            if renameat(dirfd, temp, dirfd, name) != 0 { throw Posix.failure("replace", path) }
            ok = true
            Failpoint.hit(.write(label, .afterRename))
        }
    }

    /// The directories ``publish(_:at:label:)`` writes into, kept open between cycles: walking the path with
    /// `O_NOFOLLOW` is one `openat` and one `close` per component, after every cycle. A kept directory is used
    /// only while its path still names it (one `stat`, which may follow links: it only has to find the same
    /// directory that was reached without links); otherwise the path is walked again, so a directory moved,
    /// removed or swapped for a link is never written into through a stale descriptor.
    final class PublishDirectories: Sendable {
        static let shared = PublishDirectories()
        private struct Kept {
            var fd: Int32
            var device: UInt64
            var inode: UInt64
        }
        private let kept = Locked<[String: Kept]>([:])

        /// Runs `body` with `directory` open, under the lock, so that no other thread closes it meanwhile.
        func with(_ directory: String, _ body: (Int32) throws(StoreError) -> Void) throws(StoreError) {
            let result = kept.withLock { kept -> Result<Void, StoreError> in
                do throws(StoreError) {
                    try body(try Self.open(directory, &kept))
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            try result.get()
        }

        private static func open(_ directory: String, _ kept: inout [String: Kept]) throws(StoreError) -> Int32 {
            var now = stat()
            if stat(directory, &now) == 0, let entry = kept[directory],
                entry.device == UInt64(now.st_dev) && entry.inode == UInt64(now.st_ino)
            {
                return entry.fd
            }
            if let old = kept.removeValue(forKey: directory) { close(old.fd) }
            let fd = try openDirectoryWithoutLinks(directory)
            var info = stat()
            fstat(fd, &info)
            // A handful at most (the textfile and the live record, and a path changed by SIGHUP).
            if kept.count >= 4 {
                for entry in kept.values { close(entry.fd) }
                kept.removeAll()
            }
            kept[directory] = Kept(fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            return fd
        }
    }

    /// `directory`, opened one component at a time from `/` (or the working directory) without following a
    /// symbolic link anywhere on the way.
    static func openDirectoryWithoutLinks(_ directory: String) throws(StoreError) -> Int32 {
        var fd = open(directory.hasPrefix("/") ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Posix.failure("open", directory) }
        var reached = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") where component != "." {
            reached += "/" + component
            let next = openat(fd, String(component), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let code = errno
            close(fd)
            guard next >= 0 else {
                if code == ELOOP || code == ENOTDIR {
                    throw StoreError(
                        "refusing to write under \(directory): \(reached) is a symbolic link or not a directory (this file is written only through real directories; use the path without links)")
                }
                throw Posix.failure("open", reached, code)
            }
            fd = next
        }
        return fd
    }

    /// Removes `path` (the symlink's target when it is a link), then fsyncs the directory.
    public static func remove(_ path: String, expecting identity: FileIdentity? = nil) throws(StoreError) {
        let target = Posix.resolveSymlinks(path)
        if let identity {
            var info = stat()
            if lstat(target, &info) == 0, FileIdentity(info) != identity {
                throw StoreError(
                    "refusing to remove \(target): it is no longer the file this program wrote (replaced since): check the directory")
            }
        }
        if unlink(target) != 0 && errno != ENOENT { throw Posix.failure("remove", target) }
        Posix.fsyncDirectory(Posix.dirname(target))
    }

    /// Device and inode: which file a path named when this program wrote it.
    public struct FileIdentity: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// Deletes temporary files a crashed run left next to `path`. Returns their names.
    @discardableResult
    public static func removeStaleTemporaries(near path: String) -> [String] {
        removeStaleTemporaries(in: Posix.dirname(Posix.resolveSymlinks(path)))
    }

    /// Deletes temporary files a crashed run left in `directory` (the state directory, its backups: no link
    /// at a file's name is followed to find them). Returns their names.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var removed: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasPrefix(tempPrefix) && name.hasSuffix(tempSuffix) {
                if unlink("\(directory)/\(name)") == 0 { removed.append(name) }
            }
        }
        return removed
    }

    static func copySELinuxLabel(from path: String, to fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let length = getxattr(path, "security.selinux", &buffer, buffer.count)
        if length > 0 {
            _ = fsetxattr(fd, "security.selinux", buffer, length, 0)
        }
    }
}
