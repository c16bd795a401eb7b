import Logging
import ProxySyncTestSupport
import Testing

@testable import ProxySyncCore

struct SyncEngineTests {
    let now = Timestamp(epochSeconds: 1_800_000_000, iso8601: "2027-01-15T08:00:00Z")

    func make(_ urls: SiteURLs, installed: String? = nil, testPasses: @escaping @Sendable (String?) -> Bool = { _ in true })
        -> (SyncEngine, FakeSiteURLSource, InMemoryConfigStore, ScriptedProxyControl, InMemoryStateStore)
    {
        let source = FakeSiteURLSource(urls)
        let store = InMemoryConfigStore(installed)
        let proxy = ScriptedProxyControl(store: store, testPasses: testPasses)
        let state = InMemoryStateStore()
        let serving = FakeServing(store: store)
        proxy.serving = serving
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let engine = SyncEngine(
            settings: Fixtures.settings(), source: source, store: store, proxy: proxy, state: state, serving: serving,
            logger: logger)
        return (engine, source, store, proxy, state)
    }

    let urls = SiteURLs(siteURL: "http://gocd.example.com", secureSiteURL: "https://gocd.example.com")

    @Test func firstApplyThenUnchanged() async {
        let (engine, _, store, proxy, state) = make(urls)
        #expect(
            await engine.runCycle(dryRun: false, now: now)
                == .applied(
                    reason: .initial,
                    diff:
                        "added http listener gocd.example.com:80 (redirect to https://gocd.example.com); added https listener gocd.example.com:443 (proxy)"
                ))
        #expect(proxy.calls == ["test-staged", "reload"], "tested before it is live; not tested again at the live path")
        #expect(store.text?.hasPrefix(Renderers.headerLine) == true)
        #expect(state.state.lastAppliedSecureSiteURL == "https://gocd.example.com")
        #expect(state.state.applyInProgress == nil)
        let installs = store.installs
        #expect(await engine.runCycle(dryRun: false, now: now) == .unchanged)
        #expect(proxy.calls == ["test-staged", "reload"])
        #expect(store.installs == installs)
    }

    @Test func aFileThatFailsTheStagedTestNeverReachesTheLivePathAndIsExit5() async {
        let (engine, source, store, proxy, state) = make(urls, testPasses: { !($0?.contains("8443") ?? false) })
        _ = await engine.runCycle(dryRun: false, now: now)
        let before = store.text
        let installs = store.installs
        source.set(.success(SiteURLs(siteURL: "", secureSiteURL: "https://gocd.example.com:8443")))
        let outcome = await engine.runCycle(dryRun: false, now: now)
        #expect(outcome == .testFailed(output: "nginx: [emerg] test says no"))
        #expect(outcome.exitCode == 5)
        #expect(store.text == before)
        #expect(store.installs == installs, "neither the new file nor a restore was written")
        #expect(proxy.calls == ["test-staged", "reload", "test-staged", "test"], "then the live file is tested: exit 5, not 9")
        #expect(state.state.applyInProgress == nil)
    }

    @Test func withoutAStagedTestTheFileIsTestedAtTheLivePathAndRestored() async {
        let (engine, source, store, proxy, _) = make(urls, testPasses: { !($0?.contains("8443") ?? false) })
        proxy.stagingAvailable = false
        _ = await engine.runCycle(dryRun: false, now: now)
        let before = store.text
        source.set(.success(SiteURLs(siteURL: "", secureSiteURL: "https://gocd.example.com:8443")))
        let outcome = await engine.runCycle(dryRun: false, now: now)
        #expect(outcome.exitCode == 5)
        #expect(store.text == before)
        #expect(proxy.calls == ["test", "reload", "test", "test"])
    }

    @Test func brokenBeforeIsExit9() async {
        let (engine, _, store, proxy, _) = make(urls, installed: "# old\n", testPasses: { _ in false })
        let outcome = await engine.runCycle(dryRun: false, now: now)
        #expect(outcome.exitCode == 9)
        #expect(store.text == "# old\n")
        #expect(proxy.calls == ["test-staged", "test"])
    }

    @Test func noPreviousFileIsRemovedOnFailure() async {
        let (engine, _, store, _, _) = make(urls, testPasses: { $0 == nil })
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 5)
        #expect(store.bytes == nil)
    }

    @Test func reloadFailureIsOwedAndRetried() async {
        let (engine, _, _, proxy, state) = make(urls)
        proxy.reloadPasses = false
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 6)
        #expect(state.state.reloadOwed)
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 6)
        proxy.reloadPasses = true
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 0)
        #expect(!state.state.reloadOwed)
        #expect(proxy.calls == ["test-staged", "reload", "reload", "reload"])
        #expect(await engine.runCycle(dryRun: false, now: now) == .unchanged)
    }

    @Test func writeFailureKeepsPreviousAndIsExit7() async {
        let (engine, _, store, proxy, state) = make(urls, installed: "# old\n")
        store.failWrites = true
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 7)
        #expect(store.text == "# old\n")
        #expect(proxy.calls == ["test-staged"], "tested, then the write failed: nothing reloaded")
        #expect(state.state.applyInProgress == nil)
    }

    @Test func gocdErrorAndRejectionTouchNothing() async {
        let (engine, source, store, proxy, state) = make(urls, installed: "# old\n")
        source.set(.failure(.unavailable(message: "GoCD server is starting")))
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 3)
        source.set(.success(SiteURLs(siteURL: "https://x;include /etc/shadow;", secureSiteURL: "")))
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 4)
        #expect(store.text == "# old\n")
        #expect(store.installs == 0)
        #expect(proxy.calls.isEmpty)
        #expect(state.state.consecutiveFailures == 2)
    }

    @Test func dryRunWritesNothing() async {
        let (engine, _, store, proxy, state) = make(urls, installed: "# old\n")
        guard case .dryRun(_, let unified, let pending) = await engine.runCycle(dryRun: true, now: now) else {
            Issue.record("expected a dry run")
            return
        }
        #expect(pending)
        #expect(unified.contains("-# old"))
        #expect(store.installs == 0 && proxy.calls.isEmpty && state.saves == 0)
    }

    @Test func driftIsRestored() async {
        let (engine, _, store, _, _) = make(urls)
        _ = await engine.runCycle(dryRun: false, now: now)
        let good = store.text!
        try? store.install(Array(good.replacingOccurrences("3600s", "1s").utf8))
        #expect(
            await engine.runCycle(dryRun: false, now: now)
                == .applied(reason: .drift, diff: "the file was edited by hand; restoring the managed content"))
        #expect(store.text == good)
    }

    /// An idle cycle reuses the last rendering; a new answer from GoCD or new settings must not.
    @Test func theRememberedRenderingFollowsTheAnswerAndTheSettings() async {
        var (engine, source, store, _, _) = make(urls)
        _ = await engine.runCycle(dryRun: false, now: now)
        #expect(await engine.runCycle(dryRun: false, now: now) == .unchanged)
        source.set(.success(SiteURLs(siteURL: "http://gocd.example.com", secureSiteURL: "https://ci.example.com")))
        guard case .applied = await engine.runCycle(dryRun: false, now: now) else {
            Issue.record("a new secure site URL was not applied")
            return
        }
        #expect(store.text?.contains("ci.example.com") == true)
        engine.settings.proxy.hstsMaxAgeSeconds = 31_536_000
        guard case .applied = await engine.runCycle(dryRun: false, now: now) else {
            Issue.record("new settings were not applied")
            return
        }
        #expect(store.text?.contains("Strict-Transport-Security") == true)
        source.set(.success(SiteURLs(siteURL: "", secureSiteURL: "")))
        #expect(await engine.runCycle(dryRun: false, now: now) == .nothingToDerive)
        #expect(store.text?.contains("ci.example.com") == true, "the file in place stays")
    }

    @Test func interruptedApplyIsRolledBackWhenTestFails() async throws {
        let (engine, _, store, proxy, state) = make(
            urls, installed: "# broken new\n", testPasses: { !($0?.contains("broken") ?? false) })
        let backup = try store.backup(Array("# good old\n".utf8))
        state.state.applyInProgress = .init(backupPath: backup, startedAt: "earlier")
        _ = await engine.runCycle(dryRun: false, now: now)
        #expect(proxy.calls.first == "test")
        #expect(state.state.applyInProgress == nil)
        // After the rollback the cycle applied GoCD's plan on top of the good old file.
        #expect(store.text?.hasPrefix(Renderers.headerLine) == true)
    }

    @Test func anApplyFinishedAtStartIsRecorded() async {
        // Killed after the new file was swapped in, before the outcome was recorded: the record still names
        // the previous site URL and bytes; start-up finishes the apply, and the record follows the file.
        let (engine, _, store, _, state) = make(urls)
        _ = await engine.runCycle(dryRun: false, now: now)
        let written = Array(store.text!.utf8)
        state.state.lastAppliedSiteURL = "http://old.example.com"
        state.state.lastWrittenDigest = "0123456789abcdef"
        state.state.applyInProgress = .init(backupPath: nil, startedAt: "earlier")
        #expect(await engine.runCycle(dryRun: false, now: now) == .unchanged)
        #expect(state.state.applyInProgress == nil)
        #expect(state.state.lastWrittenDigest == Digest.fnv1a64Hex(written))
        #expect(state.state.lastAppliedSiteURL == urls.siteURL)
    }

    // MARK: only what is served counts (README: Only what is served counts)

    @Test func aReloadThatChangesNothingIsRolledBackWithExit10() async {
        let (engine, source, store, proxy, state) = make(urls)
        _ = await engine.runCycle(dryRun: false, now: now)
        let before = store.text
        let serving = proxy.serving!
        serving.reloadsTakeEffect = false
        source.set(.success(SiteURLs(siteURL: "", secureSiteURL: "https://gocd.example.com:8443")))
        let outcome = await engine.runCycle(dryRun: false, now: now)
        guard case .notServing(let what) = outcome else {
            Issue.record("expected not_serving, got \(outcome)")
            return
        }
        #expect(outcome.exitCode == 10)
        #expect(what.contains("the previous generation"))
        #expect(store.text == before, "the previous bytes are back")
        #expect(proxy.calls == ["test-staged", "reload", "test-staged", "reload", "reload"], "apply, then the restore is reloaded")
        #expect(state.state.serving == true, "the restored file is served")
        #expect(state.state.lastAppliedSecureSiteURL == "https://gocd.example.com", "the refused plan is not recorded")
    }

    @Test func notServingIsCriticalWhenTheProxyIsGone() async {
        let (engine, source, _, proxy, state) = make(urls)
        _ = await engine.runCycle(dryRun: false, now: now)
        proxy.serving!.reloadsTakeEffect = false
        proxy.serving!.running = false
        source.set(.success(SiteURLs(siteURL: "", secureSiteURL: "https://gocd.example.com:8443")))
        let outcome = await engine.runCycle(dryRun: false, now: now)
        guard case .notServing(let what) = outcome else {
            Issue.record("expected not_serving, got \(outcome)")
            return
        }
        #expect(what.contains("not running"))
        #expect(state.state.serving == false)
        #expect(state.state.reloadOwed == true, "the tested file stays; its reload is owed")
        #expect(proxy.calls.filter { $0 == "reload" }.count == 1, "no reload while the proxy is not running")
    }

    @Test func afterARestartServingIsConfirmedAgainNotTrusted() async {
        let (engine, _, store, proxy, state) = make(urls)
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 0)
        #expect(state.state.serving == true)
        // A new process over the same file and state: the proxy stopped meanwhile.
        proxy.serving!.running = false
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let restarted = SyncEngine(
            settings: Fixtures.settings(), source: engine.source, store: store, proxy: proxy, state: state,
            serving: proxy.serving!, logger: logger)
        let before = proxy.calls.count
        guard case .notServing(let what) = await restarted.runCycle(dryRun: false, now: now) else {
            Issue.record("expected not_serving after the restart")
            return
        }
        #expect(what.contains("not running"))
        #expect(state.state.serving == false)
        #expect(proxy.calls.count == before, "nothing tested or reloaded while the proxy is not running")
        // The proxy runs again: the next process confirms it serves the file, without a reload.
        proxy.serving!.running = true
        let third = SyncEngine(
            settings: Fixtures.settings(), source: engine.source, store: store, proxy: proxy, state: state,
            serving: proxy.serving!, logger: logger)
        #expect(await third.runCycle(dryRun: false, now: now) == .unchanged)
        #expect(state.state.serving == true)
        #expect(!proxy.calls[before...].contains("reload"))
    }

    @Test func aConfirmedApplyRecordsServing() async {
        let (engine, _, _, proxy, state) = make(urls)
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 0)
        #expect(state.state.serving == true)
        #expect(state.state.lastConfirmedAt == now.iso8601)
        #expect(proxy.serving!.confirmations == 1)
        #expect(proxy.serving!.endToEndChecks == 1)
    }

    @Test func aPreflightRefusalWritesNothing() async {
        let (engine, _, store, proxy, _) = make(urls)
        proxy.serving!.refusals = [Refusal(listener: "https://gocd.example.com:443", reason: "port taken by python3 (pid 7)")]
        let outcome = await engine.runCycle(dryRun: false, now: now)
        guard case .rejected(let rejection) = outcome else {
            Issue.record("expected rejected, got \(outcome)")
            return
        }
        #expect(rejection.field == "secure_site_url")
        #expect(rejection.reason.contains("python3 (pid 7)"))
        #expect(store.installs == 0)
        #expect(proxy.calls.isEmpty)
        #expect(await engine.runCycle(dryRun: true, now: now).exitCode == 4, "dry-run reports the refusal too")
    }

    @Test func driftIsDecidedFromTheRecordNotFromComments() async {
        let (engine, _, store, _, _) = make(urls)
        _ = await engine.runCycle(dryRun: false, now: now)
        // A hand edit of the Source line only: the comment now names other URLs.
        let edited = store.text!.replacingOccurrences("site_url=http://gocd.example.com", "site_url=http://x.example")
        try? store.install(Array(edited.utf8))
        let outcome = await engine.runCycle(dryRun: false, now: now)
        guard case .applied(let reason, _) = outcome else {
            Issue.record("expected applied, got \(outcome)")
            return
        }
        #expect(reason == .drift)
    }

    @Test func confirmationOffLeavesServingUnknown() async {
        let source = FakeSiteURLSource(urls)
        let store = InMemoryConfigStore()
        let proxy = ScriptedProxyControl(store: store)
        let serving = FakeServing(store: store)
        serving.reloadsTakeEffect = false
        proxy.serving = serving
        var settings = Fixtures.settings()
        settings.proxy.confirmTimeoutSeconds = 0
        let state = InMemoryStateStore()
        let engine = SyncEngine(
            settings: settings, source: source, store: store, proxy: proxy, state: state, serving: serving,
            logger: Logger(label: "test"))
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 0)
        #expect(serving.confirmations == 0)
        #expect(state.state.serving == nil)
    }

    @Test func droppedListenersAreCheckedOnlyWhenReturningToARecentGeneration() async {
        let (engine, source, _, proxy, _) = make(urls)
        _ = await engine.runCycle(dryRun: false, now: now)
        source.set(.success(SiteURLs(siteURL: "", secureSiteURL: "https://gocd.example.com:8443")))
        _ = await engine.runCycle(dryRun: false, now: now)
        #expect(proxy.serving!.lastSuperseded == nil, "a new generation: nothing old can answer with its digest")
        source.set(.success(urls))
        #expect(await engine.runCycle(dryRun: false, now: now).exitCode == 0)
        let superseded = proxy.serving!.lastSuperseded
        #expect(superseded != nil, "back to the first file: the 8443 listener must fall silent")
        #expect(superseded?.listeners.contains { $0.port == 8443 } == true)
    }
}
