import Glibc
import ProxySyncCore

/// The real ``FileIdentityReader``: one `stat(2)`, which follows links (certbot's `live/` links to `archive/`), so
/// a renewal shows as the new target's device, inode, size and modification time. Nothing is opened or read.
public struct StatFileIdentityReader: FileIdentityReader {
    public init() {}

    public func identity(of path: String) -> FileIdentity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileIdentity(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }
}
