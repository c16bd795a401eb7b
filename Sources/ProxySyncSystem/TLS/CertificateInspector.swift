import COpenSSL
import Glibc
import ProxySyncCore

/// Why a certificate or key file could not be inspected, in words a person can act on; it names the file.
public struct CertificateProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// One PEM certificate (the first in the file) loaded for inspection.
///
/// A pre-flight check for messages ("the certificate does not cover gocd.example.com"), not a trust decision:
/// nothing here builds a chain or compares dates with the clock.
///
/// - Note: `@unchecked Sendable`: the `X509` is never changed after `init`, and OpenSSL 3's checks on a shared
///   certificate are thread-safe.
public final class LoadedCertificate: @unchecked Sendable {
    public let path: String
    /// The names the certificate covers, for messages: DNS subjectAltNames ("gocd.example.com", "*.ci.example.com"),
    /// IP subjectAltNames ("127.0.0.1", "2001:db8::1"), or the subject CN only when there is no DNS subjectAltName.
    public let names: [String]
    /// notAfter as seconds since the epoch (UTC).
    public let notAfterEpochSeconds: Int64
    /// The SHA-256 of the certificate's DER: what a TLS listener serving this file presents as its leaf.
    public let fingerprint: CertificateFingerprint
    /// `X509 *`, freed in `deinit`.
    private let certificate: OpaquePointer

    /// notAfter as ISO 8601, e.g. "2026-12-01T10:00:00Z".
    public var notAfterISO8601: String { WallClock.iso8601(notAfterEpochSeconds) }

    /// - Throws: ``CertificateProblem`` (file unreadable, not a PEM certificate) with a message a person can act on.
    public init(path: String) throws(CertificateProblem) {
        self.path = path
        let bytes = try PEMFile.read(path, what: "certificate")
        defer { ERR_clear_error() }
        let loaded = bytes.withUnsafeBytes { gps_read_certificate($0.baseAddress, Int32($0.count)) }
        guard let certificate = loaded else {
            let hint =
                bytes.first == 0x30
                ? ": it looks like DER; convert it with openssl x509 -inform der -in \(path) -out \(path).pem"
                : " (a file with -----BEGIN CERTIFICATE-----)"
            throw CertificateProblem("\(path) holds no PEM certificate\(hint)\(OpenSSLError.reason())")
        }
        var expiry = tm()
        guard ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &expiry) == 1 else {
            X509_free(certificate)
            throw CertificateProblem("\(path): the certificate's notAfter date cannot be read\(OpenSSLError.reason())")
        }
        guard let fingerprint = CertificateFingerprint.of(certificate) else {
            X509_free(certificate)
            throw CertificateProblem("\(path): the certificate's SHA-256 cannot be computed\(OpenSSLError.reason())")
        }
        self.certificate = certificate
        self.notAfterEpochSeconds = Int64(timegm(&expiry))
        self.fingerprint = fingerprint
        self.names = Self.names(of: certificate)
    }

    deinit { X509_free(certificate) }

    /// True when the certificate covers `host`: an IPv4/IPv6 literal (IPv6 may come with or without [brackets]) is
    /// matched only against IP subjectAltNames (X509_check_ip_asc); a DNS name against DNS subjectAltNames where `*.`
    /// matches exactly one left-most label and never a partial label (X509_check_host with
    /// X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS), and the subject CN only when the certificate has no DNS subjectAltName
    /// (OpenSSL's default behaviour). Case-insensitive.
    public func covers(host: String) -> Bool {
        defer { ERR_clear_error() }
        if host.isEmpty || host.utf8.contains(0) { return false }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            let literal = String(host.dropFirst().dropLast())
            return Self.isAddress(literal, family: AF_INET6) && X509_check_ip_asc(certificate, literal, 0) == 1
        }
        if Self.isAddress(host, family: AF_INET) || Self.isAddress(host, family: AF_INET6) {
            return X509_check_ip_asc(certificate, host, 0) == 1
        }
        return X509_check_host(certificate, host, 0, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS), nil) == 1
    }

    /// True when the private key at `keyPath` (PEM, unencrypted; RSA, EC or Ed25519) belongs to this certificate
    /// (X509_check_private_key).
    /// - Throws: ``CertificateProblem`` when the key file cannot be read or parsed.
    public func matchesKey(at keyPath: String) throws(CertificateProblem) -> Bool {
        let bytes = try PEMFile.read(keyPath, what: "private key")
        defer { ERR_clear_error() }
        let loaded = bytes.withUnsafeBytes { gps_read_private_key($0.baseAddress, Int32($0.count)) }
        guard let key = loaded else {
            if String(decoding: bytes, as: UTF8.self).contains("ENCRYPTED") {
                throw CertificateProblem(
                    "\(keyPath) holds an encrypted private key, which cannot be checked without its password")
            }
            throw CertificateProblem(
                "\(keyPath) holds no PEM private key (a file with -----BEGIN PRIVATE KEY-----)\(OpenSSLError.reason())")
        }
        defer { EVP_PKEY_free(key) }
        return X509_check_private_key(certificate, key) == 1
    }

    private static func names(of certificate: OpaquePointer) -> [String] {
        var dnsNames: [String] = []
        var addresses: [String] = []
        if let alternatives = gps_subject_alt_names(certificate) {
            defer { GENERAL_NAMES_free(alternatives) }
            for index in 0..<gps_general_names_count(alternatives) {
                let name = gps_general_names_value(alternatives, index)
                if let dns = gps_general_name_string(name, GEN_DNS) {
                    dnsNames.append(String(decoding: bytes(of: dns), as: UTF8.self))
                } else if let ip = gps_general_name_string(name, GEN_IPADD), let text = addressText(bytes(of: ip)) {
                    addresses.append(text)
                }
            }
        }
        return (dnsNames.isEmpty ? commonNames(of: certificate) : dnsNames) + addresses
    }

    /// Every subject CN, as OpenSSL checks them all when there is no DNS subjectAltName.
    private static func commonNames(of certificate: OpaquePointer) -> [String] {
        guard let subject = X509_get_subject_name(certificate) else { return [] }
        var names: [String] = []
        var position: Int32 = -1
        while true {
            position = X509_NAME_get_index_by_NID(subject, NID_commonName, position)
            guard position >= 0 else { break }
            var utf8: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, position)))
            guard length >= 0, let utf8 else { continue }
            defer { gps_openssl_free(utf8) }
            names.append(String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self))
        }
        return names
    }

    private static func bytes(of string: UnsafePointer<ASN1_STRING>) -> [UInt8] {
        guard let data = ASN1_STRING_get0_data(string) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
    }

    /// "127.0.0.1" or "2001:db8::1" for a 4- or 16-byte iPAddress.
    private static func addressText(_ address: [UInt8]) -> String? {
        let family: Int32
        switch address.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, address, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func isAddress(_ text: String, family: Int32) -> Bool {
        var address = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, text, &address) == 1
    }
}

/// The most recent OpenSSL reason, for the end of a message: " (OpenSSL: no start line)".
enum OpenSSLError {
    static func reason() -> String {
        let code = ERR_peek_last_error()
        guard code != 0, let text = ERR_reason_error_string(code) else { return "" }
        return " (OpenSSL: \(String(cString: text)))"
    }
}

/// Reads a small PEM file: symlinks are followed (Let's Encrypt's live/ directory links into archive/), but only a
/// regular file of at most 1 MiB is read, so a FIFO, a device or a huge file cannot hang or flood the check.
enum PEMFile {
    static let maximumBytes = 1 << 20

    static func read(_ path: String, what: String) throws(CertificateProblem) -> [UInt8] {
        func unreadable() -> CertificateProblem {
            let code = errno
            let hint = code == EACCES || code == EPERM ? " (run as root or fix the owner and mode)" : ""
            return CertificateProblem("cannot read \(what) \(path): \(Posix.errorText(code))\(hint)")
        }
        func check(_ info: stat) throws(CertificateProblem) {
            let kind: String? =
                switch info.st_mode & S_IFMT {
                case S_IFREG: nil
                case S_IFDIR: "a directory"
                case S_IFIFO: "a FIFO"
                case S_IFSOCK: "a socket"
                case S_IFCHR, S_IFBLK: "a device"
                default: "not a file"
                }
            if let kind { throw CertificateProblem("\(what) \(path) is not a regular file: it is \(kind)") }
            if info.st_size > maximumBytes {
                throw CertificateProblem("\(what) \(path) is larger than 1 MiB, too large for a PEM \(what)")
            }
        }
        // stat first so that a FIFO or device is never opened; fstat again in case the path changed in between.
        var info = stat()
        guard stat(path, &info) == 0 else { throw unreadable() }
        try check(info)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw unreadable() }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else { throw unreadable() }
        try check(info)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count <= maximumBytes {
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw unreadable()
            }
            if count == 0 { break }
            out.append(contentsOf: buffer[0..<count])
        }
        if out.count > maximumBytes {
            throw CertificateProblem("\(what) \(path) is larger than 1 MiB, too large for a PEM \(what)")
        }
        if out.isEmpty { throw CertificateProblem("\(what) \(path) is empty") }
        return out
    }
}
