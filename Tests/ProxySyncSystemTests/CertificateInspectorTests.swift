import Glibc
import ProxySyncSystem
import ProxySyncCore
import Testing

/// A temporary directory of certificates and keys made with the openssl CLI; removed when released.
final class CertificateFixture {
    let directory: String

    init() throws {
        var template = Array("/tmp/gocd-proxy-sync-certs.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CertificateProblem("mkdtemp: \(errno)") }
        directory = String(cString: made)
    }

    deinit { shell("rm -rf '\(directory)'") }

    /// Runs `command` with /bin/sh in the directory (output to openssl.log there); true on exit status 0.
    @discardableResult
    func shell(_ command: String) -> Bool {
        let argv = ["/bin/sh", "-c", "cd '\(directory)' && { \(command); } >>openssl.log 2>&1"]
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/sh", nil, nil, &cArgs, environ) == 0 else { return false }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status == 0
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// A self-signed certificate `name`.pem with its key `name`.key; `key` is "ec", "rsa" or "ed25519".
    @discardableResult
    func certificate(
        _ name: String, subject: String = "/CN=test.example", altNames: String? = nil, key: String = "ec",
        days: Int = 30
    ) throws -> (certificate: String, key: String) {
        let algorithm =
            switch key {
            case "rsa": "-newkey rsa:2048"
            case "ed25519": "-newkey ed25519"
            default: "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
            }
        let extensions = altNames.map { " -addext 'subjectAltName=\($0)'" } ?? ""
        let made = shell(
            "openssl req -x509 \(algorithm) -nodes -keyout \(name).key -out \(name).pem -days \(days)"
                + " -subj '\(subject)'\(extensions)")
        try #require(made, "openssl req failed: see \(path("openssl.log"))")
        return (path("\(name).pem"), path("\(name).key"))
    }

    func load(_ name: String) throws -> LoadedCertificate { try LoadedCertificate(path: path("\(name).pem")) }

    /// The text of the file `name` in the directory; nil when it cannot be read.
    func text(_ name: String) -> String? {
        guard let file = fopen(path(name), "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

func now() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec)
}

struct CertificateInspectorTests {
    @Test func exactDNSNameIsCoveredCaseInsensitively() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("gocd", altNames: "DNS:gocd.example.com")
        let certificate = try fixture.load("gocd")
        #expect(certificate.names == ["gocd.example.com"])
        #expect(certificate.covers(host: "gocd.example.com"))
        #expect(certificate.covers(host: "GoCD.Example.COM"))
        #expect(!certificate.covers(host: "other.example.com"))
        #expect(!certificate.covers(host: "example.com"))
        #expect(!certificate.covers(host: "x.gocd.example.com"))
        #expect(!certificate.covers(host: ""))
        #expect(!certificate.covers(host: "gocd.example.com\0.evil.example"))
    }

    @Test func wildcardMatchesExactlyOneLeftMostLabel() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("wild", altNames: "DNS:*.ci.example.com")
        let certificate = try fixture.load("wild")
        #expect(certificate.names == ["*.ci.example.com"])
        #expect(certificate.covers(host: "a.ci.example.com"))
        #expect(certificate.covers(host: "A.CI.example.com"))
        #expect(!certificate.covers(host: "ci.example.com"))
        #expect(!certificate.covers(host: "a.b.ci.example.com"))
        #expect(!certificate.covers(host: "a.ci.example.org"))
    }

    @Test func partialWildcardNeverMatches() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("partial", altNames: "DNS:f*.example.com")
        let certificate = try fixture.load("partial")
        #expect(certificate.names == ["f*.example.com"])
        #expect(!certificate.covers(host: "foo.example.com"))
        #expect(!certificate.covers(host: "f.example.com"))
    }

    @Test func internationalizedNameMatchesInItsASCIIForm() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("idn", altNames: "DNS:xn--bcher-kva.example")
        let certificate = try fixture.load("idn")
        #expect(certificate.covers(host: "xn--bcher-kva.example"))
        #expect(certificate.covers(host: "XN--BCHER-KVA.example"))
        // The caller must convert a Unicode name to its xn-- form first.
        #expect(!certificate.covers(host: "bücher.example"))
    }

    @Test func addressesMatchOnlyIPAltNames() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate(
            "ip", altNames: "DNS:gocd.example.com,IP:127.0.0.1,IP:::1,IP:2001:db8::1")
        let certificate = try fixture.load("ip")
        #expect(certificate.names == ["gocd.example.com", "127.0.0.1", "::1", "2001:db8::1"])
        #expect(certificate.covers(host: "127.0.0.1"))
        #expect(certificate.covers(host: "::1"))
        #expect(certificate.covers(host: "[::1]"))
        #expect(certificate.covers(host: "2001:DB8:0::1"))
        #expect(certificate.covers(host: "[2001:db8::1]"))
        #expect(!certificate.covers(host: "127.0.0.2"))
        #expect(!certificate.covers(host: "[127.0.0.1]"))
        #expect(!certificate.covers(host: "::2"))
        #expect(!certificate.covers(host: "[gocd.example.com]"))
    }

    @Test func dnsAltNameSpellingAnAddressDoesNotCoverTheAddress() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("fake-ip", subject: "/CN=127.0.0.1", altNames: "DNS:127.0.0.1,DNS:__1")
        let certificate = try fixture.load("fake-ip")
        #expect(certificate.names == ["127.0.0.1", "__1"])
        #expect(!certificate.covers(host: "127.0.0.1"))
        #expect(!certificate.covers(host: "[::1]"))
    }

    @Test func commonNameCountsOnlyWithoutDNSAltNames() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("cn-only", subject: "/O=Example/CN=gocd.example.com")
        let cnOnly = try fixture.load("cn-only")
        #expect(cnOnly.names == ["gocd.example.com"])
        #expect(cnOnly.covers(host: "gocd.example.com"))

        try fixture.certificate("cn-and-san", subject: "/CN=cn.example.com", altNames: "DNS:other.example.com")
        let withAltName = try fixture.load("cn-and-san")
        #expect(withAltName.names == ["other.example.com"])
        #expect(!withAltName.covers(host: "cn.example.com"))
        #expect(withAltName.covers(host: "other.example.com"))

        // Only DNS altNames turn the CN off: with just an IP altName OpenSSL still checks the CN.
        try fixture.certificate("cn-and-ip", subject: "/CN=gocd.example.com", altNames: "IP:127.0.0.1")
        let withAddress = try fixture.load("cn-and-ip")
        #expect(withAddress.names == ["gocd.example.com", "127.0.0.1"])
        #expect(withAddress.covers(host: "gocd.example.com"))
        #expect(withAddress.covers(host: "127.0.0.1"))
    }

    @Test(arguments: ["rsa", "ec", "ed25519"])
    func keyMatchesOnlyItsOwnCertificate(algorithm: String) throws {
        let fixture = try CertificateFixture()
        let (_, ownKey) = try fixture.certificate("mine", altNames: "DNS:gocd.example.com", key: algorithm)
        let (_, otherKey) = try fixture.certificate("other", key: algorithm)
        let certificate = try fixture.load("mine")
        #expect(try certificate.matchesKey(at: ownKey))
        #expect(try !certificate.matchesKey(at: otherKey))
    }

    @Test func keyOfAnotherTypeDoesNotMatch() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("ec", key: "ec")
        let (_, rsaKey) = try fixture.certificate("rsa", key: "rsa")
        #expect(try !fixture.load("ec").matchesKey(at: rsaKey))
    }

    @Test func traditionalFormatKeysLoad() throws {
        let fixture = try CertificateFixture()
        let (_, key) = try fixture.certificate("ec", key: "ec")
        try #require(fixture.shell("openssl ec -in ec.key -out ec-traditional.key"))
        try #require(fixture.shell("grep -q 'BEGIN EC PRIVATE KEY' ec-traditional.key"))
        #expect(try fixture.load("ec").matchesKey(at: fixture.path("ec-traditional.key")))
        #expect(try fixture.load("ec").matchesKey(at: key))
    }

    @Test func encryptedKeyFailsInsteadOfPrompting() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("enc")
        try #require(fixture.shell("openssl pkey -in enc.key -aes256 -passout pass:secret -out locked.key"))
        try #require(fixture.shell("openssl ec -in enc.key -aes256 -passout pass:secret -out locked-traditional.key"))
        try #require(fixture.shell("grep -q 'Proc-Type: 4,ENCRYPTED' locked-traditional.key"))
        let certificate = try fixture.load("enc")
        for name in ["locked.key", "locked-traditional.key"] {
            let keyPath = fixture.path(name)
            let problem = #expect(throws: CertificateProblem.self) { try certificate.matchesKey(at: keyPath) }
            let expected = "\(keyPath) holds an encrypted private key, which cannot be checked without its password"
            #expect(problem?.description == expected)
        }
    }

    @Test func keyProblemsNameTheFile() throws {
        let fixture = try CertificateFixture()
        let (certificatePath, _) = try fixture.certificate("gocd")
        let certificate = try fixture.load("gocd")
        let missing = fixture.path("missing.key")
        let notFound = #expect(throws: CertificateProblem.self) { try certificate.matchesKey(at: missing) }
        #expect(notFound?.description == "cannot read private key \(missing): No such file or directory")
        let notAKey = #expect(throws: CertificateProblem.self) { try certificate.matchesKey(at: certificatePath) }
        #expect(notAKey?.description.hasPrefix("\(certificatePath) holds no PEM private key") == true)
    }

    @Test func notAfterIsReadInUTC() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("day", days: 1)
        let certificate = try fixture.load("day")
        let expected = now() + 86400
        #expect((expected - 3600...expected + 3600).contains(certificate.notAfterEpochSeconds))
        // The same instant as openssl prints it ("notAfter=2026-12-01 10:00:00Z").
        let printed = "notAfter=" + certificate.notAfterISO8601.replacingT()
        #expect(fixture.shell("test \"$(openssl x509 -in day.pem -noout -enddate -dateopt iso_8601)\" = '\(printed)'"))
        #expect(certificate.notAfterISO8601.count == "2026-12-01T10:00:00Z".count)
        #expect(certificate.notAfterISO8601.hasSuffix("Z"))
    }

    @Test func expiredCertificateLoads() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("fresh", altNames: "DNS:gocd.example.com")
        // Re-signed with notAfter a day before now (openssl 3.0 has no -not_after).
        try #require(fixture.shell("openssl x509 -in fresh.pem -key fresh.key -days -1 -out expired.pem"))
        let expired = try fixture.load("expired")
        #expect(expired.notAfterEpochSeconds < now())
        #expect(expired.notAfterEpochSeconds > now() - 2 * 86400)
        #expect(expired.covers(host: "gocd.example.com"))
        #expect(try expired.matchesKey(at: fixture.path("fresh.key")))
    }

    @Test func firstCertificateOfAChainThroughASymlink() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("leaf", altNames: "DNS:gocd.example.com")
        try fixture.certificate("ca", subject: "/CN=Example CA")
        try #require(fixture.shell("mkdir archive live && cat leaf.key leaf.pem ca.pem > archive/fullchain1.pem"))
        try #require(fixture.shell("ln -s ../archive/fullchain1.pem live/fullchain.pem"))
        let certificate = try LoadedCertificate(path: fixture.path("live/fullchain.pem"))
        #expect(certificate.names == ["gocd.example.com"])
        #expect(try certificate.matchesKey(at: fixture.path("live/fullchain.pem")))
    }

    @Test func fingerprintIsTheSHA256OfTheFirstCertificatesDER() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("leaf", altNames: "DNS:gocd.example.com")
        try fixture.certificate("ca", subject: "/CN=Example CA")
        try #require(fixture.shell("cat leaf.pem ca.pem > fullchain.pem"))
        try #require(
            fixture.shell("openssl x509 -in leaf.pem -outform der | openssl dgst -sha256 -r | cut -c1-64 > leaf.sha256"))
        let expected = try #require(fixture.text("leaf.sha256"))
        let loaded = try LoadedCertificate(path: fixture.path("fullchain.pem"))
        #expect(loaded.fingerprint.hex == String(expected.prefix(64)).uppercased())
        #expect(loaded.fingerprint != (try fixture.load("ca")).fingerprint)
        let pem = try #require(fixture.text("fullchain.pem"))
        #expect(CertificateFingerprint.ofFirstCertificate(pem: pem) == loaded.fingerprint, "the leaf of a chain")
        #expect(CertificateFingerprint.ofFirstCertificate(pem: "not a certificate") == nil)
    }

    @Test func missingFileNamesThePath() throws {
        let fixture = try CertificateFixture()
        let path = fixture.path("missing.pem")
        let problem = #expect(throws: CertificateProblem.self) { try LoadedCertificate(path: path) }
        #expect(problem?.description == "cannot read certificate \(path): No such file or directory")
    }

    @Test func fileWithoutACertificateNamesThePath() throws {
        let fixture = try CertificateFixture()
        try fixture.certificate("gocd")
        try #require(fixture.shell("echo 'not a certificate' > text.pem"))
        try #require(fixture.shell("openssl x509 -in gocd.pem -outform der -out gocd.der"))
        let hints = [("text.pem", "-----BEGIN CERTIFICATE-----"), ("gocd.der", "looks like DER"), ("gocd.key", "BEGIN")]
        for (name, hint) in hints {
            let path = fixture.path(name)
            let problem = #expect(throws: CertificateProblem.self) { try LoadedCertificate(path: path) }
            #expect(problem?.description.hasPrefix("\(path) holds no PEM certificate") == true)
            #expect(problem?.description.contains(hint) == true)
        }
    }

    @Test func emptyAndOversizedFilesAreRefused() throws {
        let fixture = try CertificateFixture()
        try #require(fixture.shell(": > empty.pem && head -c 1048577 /dev/zero > big.pem"))
        let empty = #expect(throws: CertificateProblem.self) { try LoadedCertificate(path: fixture.path("empty.pem")) }
        #expect(empty?.description == "certificate \(fixture.path("empty.pem")) is empty")
        let big = #expect(throws: CertificateProblem.self) { try LoadedCertificate(path: fixture.path("big.pem")) }
        #expect(big?.description.contains("larger than 1 MiB") == true)
    }

    @Test func fifoAndDirectoryFailFast() throws {
        let fixture = try CertificateFixture()
        try #require(fixture.shell("mkfifo fifo.pem && mkdir dir.pem && ln -s fifo.pem link.pem"))
        let started = now()
        for (name, kind) in [("fifo.pem", "a FIFO"), ("link.pem", "a FIFO"), ("dir.pem", "a directory")] {
            let path = fixture.path(name)
            let problem = #expect(throws: CertificateProblem.self) { try LoadedCertificate(path: path) }
            #expect(problem?.description == "certificate \(path) is not a regular file: it is \(kind)")
        }
        let certificate = try LoadedCertificate(path: fixture.certificate("gocd").certificate)
        #expect(throws: CertificateProblem.self) { try certificate.matchesKey(at: fixture.path("fifo.pem")) }
        #expect(now() - started < 5)
    }
}

extension String {
    /// "2026-12-01T10:00:00Z" as openssl's iso_8601 prints it: "2026-12-01 10:00:00Z".
    fileprivate func replacingT() -> String { String(map { $0 == "T" ? " " : $0 }) }
}
