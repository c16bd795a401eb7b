import Logging
import ProxySyncTestSupport
import Testing

@testable import ProxySyncCore

/// Renames (SPEC 5e): a name GoCD dropped stays a further name of the listeners for keep_previous_names_hours.
struct KeptNamesTests {
    let now = Timestamp(epochSeconds: 1_800_000_000, iso8601: "2027-01-15T08:00:00Z")

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"), (1_800_000_000, "2027-01-15T08:00:00Z"),
        (951_825_600, "2000-02-29T12:00:00Z"), (4_102_444_799, "2099-12-31T23:59:59Z"),
    ])
    func isoTimesBothWays(_ seconds: Int64, _ text: String) {
        #expect(Timestamp.iso8601(epochSeconds: seconds) == text)
        #expect(Timestamp.epochSeconds(iso8601: text) == seconds)
    }

    @Test func aDroppedNameIsKeptUntilNowPlusTheHours() {
        let kept = KeptNames.keep(
            previous: [:], lastApplied: ["", "https://old.example.com"], currentHosts: ["new.example.com"], hours: 1.5,
            now: now)
        #expect(kept == ["old.example.com": "2027-01-15T09:30:00Z"])
    }

    @Test func nothingIsKeptWithZeroHoursOrWithoutARename() {
        #expect(
            KeptNames.keep(
                previous: ["a.example.com": "2027-01-16T00:00:00Z"], lastApplied: ["https://old.example.com"],
                currentHosts: ["new.example.com"], hours: 0, now: now
            ).isEmpty)
        #expect(
            KeptNames.keep(
                previous: [:], lastApplied: ["https://same.example.com"], currentHosts: ["same.example.com"], hours: 1,
                now: now
            ).isEmpty)
    }

    @Test func aKeptNameExpiresAndANameGoCDGivesAgainIsNoLongerKept() {
        let previous = ["old.example.com": "2027-01-15T08:00:00Z", "older.example.com": "2027-01-15T08:00:01Z"]
        #expect(
            KeptNames.keep(
                previous: previous, lastApplied: ["https://new.example.com"], currentHosts: ["new.example.com"], hours: 1,
                now: now) == ["older.example.com": "2027-01-15T08:00:01Z"], "expired at the time itself")
        #expect(
            KeptNames.keep(
                previous: previous, lastApplied: ["https://new.example.com"], currentHosts: ["older.example.com"],
                hours: 1, now: now) == ["new.example.com": "2027-01-15T09:00:00Z"])
    }

    @Test(arguments: [ProxyKind.nginx, .apache])
    func keptNamesJoinTheSameServerBlocks(kind: ProxyKind) throws {
        let base = try Fixtures.plan("http://new.example.com", "https://new.example.com", proxy: Fixtures.proxy(kind: kind))
        let plan = KeptNames.adding(["old.example.com": "2027-01-15T09:00:00Z"], to: base)
        #expect(plan.listeners.count == 4)
        #expect(plan.primaryListeners == base.listeners)
        let text = try Renderers.make(for: Fixtures.proxy(kind: kind)).render(plan)
        if kind == .nginx {
            #expect(text.components(separatedBy: "server_name new.example.com old.example.com;").count == 3)
        } else {
            #expect(text.components(separatedBy: "ServerAlias old.example.com\n").count == 3)
        }
        // Read back, the file serves both names on both listeners.
        #expect(InstalledConfig.read(text, kind: kind).listeners.count == 4)
        let plain = try Renderers.make(for: Fixtures.proxy(kind: kind)).render(base)
        #expect(!plain.contains("old.example.com"))
    }

    @Test func settingsDecodeTheHours() throws {
        #expect(try Settings.decode(OperatorSiteTests.config(""), file: "/c.toml").proxy.keepPreviousNamesHours == 0)
        #expect(
            try Settings.decode(OperatorSiteTests.config("keep_previous_names_hours = 0.5"), file: "/c.toml").proxy
                .keepPreviousNamesHours == 0.5)
        #expect(
            try Settings.decode(OperatorSiteTests.config("keep_previous_names_hours = 24"), file: "/c.toml").proxy
                .keepPreviousNamesHours == 24)
        #expect(throws: ConfigError.self) {
            try Settings.decode(OperatorSiteTests.config("keep_previous_names_hours = -1"), file: "/c.toml")
        }
        #expect(throws: ConfigError.self) {
            try Settings.decode(OperatorSiteTests.config("keep_previous_names_hours = \"1\""), file: "/c.toml")
        }
    }

    @Test func theStateRemembersKeptNamesStrictly() throws {
        var state = SyncState()
        state.keptNames = ["old.example.com": "2027-01-15T09:00:00Z"]
        #expect(try SyncState.decode(Array(state.json.serialized().utf8)) == state)
        for damaged in [
            #"{"kept_names": ["old.example.com"]}"#, #"{"kept_names": {"old.example.com": 3}}"#,
            #"{"kept_names": {"old.example.com": "tomorrow"}}"#, #"{"kept_names": {"Old..Example": "2027-01-15T09:00:00Z"}}"#,
        ] {
            #expect(throws: StateDecodingError.self) { try SyncState.decode(Array(damaged.utf8)) }
        }
    }

    @Test func aRenameKeepsTheOldNameUntilTheTimeThenDropsItWithItsOwnReason() async throws {
        let old = SiteURLs(siteURL: "http://old.example.com", secureSiteURL: "https://old.example.com")
        let source = FakeSiteURLSource(old)
        let store = InMemoryConfigStore(nil)
        let proxy = ScriptedProxyControl(store: store, testPasses: { _ in true })
        let state = InMemoryStateStore()
        let serving = FakeServing(store: store)
        proxy.serving = serving
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var settings = Fixtures.settings()
        settings.proxy.keepPreviousNamesHours = 1
        let engine = SyncEngine(
            settings: settings, source: source, store: store, proxy: proxy, state: state, serving: serving, logger: logger)
        guard case .applied = await engine.runCycle(dryRun: false, now: now) else { Issue.record("first apply"); return }
        #expect(state.state.keptNames.isEmpty)

        source.set(.success(SiteURLs(siteURL: "http://new.example.com", secureSiteURL: "https://new.example.com")))
        guard case .applied(reason: .change, _) = await engine.runCycle(dryRun: false, now: now) else {
            Issue.record("rename applied")
            return
        }
        #expect(state.state.keptNames == ["old.example.com": "2027-01-15T09:00:00Z"])
        #expect(store.text?.contains("server_name new.example.com old.example.com;") == true)

        let later = Timestamp(epochSeconds: now.epochSeconds + 3599)
        #expect(await engine.runCycle(dryRun: false, now: later) == .unchanged)
        #expect(state.state.keptNames.count == 1)

        let after = Timestamp(epochSeconds: now.epochSeconds + 3600)
        guard case .applied(reason: .keptNamesExpired, _) = await engine.runCycle(dryRun: false, now: after) else {
            Issue.record("the first cycle after the time drops the name")
            return
        }
        #expect(state.state.keptNames.isEmpty)
        #expect(store.text?.contains("old.example.com") == false)
        #expect(await engine.runCycle(dryRun: false, now: after) == .unchanged)
    }

    @Test func allowedServerNamesBoundAKeptName() async throws {
        let source = FakeSiteURLSource(SiteURLs(siteURL: "", secureSiteURL: "https://old.example.com"))
        let store = InMemoryConfigStore(nil)
        let proxy = ScriptedProxyControl(store: store, testPasses: { _ in true })
        let state = InMemoryStateStore()
        let serving = FakeServing(store: store)
        proxy.serving = serving
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var settings = Fixtures.settings()
        settings.proxy.keepPreviousNamesHours = 1
        var engine = SyncEngine(
            settings: settings, source: source, store: store, proxy: proxy, state: state, serving: serving, logger: logger)
        _ = await engine.runCycle(dryRun: false, now: now)
        engine.settings.proxy.allowedServerNames = ["new.example.com"]
        source.set(.success(SiteURLs(siteURL: "", secureSiteURL: "https://new.example.com")))
        guard case .rejected(let rejection) = await engine.runCycle(dryRun: false, now: now) else {
            Issue.record("a kept name outside allowed_server_names is refused")
            return
        }
        #expect(rejection.reason.contains("old.example.com"))
    }
}
