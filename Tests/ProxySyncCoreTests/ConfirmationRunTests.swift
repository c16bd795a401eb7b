import ProxySyncCore
import ProxySyncTestSupport
import Synchronization
import Testing

/// Confirmation after a reload: the run stepped by hand, and driven by ``ServingConfirmer`` on a manual clock.
struct ConfirmationRunTests {
    static let new = "00000000000000aa"
    static let old = "00000000000000bb"
    let https = Listener(scheme: .https, port: 8443, serverName: "gocd.test", action: .proxy)
    let http = Listener(scheme: .http, port: 8080, serverName: "gocd.test", action: .redirect(to: "https://gocd.test:8443"))
    let dropped = Listener(scheme: .https, port: 9443, serverName: "old.test", action: .proxy)

    var plan: ProxyPlan {
        ProxyPlan(listeners: [http, https], siteURL: "http://gocd.test:8080", secureSiteURL: "https://gocd.test:8443")
    }

    func run(superseded: Superseded? = nil, timeout: Double = 5, addresses: [String] = ["127.0.0.1"]) -> ConfirmationRun {
        ConfirmationRun(
            plan: plan, addresses: addresses, generation: Self.new, superseded: superseded, markerStatus: 200,
            certificates: [:], timeoutSeconds: timeout)
    }

    static func marker(_ generation: String) -> Result<ProbeAnswer, ProbeFailure> {
        .success(ProbeAnswer(status: 200, body: "gocd-proxy-sync-generation=\(generation)\n"))
    }

    static let redirected: Result<ProbeAnswer, ProbeFailure> = .success(
        ProbeAnswer(status: 301, location: "https://gocd.test:8443/.well-known/gocd-proxy-sync/generation", body: ""))

    @Test func everyListenerAtEveryAddressAndEachDroppedOneIsATarget() {
        let superseded = Superseded(listeners: [https, dropped], generation: Self.old)
        let targets = run(superseded: superseded, addresses: ["10.0.0.1", "10.0.0.2"]).pending
        #expect(targets.map(\.listener.port) == [8080, 8080, 8443, 8443, 9443, 9443])
        #expect(targets.map(\.retired) == [false, false, false, false, true, true])
        // The same generation again (a reload back to the same text): nothing retired to watch.
        let same = Superseded(listeners: [dropped], generation: Self.new)
        #expect(run(superseded: same).pending.allSatisfy { !$0.retired })
    }

    @Test func aRightAnswerStillAsksWhoAnsweredAndARetiredOneDoesNot() {
        let superseded = Superseded(listeners: [dropped], generation: Self.old)
        let confirmation = run(superseded: superseded)
        let targets = confirmation.pending
        #expect(confirmation.judge(Self.redirected, for: targets[0]) == .askWhoAnswered)
        #expect(confirmation.judge(Self.marker(Self.new), for: targets[1]) == .askWhoAnswered)
        guard case .missed(let what) = confirmation.judge(Self.marker(Self.old), for: targets[1]) else {
            Issue.record("the old generation must miss")
            return
        }
        #expect(what.contains("previous generation"))
        #expect(confirmation.judge(.failure(ProbeFailure("connection refused")), for: targets[2]) == .served)
        guard case .missed(let still) = confirmation.judge(Self.marker(Self.old), for: targets[2]) else {
            Issue.record("a dropped listener still answering from the superseded file must miss")
            return
        }
        #expect(still.contains("did not take"))
    }

    @Test func probeTimeoutsShrinkWithTheTimeLeft() {
        let confirmation = run(timeout: 5)
        #expect(confirmation.probeTimeoutMilliseconds(elapsed: 0) == 2000)
        #expect(confirmation.probeTimeoutMilliseconds(elapsed: 4.5) == 500)
        #expect(confirmation.probeTimeoutMilliseconds(elapsed: 7) == 50)
    }

    @Test func roundsEndWhenAllAnsweredOrTheTimeIsUp() {
        var confirmation = run(timeout: 1)
        let targets = confirmation.pending
        confirmation.record(targets[0], miss: nil)
        confirmation.record(targets[1], miss: "the previous generation (bb, expected aa)")
        #expect(confirmation.endRound(elapsed: 0.2) == nil)
        #expect(confirmation.pending == [targets[1]])
        confirmation.record(targets[1], miss: "connection refused")
        let failed = confirmation.endRound(elapsed: 1.0004)
        #expect(failed?.failedListener == https.origin)
        #expect(failed?.observed == "connection refused after 1000 ms")
        var done = run(timeout: 1)
        for target in done.pending { done.record(target, miss: nil) }
        #expect(done.endRound(elapsed: 0.3) == Confirmation(failedListener: nil, observed: "", elapsedSeconds: 0.3))
    }

    /// The NGINX reload: the old generation answers until the new workers run; the driver polls on the clock.
    @Test func theConfirmerPollsOnTheClockUntilTheNewGenerationAnswers() async {
        let clock = ManualClock()
        let prober = ScriptedProber(clock: clock) { listener, elapsed in
            if elapsed < .milliseconds(30) { return Self.marker(Self.old) }
            return listener.port == 8080 ? Self.redirected : Self.marker(Self.new)
        }
        let confirmer = ServingConfirmer(
            prober: prober, table: StaticSocketTable([ListeningSocket(address: "0.0.0.0", port: 8080, inode: 1),
                ListeningSocket(address: "0.0.0.0", port: 8443, inode: 2)]),
            proxyNames: ["nginx"], clock: clock)
        let confirmation = await Self.drive(clock) { await confirmer.confirm(run(), since: clock.now) }
        #expect(confirmation.confirmed)
        #expect(confirmation.elapsedSeconds == 0.03)
        #expect(prober.probes == 8, "four rounds of two listeners")
    }

    /// Runs `body`, moving `clock` on by one poll interval whenever it sleeps, until it returns.
    static func drive(_ clock: ManualClock, _ body: @escaping @Sendable () async -> ProxySyncCore.Confirmation) async -> ProxySyncCore.Confirmation {
        let done = Done()
        let task = Task {
            let confirmation = await body()
            done.set()
            return confirmation
        }
        while !done.value {
            if clock.sleeperCount > 0 { clock.advance(by: ConfirmationRun.pollInterval) } else { await Task.yield() }
        }
        return await task.value
    }

    @Test func aRightAnswerFromSomeoneElsesSocketDoesNotConfirm() async {
        let clock = ManualClock()
        let prober = ScriptedProber(clock: clock) { _, _ in Self.marker(Self.new) }
        // A local user's socket on the port: the marker it answers is not the proxy's.
        let table = StaticSocketTable([ListeningSocket(address: "127.0.0.1", port: 8443, inode: 7, uid: 1000)])
        let onlyHTTPS = ProxyPlan(listeners: [https], siteURL: "", secureSiteURL: "https://gocd.test:8443")
        let confirmation = ConfirmationRun(
            plan: onlyHTTPS, addresses: ["127.0.0.1"], generation: Self.new, superseded: nil, markerStatus: 200,
            certificates: [:], timeoutSeconds: 0.02)
        let confirmer = ServingConfirmer(prober: prober, table: table, proxyNames: ["nginx"], clock: clock)
        let result = await Self.drive(clock) { await confirmer.confirm(confirmation, since: clock.now) }
        #expect(result.failedListener == https.origin)
        #expect(result.observed.contains("uid 1000"), "\(result.observed)")
        #expect(result.observed.hasSuffix("after 20 ms"), "\(result.observed)")
    }
}

/// Answers by a rule over the listener and the time on the clock; counts probes.
final class ScriptedProber: ListenerProber, @unchecked Sendable {
    let clock: ManualClock
    let start: ManualClock.Instant
    let rule: @Sendable (Listener, Duration) -> Result<ProbeAnswer, ProbeFailure>
    private let count = Mutex(0)
    var probes: Int { count.withLock { $0 } }

    init(clock: ManualClock, rule: @escaping @Sendable (Listener, Duration) -> Result<ProbeAnswer, ProbeFailure>) {
        self.clock = clock
        self.start = clock.now
        self.rule = rule
    }

    func probe(_ listener: Listener, address: String, timeoutMilliseconds: Int, presentedCertificate: Bool) async
        -> Result<ProbeAnswer, ProbeFailure>
    {
        count.withLock { $0 += 1 }
        return rule(listener, start.duration(to: clock.now))
    }
}

/// The same sockets every time; no holder is visible (as under the unit).
struct StaticSocketTable: SocketTableReader {
    let sockets: [ListeningSocket]
    init(_ sockets: [ListeningSocket]) { self.sockets = sockets }
    func listening(on ports: Set<Int>) -> [ListeningSocket] { sockets.filter { ports.contains($0.port) } }
    func holders(of inodes: Set<UInt64>) -> [UInt64: [SocketHolder]] { [:] }
}

final class Done: Sendable {
    private let flag = Mutex(false)
    var value: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
