import Glibc
import ProxySyncCore
import Synchronization

/// The real ``CertificateLocator`` over certbot's `live/` layout (SPEC 5d): `DIR/<name>/fullchain.pem` (one `stat`)
/// with `DIR/<name>/privkey.pem`, else the first `DIR/*/fullchain.pem` (by directory name) whose certificate covers
/// the name, e.g. a wildcard. Certificates looked at for the fallback are parsed again only when their file changes.
public final class DirectoryCertificateLocator: CertificateLocator, Sendable {
    private let parsed = Mutex<[String: (identity: String, certificate: LoadedCertificate?)]>([:])
    private let identities: any FileIdentityReader

    public init(identities: any FileIdentityReader = StatFileIdentityReader()) {
        self.identities = identities
    }

    public func locate(_ names: [String], in directory: String) -> [String: CertificatePair] {
        var found: [String: CertificatePair] = [:]
        var candidates: [(entry: String, certificate: LoadedCertificate)]?
        for name in names {
            if !name.contains("/"), name != ".", name != "..", identities.identity(of: "\(directory)/\(name)/fullchain.pem") != nil {
                found[name] = Self.pair(directory, name)
                continue
            }
            if candidates == nil { candidates = scan(directory) }
            if let match = candidates?.first(where: { $0.certificate.covers(host: name) }) {
                found[name] = Self.pair(directory, match.entry)
            }
        }
        return found
    }

    static func pair(_ directory: String, _ entry: String) -> CertificatePair {
        CertificatePair(certificate: "\(directory)/\(entry)/fullchain.pem", key: "\(directory)/\(entry)/privkey.pem")
    }

    /// Every `DIR/*/fullchain.pem` that holds a certificate, sorted by directory name.
    public func scan(_ directory: String) -> [(entry: String, certificate: LoadedCertificate)] {
        guard let dir = opendir(directory) else { return [] }
        var entries: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if !name.hasPrefix(".") { entries.append(name) }
        }
        closedir(dir)
        var out: [(entry: String, certificate: LoadedCertificate)] = []
        for entry in entries.sorted() {
            let path = "\(directory)/\(entry)/fullchain.pem"
            guard let identity = identities.identity(of: path)?.description else { continue }
            let certificate = parsed.withLock { cache -> LoadedCertificate? in
                if let known = cache[path], known.identity == identity { return known.certificate }
                let loaded = try? LoadedCertificate(path: path)
                cache[path] = (identity, loaded)
                return loaded
            }
            if let certificate { out.append((entry, certificate)) }
        }
        return out
    }
}
