import Logging
import ProxySyncTestSupport
import Testing

@testable import ProxySyncCore

/// A locator over a directory that exists only in the test: name → the entry that serves it.
final class FakeCertificateLocator: CertificateLocator, @unchecked Sendable {
    var entries: [String: String]
    init(_ entries: [String: String]) { self.entries = entries }
    func locate(_ names: [String], in directory: String) -> [String: CertificatePair] {
        var out: [String: CertificatePair] = [:]
        for name in names {
            if let entry = entries[name] {
                out[name] = CertificatePair(
                    certificate: "\(directory)/\(entry)/fullchain.pem", key: "\(directory)/\(entry)/privkey.pem")
            }
        }
        return out
    }
}

/// `[proxy] tls_certificate_dir` (SPEC 5d): one pair per HTTPS name, found every cycle.
struct CertificateDirectoryTests {
    let now = Timestamp(epochSeconds: 1_800_000_000, iso8601: "2027-01-15T08:00:00Z")
    let urls = SiteURLs(siteURL: "https://a.example.com:8443", secureSiteURL: "https://gocd.b.example.com")
    static let live = "/etc/letsencrypt/live"

    static func settings(_ lines: String) throws(ConfigError) -> Settings { try Fixtures.settings(lines) }

    @Test func decodes() throws {
        #expect(try Self.settings("tls_certificate_dir = \"\(Self.live)\"").proxy.tlsCertificateDir == Self.live)
        #expect(try Self.settings("tls_certificate_dir = \"\(Self.live)\"").proxy.hasCertificate)
    }

    @Test func withTheSingleCertificateIsAConfigError() {
        #expect {
            try Self.settings(
                """
                tls_certificate = "/etc/ssl/gocd/fullchain.pem"
                tls_certificate_key = "/etc/ssl/gocd/privkey.pem"
                tls_certificate_dir = "\(Self.live)"
                """)
        } throws: { error in
            let text = "\(error)"
            return text.contains("tls_certificate_dir") && text.contains("tls_certificate/tls_certificate_key")
        }
    }

    @Test func aRelativeDirectoryIsAConfigError() {
        #expect(throws: ConfigError.self) { try Self.settings("tls_certificate_dir = \"live\"") }
    }

    func make(_ entries: [String: String]) throws -> (SyncEngine, InMemoryConfigStore, FakeFileIdentities, FakeCertificateLocator) {
        let store = InMemoryConfigStore(nil)
        let proxy = ScriptedProxyControl(store: store)
        let serving = FakeServing(store: store)
        proxy.serving = serving
        var settings = Fixtures.settings()
        settings.proxy.tlsCertificate = nil
        settings.proxy.tlsCertificateKey = nil
        settings.proxy.tlsCertificateDir = Self.live
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let files = FakeFileIdentities()
        for (_, entry) in entries {
            for file in ["fullchain.pem", "privkey.pem"] {
                files.set("\(Self.live)/\(entry)/\(file)", FileIdentity(device: 1, inode: 1, size: 1, modifiedNanoseconds: 1))
            }
        }
        let locator = FakeCertificateLocator(entries)
        let engine = SyncEngine(
            settings: settings, source: FakeSiteURLSource(urls), store: store, proxy: proxy, state: InMemoryStateStore(),
            serving: serving, logger: logger, certificateFiles: files, certificates: locator)
        return (engine, store, files, locator)
    }

    @Test func eachHTTPSListenerGetsItsOwnPair() async throws {
        let (engine, store, _, _) = try make(["a.example.com": "a.example.com", "gocd.b.example.com": "wild"])
        guard case .applied = await engine.runCycle(dryRun: false, now: now) else {
            Issue.record("not applied")
            return
        }
        let text = try #require(store.text)
        #expect(text.contains("ssl_certificate \(Self.live)/a.example.com/fullchain.pem;"))
        #expect(text.contains("ssl_certificate_key \(Self.live)/a.example.com/privkey.pem;"))
        #expect(text.contains("ssl_certificate \(Self.live)/wild/fullchain.pem;"))
        #expect(text.contains("ssl_certificate_key \(Self.live)/wild/privkey.pem;"))
        #expect(await engine.runCycle(dryRun: false, now: now) == .unchanged)
    }

    @Test func aRenewalOfOnePairIsNoticed() async throws {
        let (engine, _, files, _) = try make(["a.example.com": "a.example.com", "gocd.b.example.com": "wild"])
        _ = await engine.runCycle(dryRun: false, now: now)
        files.renew("\(Self.live)/wild/fullchain.pem")
        #expect(
            await engine.runCycle(dryRun: false, now: now)
                == .applied(reason: .certificate, diff: "certificate renewed on disk: \(Self.live)/wild/fullchain.pem"))
    }

    @Test func aNameNoCertificateCoversIsRefusedNamingTheDirectoryAndTheName() async throws {
        let (engine, store, _, locator) = try make(["a.example.com": "a.example.com"])
        let outcome = await engine.runCycle(dryRun: false, now: now)
        guard case .rejected(let rejection) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(outcome.exitCode == 4)
        #expect(rejection.reason.contains("no certificate in tls_certificate_dir \(Self.live) covers gocd.b.example.com"))
        #expect(store.text == nil, "nothing written")
        locator.entries["gocd.b.example.com"] = "gocd.b.example.com"
        guard case .applied = await engine.runCycle(dryRun: false, now: now) else {
            Issue.record("a directory made for the name is found the next cycle")
            return
        }
    }
}
