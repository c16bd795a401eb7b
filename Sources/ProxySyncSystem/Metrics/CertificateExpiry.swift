import Glibc

/// The configured certificate's notAfter, read with ``LoadedCertificate`` at most once an hour, or sooner when the
/// file's modification time (or the configured path) changes. Stat-ing the file each cycle is all it costs otherwise.
struct CertificateExpiry {
    /// How long a reading is trusted while the file's mtime stays the same.
    static let rereadSeconds = 3600.0

    private var path: String?
    private var modified: timespec?
    private var readAt: Double = 0
    private var notAfter: Int64?

    /// notAfter (epoch seconds) of the certificate at `path`, or nil when there is none or it cannot be read
    /// (the pre-flight checks and `check` report why). `monotonicNow` is in seconds.
    mutating func notAfter(path newPath: String?, monotonicNow: Double) -> Int64? {
        guard let newPath else {
            self = CertificateExpiry()
            return nil
        }
        var info = stat()
        let mtime: timespec? = stat(newPath, &info) == 0 ? info.st_mtim : nil
        let sameFile =
            newPath == path && mtime?.tv_sec == modified?.tv_sec && mtime?.tv_nsec == modified?.tv_nsec
        if sameFile, monotonicNow - readAt < Self.rereadSeconds { return notAfter }
        path = newPath
        modified = mtime
        readAt = monotonicNow
        notAfter = mtime == nil ? nil : (try? LoadedCertificate(path: newPath))?.notAfterEpochSeconds
        return notAfter
    }
}
