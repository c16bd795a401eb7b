import Logging
import ProxySyncTestSupport
import Testing

@testable import ProxySyncCore

/// A certificate renewed in place (SPEC 5d): noticed by a stat per file, tested, reloaded and confirmed served.
struct CertificateRenewalTests {
    let now = Timestamp(epochSeconds: 1_800_000_000, iso8601: "2027-01-15T08:00:00Z")
    let urls = SiteURLs(siteURL: "http://gocd.example.com", secureSiteURL: "https://gocd.example.com")
    static let certificate = "/etc/ssl/gocd/fullchain.pem"
    static let key = "/etc/ssl/gocd/privkey.pem"

    struct Rig {
        let engine: SyncEngine
        let store: InMemoryConfigStore
        let proxy: ScriptedProxyControl
        let state: InMemoryStateStore
        let serving: FakeServing
        let files: FakeFileIdentities
    }

    func make(confirmTimeout: Double? = nil) -> Rig {
        let store = InMemoryConfigStore(nil)
        let proxy = ScriptedProxyControl(store: store)
        let state = InMemoryStateStore()
        let serving = FakeServing(store: store)
        proxy.serving = serving
        let files = FakeFileIdentities([
            Self.certificate: FileIdentity(device: 2049, inode: 10, size: 3000, modifiedNanoseconds: 1),
            Self.key: FileIdentity(device: 2049, inode: 11, size: 240, modifiedNanoseconds: 1),
        ])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var settings = Fixtures.settings()
        if let confirmTimeout { settings.proxy.confirmTimeoutSeconds = confirmTimeout }
        let engine = SyncEngine(
            settings: settings, source: FakeSiteURLSource(urls), store: store, proxy: proxy, state: state,
            serving: serving, logger: logger, certificateFiles: files)
        return Rig(engine: engine, store: store, proxy: proxy, state: state, serving: serving, files: files)
    }

    @Test func theFilesConfirmedServedAreRecorded() async {
        let rig = make()
        guard case .applied(reason: .initial, _) = await rig.engine.runCycle(dryRun: false, now: now) else {
            Issue.record("not applied")
            return
        }
        #expect(rig.state.state.certificateFiles[Self.certificate] == "2049:10:3000:1")
        #expect(rig.state.state.certificateFiles[Self.key] == "2049:11:240:1")
        #expect(SyncState.decodeOrNil(rig.state.state)?.certificateFiles == rig.state.state.certificateFiles)
    }

    @Test func aRenewedCertificateIsTestedReloadedConfirmedAndRecorded() async {
        let rig = make()
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        #expect(await rig.engine.runCycle(dryRun: false, now: now) == .unchanged)
        #expect(rig.proxy.calls == ["test-staged", "reload"])
        rig.files.renew(Self.certificate)
        rig.files.renew(Self.key)
        let outcome = await rig.engine.runCycle(dryRun: false, now: now)
        #expect(
            outcome
                == .applied(
                    reason: .certificate,
                    diff: "certificate renewed on disk: \(Self.certificate), \(Self.key)"))
        #expect(outcome.exitCode == 0)
        #expect(rig.proxy.calls == ["test-staged", "reload", "test", "reload"], "tested at the live path, then reloaded")
        #expect(rig.state.state.certificateFiles[Self.certificate] == "2049:11:3001:60000000001")
        #expect(rig.state.state.lastOutcome == "applied")
        #expect(await rig.engine.runCycle(dryRun: false, now: now) == .unchanged)
        #expect(rig.proxy.calls.count == 4, "recorded: no second reload")
    }

    @Test func theIdleCycleCostsOneStatPerFile() async {
        let rig = make()
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        let before = rig.files.stats
        let saves = rig.state.saves
        #expect(await rig.engine.runCycle(dryRun: false, now: now) == .unchanged)
        #expect(rig.files.stats - before == 2, "certificate and key, one stat each")
        #expect(rig.state.saves == saves, "an idle cycle writes nothing")
    }

    @Test func aStateFileWithoutTheRecordRecordsNowAndAppliesNothing() async {
        let rig = make()
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        rig.state.state.certificateFiles = [:]
        rig.files.renew(Self.certificate)
        #expect(await rig.engine.runCycle(dryRun: false, now: now) == .unchanged)
        #expect(rig.proxy.calls == ["test-staged", "reload"])
        #expect(rig.state.state.certificateFiles[Self.certificate] == "2049:11:3001:60000000001")
    }

    @Test func aRenewedCertificateNotPresentedIsNotServingAndRetried() async {
        let rig = make()
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        let recorded = rig.state.state.certificateFiles
        rig.files.renew(Self.certificate)
        rig.serving.certificateMiss = "a certificate other than tls_certificate's"
        let outcome = await rig.engine.runCycle(dryRun: false, now: now)
        #expect(outcome == .notServing("https://gocd.example.com:443: a certificate other than tls_certificate's"))
        #expect(outcome.exitCode == 10)
        #expect(rig.state.state.certificateFiles == recorded, "not recorded: tried again")
        #expect(!rig.state.state.reloadOwed)
        var backoff = Backoff(intervalSeconds: 30, maxBackoffSeconds: 300)
        #expect(backoff.next(after: outcome, jitter: 0) > 30, "retried on the backoff schedule")
        rig.serving.certificateMiss = nil
        #expect(await rig.engine.runCycle(dryRun: false, now: now) == .applied(
            reason: .certificate, diff: "certificate renewed on disk: \(Self.certificate)"))
        #expect(rig.proxy.calls == ["test-staged", "reload", "test", "reload", "test", "reload"])
    }

    @Test func aRenewedCertificateThatNoLongerCoversTheNameIsRefused() async {
        let rig = make()
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        rig.files.renew(Self.certificate)
        rig.serving.refusals = [
            Refusal(
                listener: "gocd.example.com:443",
                reason: "the certificate \(Self.certificate) does not cover gocd.example.com")
        ]
        let outcome = await rig.engine.runCycle(dryRun: false, now: now)
        #expect(outcome.exitCode == 4)
        #expect(rig.proxy.calls == ["test-staged", "reload"], "neither tested nor reloaded")
    }

    @Test func aRenewedCertificateThatFailsTheTestIsNotReloaded() async {
        let rig = make()
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        rig.files.renew(Self.key)
        rig.proxy.testPasses = { _ in false }
        let outcome = await rig.engine.runCycle(dryRun: false, now: now)
        #expect(outcome.exitCode == 5)
        #expect(rig.proxy.calls == ["test-staged", "reload", "test"])
    }

    @Test func aDryRunSaysTheRenewalIsPendingAndTouchesNothing() async {
        let rig = make()
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        rig.files.renew(Self.certificate)
        let outcome = await rig.engine.runCycle(dryRun: true, now: now)
        guard case .dryRun(_, _, changePending: true) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(rig.proxy.calls == ["test-staged", "reload"])
    }

    @Test func withConfirmationOffTheReloadIsEnough() async {
        let rig = make(confirmTimeout: 0)
        _ = await rig.engine.runCycle(dryRun: false, now: now)
        rig.files.renew(Self.certificate)
        #expect(await rig.engine.runCycle(dryRun: false, now: now) == .applied(
            reason: .certificate, diff: "certificate renewed on disk: \(Self.certificate)"))
        #expect(await rig.engine.runCycle(dryRun: false, now: now) == .unchanged)
    }

    @Test(arguments: ["1:2:3", "a:2:3:4", "1:2:3:4:5", "-1:2:3:4", "1::3:4"])
    func aDamagedIdentityIsADamagedStateFile(_ identity: String) {
        let json = "{\"certificate_files\": {\"/etc/ssl/a.pem\": \"\(identity)\"}}"
        #expect(throws: StateDecodingError.self) { try SyncState.decode(Array(json.utf8)) }
    }
}

extension SyncState {
    /// The record written and read back.
    static func decodeOrNil(_ state: SyncState) -> SyncState? {
        try? SyncState.decode(Array(state.json.serialized().utf8))
    }
}
