import Logging
import ProxySyncTestSupport
import Testing

@testable import ProxySyncCore

/// A refused plan is an error in the log once per change of what is refused, and again at most hourly; every
/// cycle still ends `rejected` (exit 4, the metrics' outcome, the STATUS line).
struct RejectionLogTests {
    let start: Int64 = 1_800_000_000

    func at(_ seconds: Int64) -> Timestamp {
        Timestamp(epochSeconds: start + seconds, iso8601: "2027-01-15T08:00:00Z")
    }

    let good = SiteURLs(siteURL: "http://gocd.example.com", secureSiteURL: "https://gocd.example.com")
    let hostile = SiteURLs(siteURL: "http://x;include /etc/shadow;", secureSiteURL: "https://gocd.example.com")
    let otherHostile = SiteURLs(siteURL: "http://y{", secureSiteURL: "https://gocd.example.com")

    func make() -> (SyncEngine, FakeSiteURLSource, FakeServing, RecordingLogHandler.Records) {
        let source = FakeSiteURLSource(good)
        let store = InMemoryConfigStore()
        let proxy = ScriptedProxyControl(store: store)
        let serving = FakeServing(store: store)
        proxy.serving = serving
        let (logger, records) = RecordingLogHandler.logger(level: .trace)
        let engine = SyncEngine(
            settings: Fixtures.settings(), source: source, store: store, proxy: proxy, state: InMemoryStateStore(),
            serving: serving, logger: logger)
        return (engine, source, serving, records)
    }

    /// The `rejected` lines an operator sees at the default level (info), and at debug.
    func errors(_ records: RecordingLogHandler.Records) -> Int { records.of("rejected", atLeast: .error).count }
    func debugs(_ records: RecordingLogHandler.Records) -> Int {
        records.of("rejected").filter { $0.level == .debug }.count
    }

    @Test func aRejectedSiteURLIsLoggedOncePerChangeAndAgainHourly() async {
        let (engine, source, _, records) = make()
        #expect(await engine.runCycle(dryRun: false, now: at(0)).exitCode == 0)
        source.set(.success(hostile))
        for cycle in 0..<10 {
            let outcome = await engine.runCycle(dryRun: false, now: at(30 + Int64(cycle) * 30))
            #expect(outcome.exitCode == 4, "every cycle is still refused")
        }
        #expect(errors(records) == 1)
        #expect(debugs(records) == 9, "the repeats are there at debug level")
        #expect(records.of("rejected", atLeast: .error).first?.metadata["value"]?.contains("shadow") == true)

        // Another rejected value: news, logged at once.
        source.set(.success(otherHostile))
        _ = await engine.runCycle(dryRun: false, now: at(400))
        _ = await engine.runCycle(dryRun: false, now: at(430))
        #expect(errors(records) == 2)

        // The same value an hour after it was last logged: once more.
        _ = await engine.runCycle(dryRun: false, now: at(400 + 3599))
        #expect(errors(records) == 2)
        _ = await engine.runCycle(dryRun: false, now: at(400 + 3600))
        _ = await engine.runCycle(dryRun: false, now: at(400 + 3630))
        #expect(errors(records) == 3)
    }

    @Test func aGoCDErrorInBetweenIsNoChangeButAnAcceptedPlanIs() async {
        let (engine, source, _, records) = make()
        source.set(.success(hostile))
        _ = await engine.runCycle(dryRun: false, now: at(0))
        source.set(.failure(.unavailable(message: "starting")))
        #expect(await engine.runCycle(dryRun: false, now: at(30)).exitCode == 3)
        source.set(.success(hostile))
        _ = await engine.runCycle(dryRun: false, now: at(60))
        #expect(errors(records) == 1, "the value GoCD sends did not change")
        source.set(.success(good))
        #expect(await engine.runCycle(dryRun: false, now: at(90)).exitCode == 0)
        source.set(.success(hostile))
        _ = await engine.runCycle(dryRun: false, now: at(120))
        #expect(errors(records) == 2, "refused again after being accepted: news")
    }

    @Test func aPreflightRefusalIsLoggedOncePerChangeOfItsReason() async {
        let (engine, _, serving, records) = make()
        serving.refusals = [Refusal(listener: "https://gocd.example.com:443", reason: "port 443 is held by python3 (pid 7)")]
        for cycle in 0..<5 {
            #expect(await engine.runCycle(dryRun: false, now: at(Int64(cycle) * 30)).exitCode == 4)
        }
        #expect(errors(records) == 1)
        serving.refusals = [Refusal(listener: "https://gocd.example.com:443", reason: "port 443 is held by python3 (pid 9)")]
        _ = await engine.runCycle(dryRun: false, now: at(200))
        _ = await engine.runCycle(dryRun: false, now: at(230))
        #expect(errors(records) == 2)
    }
}
