import Logging
import ProxySyncTestSupport
import Synchronization
import Testing

@testable import ProxySyncCore

/// A `certificate_command` that, when it runs, makes the locator find a pair for the names it was given (unless
/// told to fail), and records each run.
final class FakeCertificateRequester: CertificateRequester, Sendable {
    let locator: FakeCertificateLocator
    let runs = Mutex<[[String]]>([])
    let fails: Bool

    init(_ locator: FakeCertificateLocator, fails: Bool = false) {
        self.locator = locator
        self.fails = fails
    }

    func request(_ names: [String]) async -> CommandResult {
        runs.withLock { $0.append(names) }
        if fails {
            return CommandResult(
                argv: ["/usr/local/sbin/get-cert"] + names, exitStatus: 1,
                output: "Saving debug log\nChallenge failed for domain \(names[0])\nSome challenges have failed.")
        }
        for name in names { locator.entries[name] = name }
        return CommandResult(argv: ["/usr/local/sbin/get-cert"] + names, exitStatus: 0)
    }

    var calls: [[String]] { runs.withLock { $0 } }
}

/// Obtaining a certificate (README): the backoff, its record in `state.json`, the keys it needs, and the cycle over fakes.
struct CertificateCommandTests {
    static let live = "/etc/letsencrypt/live"
    let now = Timestamp(epochSeconds: 1_800_000_000, iso8601: "2027-01-15T08:00:00Z")

    func at(_ seconds: Int64) -> Timestamp { Timestamp(epochSeconds: now.epochSeconds + seconds) }

    // MARK: the backoff, pure

    @Test(arguments: [(1, 3600), (2, 7200), (3, 14_400), (4, 28_800), (5, 57_600), (6, 86_400), (7, 86_400), (400, 86_400)])
    func theWaitDoublesFromAnHourUpToADay(failures: Int, seconds: Int64) {
        #expect(CertificateRequests.delaySeconds(afterFailures: failures) == seconds)
    }

    @Test func aFailureHoldsTheNamesBackUntilItsNextAttempt() throws {
        var records = CertificateRequests.failed(["b.example.com", "a.example.com"], records: [:], now: now)
        let record = try #require(records["a.example.com b.example.com"])
        #expect(record == CertificateRequestRecord(failures: 1, lastFailedAt: now.iso8601, nextAttemptAt: at(3600).iso8601))
        #expect(CertificateRequests.blocking(["a.example.com", "b.example.com"], in: records, now: at(3599))?.record == record)
        // Any of its names, in other company, is held back too.
        #expect(CertificateRequests.blocking(["a.example.com"], in: records, now: at(1))?.key == "a.example.com b.example.com")
        #expect(CertificateRequests.blocking(["c.example.com"], in: records, now: at(1)) == nil)
        #expect(CertificateRequests.blocking(["a.example.com", "b.example.com"], in: records, now: at(3600)) == nil)
        // Failing again doubles the wait; failures in a row count across the company the names keep.
        records = CertificateRequests.failed(["a.example.com"], records: records, now: at(3600))
        #expect(
            records["a.example.com"]
                == CertificateRequestRecord(failures: 2, lastFailedAt: at(3600).iso8601, nextAttemptAt: at(3600 + 7200).iso8601))
        #expect(CertificateRequests.blocking(["a.example.com"], in: records, now: at(3601))?.key == "a.example.com")
        // Obtained: every record sharing a name ends.
        #expect(CertificateRequests.obtained(["a.example.com"], records: records, now: at(10_800)) == [:])
    }

    @Test func oldRecordsAreForgottenADayAfterTheAttemptTheyAllowed() {
        let records = CertificateRequests.failed(["a.example.com"], records: [:], now: now)
        let later = CertificateRequests.failed(["c.example.com"], records: records, now: at(3600 + 86_399))
        #expect(later.keys.sorted() == ["a.example.com", "c.example.com"])
        let muchLater = CertificateRequests.failed(["c.example.com"], records: records, now: at(3600 + 86_400))
        #expect(muchLater.keys.sorted() == ["c.example.com"])
    }

    // MARK: state.json

    @Test func theRecordIsReadBack() throws {
        var state = SyncState()
        state.certificateRequests = CertificateRequests.failed(["gocd.example.com", "ci.example.com"], records: [:], now: now)
        #expect(try SyncState.decode(Array(state.json.serialized().utf8)) == state)
    }

    @Test(arguments: [
        (#"{"certificate_requests": []}"#, "certificate_requests: an array where an object belongs"),
        (#"{"certificate_requests": {"b.test a.test": {}}}"#, "not host names as this program writes them"),
        (#"{"certificate_requests": {"A.test": {}}}"#, "not host names as this program writes them"),
        (#"{"certificate_requests": {"a.test  b.test": {}}}"#, "not host names as this program writes them"),
        (#"{"certificate_requests": {"": {}}}"#, "not host names as this program writes them"),
        (#"{"certificate_requests": {"a.test": 1}}"#, #"certificate_requests["a.test"]: a number where an object belongs"#),
        (
            #"{"certificate_requests": {"a.test": {"failures": 0, "last_failed_at": "2027-01-15T08:00:00Z", "next_attempt_at": "2027-01-15T09:00:00Z"}}}"#,
            #"certificate_requests["a.test"].failures: missing or 0"#
        ),
        (
            #"{"certificate_requests": {"a.test": {"failures": "1", "last_failed_at": "2027-01-15T08:00:00Z", "next_attempt_at": "2027-01-15T09:00:00Z"}}}"#,
            #"certificate_requests["a.test"].failures: a string where a number belongs"#
        ),
        (
            #"{"certificate_requests": {"a.test": {"failures": 1, "next_attempt_at": "2027-01-15T09:00:00Z"}}}"#,
            "last_failed_at is missing"
        ),
        (
            #"{"certificate_requests": {"a.test": {"failures": 1, "last_failed_at": "2027-01-15T08:00:00Z", "next_attempt_at": "soon"}}}"#,
            #"certificate_requests["a.test"].next_attempt_at: "soon" is not a time"#
        ),
    ])
    func aDamagedRecordNamesTheKey(text: String, expected: String) {
        #expect {
            _ = try SyncState.decode(Array(text.utf8))
        } throws: { error in
            (error as? StateDecodingError)?.description.contains(expected) == true
        }
    }

    // MARK: settings

    @Test func theCommandNeedsBothDirectoriesAndAnAbsoluteProgram() throws {
        let both = "tls_certificate_dir = \"\(Self.live)\"\nacme_challenge_dir = \"/var/www/acme\"\n"
        let settings = try Fixtures.settings(both + "certificate_command = [\"/usr/local/sbin/get-cert\", \"--quiet\"]")
        #expect(settings.proxy.certificateCommand == ["/usr/local/sbin/get-cert", "--quiet"])
        #expect(settings.proxy.certificateCommandTimeoutSeconds == 300)
        for (lines, message) in [
            (
                "acme_challenge_dir = \"/var/www/acme\"\ncertificate_command = [\"/g\"]",
                "proxy.certificate_command: needs tls_certificate_dir"
            ),
            (
                "tls_certificate_dir = \"/l\"\ncertificate_command = [\"/g\"]",
                "proxy.certificate_command: needs acme_challenge_dir"
            ),
            (both + "certificate_command = [\"certbot\"]", "proxy.certificate_command: the program must be an absolute path"),
            (both + "certificate_command = []", "proxy.certificate_command: line"),
            (both + "certificate_command = \"/g\"", "proxy.certificate_command: line"),
        ] {
            #expect {
                try Fixtures.settings(lines)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    // MARK: the cycle over fakes

    struct Setup {
        let engine: SyncEngine
        let store: InMemoryConfigStore
        let proxy: ScriptedProxyControl
        let state: InMemoryStateStore
        let locator: FakeCertificateLocator
        let requester: FakeCertificateRequester
        let source: FakeSiteURLSource
        let records: RecordingLogHandler.Records
    }

    func make(_ entries: [String: String], fails: Bool = false) -> Setup {
        let store = InMemoryConfigStore(nil)
        let proxy = ScriptedProxyControl(store: store)
        let serving = FakeServing(store: store)
        proxy.serving = serving
        var settings = Fixtures.settings()
        settings.proxy.tlsCertificate = nil
        settings.proxy.tlsCertificateKey = nil
        settings.proxy.tlsCertificateDir = Self.live
        settings.proxy.acmeChallengeDir = "/var/www/acme"
        settings.proxy.certificateCommand = ["/usr/local/sbin/get-cert"]
        let (logger, records) = RecordingLogHandler.logger(level: .debug)
        let locator = FakeCertificateLocator(entries)
        let requester = FakeCertificateRequester(locator, fails: fails)
        let source = FakeSiteURLSource(SiteURLs(siteURL: "http://gocd.example.com", secureSiteURL: "https://gocd.example.com"))
        let state = InMemoryStateStore()
        let engine = SyncEngine(
            settings: settings, source: source, store: store, proxy: proxy, state: state, serving: serving, logger: logger,
            certificates: locator, certificateRequester: requester)
        return Setup(
            engine: engine, store: store, proxy: proxy, state: state, locator: locator, requester: requester, source: source,
            records: records)
    }

    @Test func coveredNamesRunNoCommand() async {
        let s = make(["gocd.example.com": "gocd.example.com"])
        guard case .applied = await s.engine.runCycle(dryRun: false, now: now) else {
            Issue.record("not applied")
            return
        }
        #expect(s.requester.calls.isEmpty)
    }

    @Test func aNewNameIsAskedForAfterTheChallengeIsServedThenApplied() async throws {
        let s = make(["gocd.example.com": "gocd.example.com"])
        _ = await s.engine.runCycle(dryRun: false, now: now)
        let before = try #require(s.store.text)
        s.source.set(.success(SiteURLs(siteURL: "http://gocd.example.com", secureSiteURL: "https://new.example.com")))
        let outcome = await s.engine.runCycle(dryRun: false, now: at(60))
        #expect(outcome == .applied(reason: .change, diff: try #require(s.records.of("applied").last?.metadata["diff"])))
        #expect(s.requester.calls == [["new.example.com"]])
        // Two applies: the site in place plus the challenge, then the plan.
        let applied = s.records.of("applied").suffix(2).map { $0.metadata["reason"] }
        #expect(applied == ["challenge", "change"])
        #expect(s.proxy.calls.suffix(4) == ["test-staged", "reload", "test-staged", "reload"])
        #expect(s.records.of("certificate_obtained").first?.metadata["names"] == "new.example.com")
        let text = try #require(s.store.text)
        #expect(text.contains("ssl_certificate \(Self.live)/new.example.com/fullchain.pem;"))
        #expect(text != before)
        #expect(s.state.state.certificateRequests.isEmpty)
        #expect(s.state.state.lastAppliedSecureSiteURL == "https://new.example.com")
    }

    @Test func theChallengeFileIsTheSiteInPlacePlusAChallengeListener() throws {
        let s = make(["gocd.example.com": "gocd.example.com"])
        var state = SyncState()
        state.lastAppliedSiteURL = "http://gocd.example.com"
        state.lastAppliedSecureSiteURL = "https://gocd.example.com"
        let newPlan = try Fixtures.plan("http://gocd.example.com", "https://new.example.com", proxy: s.engine.settings.proxy)
        let (plan, settings) = s.engine.challengePlan(
            for: ["new.example.com"], newPlan: newPlan, settings: s.engine.settings.proxy, state: state, now: now,
            installed: true)
        #expect(plan.secureSiteURL == "https://gocd.example.com")
        #expect(
            plan.listeners.map(\.origin) == [
                "http://gocd.example.com:80", "http://new.example.com:80", "https://gocd.example.com:443",
            ])
        #expect(plan.listeners.first { $0.serverName == "new.example.com" }?.action == .challenge)
        #expect(settings.certificatePairs.keys.sorted() == ["gocd.example.com"])
        // Nothing of this program's in place: the new plan without the name no certificate covers, nor the redirect
        // to it.
        let (fresh, _) = s.engine.challengePlan(
            for: ["new.example.com"], newPlan: newPlan, settings: s.engine.settings.proxy, state: SyncState(), now: now,
            installed: false)
        #expect(fresh.listeners.map(\.origin) == ["http://new.example.com:80"])
        #expect(fresh.listeners.allSatisfy { $0.action == .challenge })
    }

    @Test func aFailedRequestRefusesAndIsNotAskedAgainUntilItsTime() async throws {
        let s = make(["gocd.example.com": "gocd.example.com"], fails: true)
        _ = await s.engine.runCycle(dryRun: false, now: now)
        s.source.set(.success(SiteURLs(siteURL: "http://gocd.example.com", secureSiteURL: "https://new.example.com")))
        let outcome = await s.engine.runCycle(dryRun: false, now: at(60))
        #expect(outcome.exitCode == 4)
        #expect(s.requester.calls == [["new.example.com"]])
        let failed = try #require(s.records.of("certificate_request_failed").first)
        #expect(failed.level == .error)
        #expect(failed.metadata["next_attempt_at"] == at(60 + 3600).iso8601)
        #expect(failed.metadata["output"]?.contains("Challenge failed for domain new.example.com") == true)
        #expect(failed.metadata["reason"]?.contains("exit status 1") == true)
        #expect(s.state.state.certificateRequests["new.example.com"]?.failures == 1)
        // The file in place answers the challenge and keeps serving the old name; the plan itself never went in.
        let text = try #require(s.store.text)
        #expect(text.contains("server_name new.example.com;") && text.contains("\(Self.live)/gocd.example.com/fullchain.pem"))
        #expect(!text.contains("\(Self.live)/new.example.com/"))
        // Held back: refused each cycle, logged as an error once (the failure said it), no command run.
        for minute in [2, 3, 59] {
            let again = await s.engine.runCycle(dryRun: false, now: at(Int64(minute) * 60))
            guard case .rejected(let rejection) = again else {
                Issue.record("\(again)")
                return
            }
            #expect(rejection.reason.contains("asked again at \(at(60 + 3600).iso8601)"))
        }
        #expect(s.requester.calls.count == 1)
        #expect(s.records.of("rejected", atLeast: .error).isEmpty)
        // Its time come: asked again, failing again doubles the wait.
        _ = await s.engine.runCycle(dryRun: false, now: at(60 + 3600))
        #expect(s.requester.calls.count == 2)
        #expect(s.state.state.certificateRequests["new.example.com"]?.nextAttemptAt == at(60 + 3600 + 7200).iso8601)
    }

    @Test func aDryRunRunsNothing() async {
        let s = make([:])
        let outcome = await s.engine.runCycle(dryRun: true, now: now)
        guard case .dryRun(let diff, _, let pending) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(pending && diff.contains("certificate_command would be run"))
        #expect(s.requester.calls.isEmpty && s.proxy.calls.isEmpty && s.store.text == nil)
    }

    @Test func aCommandThatSucceedsWithoutACertificateIsAFailedRequest() async {
        let s = make([:])
        final class Silent: CertificateRequester {
            func request(_ names: [String]) async -> CommandResult { CommandResult(argv: ["/g"] + names, exitStatus: 0) }
        }
        var engine = s.engine
        engine.certificateRequester = Silent()
        let outcome = await engine.runCycle(dryRun: false, now: now)
        guard case .rejected(let rejection) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(rejection.reason.contains("certificate_command exited 0, but no certificate in tls_certificate_dir"))
        #expect(s.state.state.certificateRequests["gocd.example.com"]?.failures == 1)
    }
}
