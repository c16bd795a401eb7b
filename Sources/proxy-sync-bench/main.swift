// proxy-sync-bench: measures the daemon's own cycle in one process, for Benchmarks/bench.py.
//
//   proxy-sync-bench unchanged CONFIG CYCLES   cycles against a real GoCD (stand-in) with nothing to change
//   proxy-sync-bench apply CONFIG CHANGES      applies alternating plans with the real files and commands,
//                                              timing the commands, the pre-flight and the confirmation apart
//                                              from the daemon's own work
// Prints one JSON object.
import Glibc
import Logging
import ProxySyncCore
import ProxySyncSystem

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

/// Times the proxy's commands so the daemon's own share of an apply can be separated.
final class TimedProxyControl: ProxyControl, @unchecked Sendable {
    let inner: CommandProxyControl
    var commandSeconds = 0.0
    init(_ inner: CommandProxyControl) { self.inner = inner }
    func test() async -> CommandResult { await timed { await inner.test() } }
    func reload() async -> CommandResult { await timed { await inner.reload() } }
    func testStaged(_ bytes: [UInt8]) async -> StagedTest {
        let start = Monotonic.seconds()
        defer { commandSeconds += Monotonic.seconds() - start }
        return await inner.testStaged(bytes)
    }
    func timed(_ body: () async -> CommandResult) async -> CommandResult {
        let start = Monotonic.seconds()
        let result = await body()
        commandSeconds += Monotonic.seconds() - start
        return result
    }
}

/// Times the serving checks: the pre-flight (ports, certificates, `nginx -T` for other sites) and the wait for
/// the proxy to serve the new file, which is mostly the proxy's own reload.
final class TimedServingCheck: ServingCheck, @unchecked Sendable {
    let inner: any ServingCheck
    var preflightSeconds = 0.0
    var confirmSeconds = 0.0
    init(_ inner: any ServingCheck) { self.inner = inner }
    func preflight(_ plan: ProxyPlan) async -> PreflightReport {
        let start = Monotonic.seconds()
        defer { preflightSeconds += Monotonic.seconds() - start }
        return await inner.preflight(plan)
    }
    func confirm(_ plan: ProxyPlan, generation: String?, superseded: Superseded?) async -> Confirmation {
        let start = Monotonic.seconds()
        defer { confirmSeconds += Monotonic.seconds() - start }
        return await inner.confirm(plan, generation: generation, superseded: superseded)
    }
    func endToEnd(_ plan: ProxyPlan, generation: String?) async -> [Notice] {
        let start = Monotonic.seconds()
        defer { confirmSeconds += Monotonic.seconds() - start }
        return await inner.endToEnd(plan, generation: generation)
    }
    func proxyRunning() -> Bool? { inner.proxyRunning() }
    func diagnose(testOutput: String) async -> String? { await inner.diagnose(testOutput: testOutput) }
    func certificateNotices(_ plan: ProxyPlan) async -> [Notice] { await inner.certificateNotices(plan) }
}

/// Alternates between two sets of site URLs.
final class AlternatingSource: SiteURLSource, @unchecked Sendable {
    let a: SiteURLs
    let b: SiteURLs
    var count = 0
    init(_ a: SiteURLs, _ b: SiteURLs) {
        self.a = a
        self.b = b
    }
    func fetchSiteURLs() async throws(GoCDError) -> SiteURLs {
        count += 1
        return count % 2 == 0 ? a : b
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else {
    print("usage: proxy-sync-bench unchanged|apply CONFIG N")
    exit(2)
}
var logger = Logger(label: "bench")
logger.logLevel = .critical
let bootstrap = try Bootstrap(configOption: arguments[2])

switch arguments[1] {
case "unchanged":
    let (source, client, _) = try bootstrap.makeSource()
    let engine = bootstrap.makeEngine(
        source: source, proxy: CommandProxyControl(settings: bootstrap.settings.proxy, stateDirectory: bootstrap.settings.sync.stateDir), logger: logger)
    // One warm-up cycle applies the file; the measured cycles then find nothing to change.
    let first = await engine.runCycle(dryRun: false, now: WallClock.now())
    let before = client.traffic
    let cpu0 = cpuSeconds()
    let wall0 = Monotonic.seconds()
    var unchanged = 0
    for _ in 0..<count where await engine.runCycle(dryRun: false, now: WallClock.now()) == .unchanged {
        unchanged += 1
    }
    let cpu = cpuSeconds() - cpu0
    let wall = Monotonic.seconds() - wall0
    let after = client.traffic
    print(
        """
        {"mode": "unchanged", "first": "\(first.event)", "cycles": \(count), "unchanged": \(unchanged), \
        "cpu_ms_per_cycle": \(cpu * 1000 / Double(count)), "wall_ms_per_cycle": \(wall * 1000 / Double(count)), \
        "requests": \(after.requests - before.requests), \
        "bytes_sent_per_cycle": \(Double(after.sent - before.sent) / Double(count)), \
        "bytes_received_per_cycle": \(Double(after.received - before.received) / Double(count))}
        """)
case "apply":
    // Both plans are covered by the bench certificate (CN gocd.bench), so every change is applied for real:
    // pre-flight, write, nginx -t, reload, confirmation and the end-to-end request.
    let proxy = TimedProxyControl(CommandProxyControl(settings: bootstrap.settings.proxy, stateDirectory: bootstrap.settings.sync.stateDir))
    let source = AlternatingSource(
        SiteURLs(siteURL: "http://gocd.bench:18080", secureSiteURL: "https://gocd.bench:18443"),
        SiteURLs(siteURL: "http://gocd.bench:18080", secureSiteURL: "https://gocd.bench:18444"))
    var engine = bootstrap.makeEngine(source: source, proxy: proxy, logger: logger)
    let serving = TimedServingCheck(engine.serving)
    engine.serving = serving
    _ = await engine.runCycle(dryRun: false, now: WallClock.now())
    proxy.commandSeconds = 0
    serving.preflightSeconds = 0
    serving.confirmSeconds = 0
    var totals: [Double] = []
    var own: [Double] = []
    var applied = 0
    for _ in 0..<count {
        let before = (proxy.commandSeconds, serving.preflightSeconds, serving.confirmSeconds)
        let start = Monotonic.seconds()
        if case .applied = await engine.runCycle(dryRun: false, now: WallClock.now()) { applied += 1 }
        let total = Monotonic.seconds() - start
        let outside =
            (proxy.commandSeconds - before.0) + (serving.preflightSeconds - before.1) + (serving.confirmSeconds - before.2)
        totals.append(total * 1000)
        own.append((total - outside) * 1000)
    }
    func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
    let n = Double(count)
    print(
        """
        {"mode": "apply", "changes": \(count), "applied": \(applied), \
        "total_ms_p50": \(percentile(totals, 0.5)), "total_ms_p95": \(percentile(totals, 0.95)), \
        "overhead_ms_p50": \(percentile(own, 0.5)), "overhead_ms_p95": \(percentile(own, 0.95)), \
        "commands_ms_per_apply": \(proxy.commandSeconds * 1000 / n), \
        "preflight_ms_per_apply": \(serving.preflightSeconds * 1000 / n), \
        "confirm_ms_per_apply": \(serving.confirmSeconds * 1000 / n)}
        """)
default:
    print("unknown mode \(arguments[1])")
    exit(2)
}
