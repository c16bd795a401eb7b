import ProxySyncTestSupport
import Testing

@testable import ProxySyncCore

/// `state.json` is read strictly (README: A damaged state file): what this program writes is believed, anything
/// else is damage that names the key, and the engine then recovers as after a crash.
struct StateDecodingTests {
    let now = Timestamp(epochSeconds: 1_800_000_000, iso8601: "2027-01-15T08:00:00Z")

    func decode(_ text: String) throws(StateDecodingError) -> SyncState { try SyncState.decode(Array(text.utf8)) }

    @Test func whatTheProgramWritesIsReadBack() throws {
        var state = SyncState()
        state.lastCycleAt = "2027-01-15T08:00:00Z"
        state.lastOutcome = "rejected"
        state.lastSuccessAt = "2024-02-29T23:59:59Z"
        state.lastError = "site_url: \"x\" is not a URL"
        state.consecutiveFailures = 7
        state.reloadOwed = true
        state.serving = false
        state.lastWrittenDigest = "0123456789abcdef"
        state.recentGenerations = ["fedcba9876543210", "0000000000000001"]
        state.certificateWarnings = ["/etc/ssl/a.pem": "2027-01-15"]
        state.applyInProgress = .init(backupPath: "/var/lib/gocd-proxy-sync/backups/gocd.conf.bak", startedAt: now.iso8601)
        #expect(try SyncState.decode(Array(state.json.serialized().utf8)) == state)
    }

    @Test func missingKeysTakeTheirDefaultsAndUnknownKeysAreLeftAlone() throws {
        let state = try decode(#"{"reload_owed": true, "a_newer_versions_key": [1, 2]}"#)
        #expect(state.reloadOwed)
        #expect(state.consecutiveFailures == 0)
        #expect(state.lastSuccessAt == nil)
    }

    @Test(arguments: [
        // not JSON, or not an object
        ("", "empty"),
        (#"{"reload_owed": tr"#, "not JSON"),
        (String(repeating: "\0", count: 64), "not JSON"),
        ("[1, 2]", "not a JSON object but an array"),
        (#""state""#, "not a JSON object but a string"),
        // a wrong type
        (#"{"consecutive_failures": "3"}"#, "consecutive_failures: a string where a number belongs"),
        (#"{"reload_owed": "false"}"#, "reload_owed: a string where true or false belongs"),
        (#"{"reload_owed": 0}"#, "reload_owed: a number where true or false belongs"),
        (#"{"serving": null}"#, "serving: null where true or false belongs"),
        (#"{"last_success_at": 1800000000}"#, "last_success_at: a number where a time belongs"),
        (#"{"last_applied_site_url": ["http://a"]}"#, "last_applied_site_url: an array where a string belongs"),
        (#"{"recent_generations": "0123456789abcdef"}"#, "recent_generations: a string where an array belongs"),
        (#"{"recent_generations": [7]}"#, "recent_generations[0]: a number where a digest belongs"),
        (#"{"certificate_warnings": ["/a"]}"#, "certificate_warnings: an array where an object belongs"),
        (#"{"certificate_warnings": {"/a": true}}"#, #"certificate_warnings["/a"]: true/false where a date belongs"#),
        (#"{"apply_in_progress": true}"#, "apply_in_progress: true/false where an object belongs"),
        (#"{"apply_in_progress": {"started_at": "2027-01-15T08:00:00Z", "backup_path": 3}}"#,
         "apply_in_progress.backup_path: a number where a string belongs"),
        // a value out of range
        (#"{"consecutive_failures": -1}"#, "consecutive_failures: -1 is out of range"),
        (#"{"consecutive_failures": 2.5}"#, "consecutive_failures: 2.5 is out of range"),
        (#"{"consecutive_failures": 1e300}"#, "is out of range"),
        (#"{"consecutive_failures": 1e999}"#, "not JSON (number out of range"),
        (#"{"last_success_at": "yesterday"}"#, #"last_success_at: "yesterday" is not a time"#),
        (#"{"last_cycle_at": "2027-13-01T00:00:00Z"}"#, "last_cycle_at: \"2027-13-01T00:00:00Z\" is not a time"),
        (#"{"last_cycle_at": "2027-02-29T00:00:00Z"}"#, "is not a time"),
        (#"{"last_reload_at": "2027-01-15T24:00:00Z"}"#, "last_reload_at:"),
        (#"{"last_confirmed_at": "2027-01-15 08:00:00"}"#, "last_confirmed_at:"),
        (#"{"last_outcome": "exploded"}"#, #"last_outcome: "exploded" is not an event name"#),
        (#"{"last_written_digest": "xyz"}"#, "last_written_digest: \"xyz\" is not a digest of 16 hexadecimal digits"),
        (#"{"certificate_warnings": {"/a": "2027-01-32"}}"#, "is not a date YYYY-MM-DD"),
        (#"{"apply_in_progress": {}}"#, "apply_in_progress: started_at is missing"),
        (#"{"apply_in_progress": {"started_at": "t"}}"#, "apply_in_progress.started_at: \"t\" is not a time"),
        (#"{"apply_in_progress": {"started_at": "2027-01-15T08:00:00Z", "backup_path": "gocd.conf.bak"}}"#,
         "apply_in_progress.backup_path: \"gocd.conf.bak\" is not an absolute path"),
    ])
    func damageNamesTheKeyAndWhatIsWrong(text: String, expected: String) {
        #expect {
            _ = try decode(text)
        } throws: { error in
            (error as? StateDecodingError)?.description.contains(expected) == true
        }
    }

    @Test(arguments: ["2024-02-29T12:00:00Z", "2027-12-31T23:59:60Z", "1970-01-01T00:00:00Z"])
    func realMomentsAreTimes(text: String) { #expect(SyncState.isTime(text)) }

    @Test(arguments: ["2023-02-29T12:00:00Z", "2027-04-31T00:00:00Z", "2027-00-10T00:00:00Z", "2027-01-15T08:60:00Z",
                      "2027-01-15T08:00:00", "2027-01-15T08:00:00+00:00", "２027-01-15T08:00:00Z"])
    func otherTextIsNot(text: String) { #expect(!SyncState.isTime(text)) }

    // MARK: the engine

    func engine(state: InMemoryStateStore, installed: String?) -> (SyncEngine, ScriptedProxyControl, InMemoryConfigStore, RecordingLogHandler.Records) {
        let store = InMemoryConfigStore(installed)
        let proxy = ScriptedProxyControl(store: store)
        let serving = FakeServing(store: store)
        proxy.serving = serving
        let (logger, records) = RecordingLogHandler.logger(level: .info)
        let engine = SyncEngine(
            settings: Fixtures.settings(),
            source: FakeSiteURLSource(SiteURLs(siteURL: "http://gocd.example.com", secureSiteURL: "https://gocd.example.com")),
            store: store, proxy: proxy, state: state, serving: serving, logger: logger)
        return (engine, proxy, store, records)
    }

    @Test func aDamagedRecordIsKeptSaidAndRecoveredFromAsAfterACrash() async {
        // First the file in place, as an earlier apply left it.
        let first = InMemoryStateStore()
        let (setup, _, store, _) = engine(state: first, installed: nil)
        _ = await setup.runCycle(dryRun: false, now: now)
        let installed = store.text

        let state = InMemoryStateStore()
        state.state.damage = StateDamage(
            file: "/var/lib/gocd-proxy-sync/state.json", problem: "consecutive_failures: a string where a number belongs")
        let (engine, proxy, _, records) = engine(state: state, installed: installed)
        #expect(await engine.runCycle(dryRun: false, now: now) == .unchanged)
        #expect(state.keptDamaged == 1)
        // The file in place is tested, reloaded and confirmed: an owed reload may have been lost with the record.
        #expect(proxy.calls == ["test", "reload"])
        #expect(state.state.serving == true && state.state.lastConfirmedAt == now.iso8601)
        #expect(state.state.damage == nil)
        let warning = records.of("started", atLeast: .warning)
        #expect(warning.count == 1)
        #expect(warning.first?.metadata["file"] == "/var/lib/gocd-proxy-sync/state.json")
        #expect(warning.first?.metadata["damaged_copy"] == "/memory/state.json.damaged-1")
        #expect(warning.first?.metadata["problem"]?.contains("consecutive_failures") == true)
    }

    @Test func aCopyThatCannotBeKeptIsSaidToo() async {
        let state = InMemoryStateStore()
        state.keepFails = true
        state.state.damage = StateDamage(file: "/s/state.json", problem: "empty")
        let (engine, _, _, records) = engine(state: state, installed: nil)
        _ = await engine.runCycle(dryRun: false, now: now)
        let kept = records.of("started", atLeast: .warning).first?.metadata["damaged_copy"] ?? ""
        #expect(kept.contains("not kept (cannot rename /memory/state.json: read-only file system)"))
    }

    @Test func aDryRunSaysSoAndMovesNothing() async {
        let state = InMemoryStateStore()
        state.state.damage = StateDamage(file: "/s/state.json", problem: "empty")
        let (engine, proxy, _, records) = engine(state: state, installed: nil)
        _ = await engine.runCycle(dryRun: true, now: now)
        #expect(state.keptDamaged == 0 && state.saves == 0 && proxy.calls.isEmpty)
        #expect(records.of("started", atLeast: .warning).first?.metadata["file"] == "/s/state.json")
    }
}
