import Glibc
import ProxySyncCore

extension PathSafety {
    /// What the certificate directory guards, for the messages.
    static let certificateFiles = "the certificates and keys the proxy serves"

    /// Why `tls_certificate_dir` is not safe to take certificates and keys from, or nil: whoever can add an entry
    /// there (a `DIR/<any>/fullchain.pem` that covers a GoCD name is taken when `DIR/<name>/` is missing) chooses
    /// the key the proxy serves the GoCD site with. Every directory from `/` down to it must be root's and writable
    /// by root only, and a link on the way only root's (certbot's `live/` is root's, 0700). A directory that does
    /// not exist yet is judged by the nearest one that does.
    public static func problem(forCertificateDirectory directory: String) -> String? {
        var existing = directory
        var info = stat()
        while lstat(existing, &info) != 0 {
            guard errno == ENOENT, existing != "/", existing != "." else { return nil }
            existing = Posix.dirname(existing)
        }
        if let problem = linkProblem(onTheWayTo: existing, guarding: certificateFiles) { return problem }
        return directoryProblem(existing, entry: existing + "/entry", guarding: certificateFiles)
    }
}
