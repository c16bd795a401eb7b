import ArgumentParser
import ProxySyncCore
import ProxySyncSystem

/// One cycle, then exit with the codes in README's "Exit codes".
struct Once: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run one sync cycle and exit (0 in sync, 2 config, 3 GoCD, 4 rejected, 5 test failed, 6 reload failed, 7 write failed, 8 locked, 9 proxy already broken, 10 not served)."
    )

    @OptionGroup var options: CommonOptions

    @Flag(name: .long, help: "Fetch, derive, render and diff; print the diffs; write, test and reload nothing.")
    var dryRun = false

    func run() async throws {
        let logger = options.bootstrapLogging()
        let (bootstrap, engine) = try options.engine(logger)
        bootstrap.warnAtStart(logger)
        if dryRun {
            let outcome = await engine.runCycle(dryRun: true, now: WallClock.now())
            if case .dryRun(let semantic, let unified, let pending) = outcome {
                print(pending ? "change pending: \(semantic)" : "in sync: \(semantic)")
                if !unified.isEmpty { print(unified, terminator: "") }
                return
            }
            throw ExitCode(outcome.exitStatus)
        }
        let lock = try options.takeLock(bootstrap, logger)
        defer { withExtendedLifetime(lock) {} }
        // With [metrics] textfile, the file is written once at the end: its counters count this one cycle.
        let metrics = MetricsExporter.start(bootstrap.settings, logger: logger)
        metrics?.prime(engine.state.load())
        let started = Monotonic.seconds()
        let outcome = await (metrics?.instrument(engine) ?? engine).runCycle(dryRun: false, now: WallClock.now())
        metrics?.cycleFinished(
            outcome, state: engine.state.load(), now: WallClock.now(), cycleSeconds: Monotonic.seconds() - started,
            certificate: bootstrap.settings.proxy.tlsCertificate)
        if outcome.exitStatus != .ok { throw ExitCode(outcome.exitStatus) }
    }
}
