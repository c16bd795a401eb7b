import Glibc
import Logging
import ProxySyncCore
import ServiceLifecycle
import UnixSignals

/// `run`: cycles forever as a ServiceLifecycle service.
///
/// - Important: graceful shutdown (SIGTERM/SIGINT) ends the wait between cycles at once, but never
///   interrupts a cycle: a write → test → reload in progress always completes.
public final class SyncDaemon: Service, PollLoopDriver, @unchecked Sendable {
    var bootstrap: Bootstrap
    var engine: SyncEngine
    let logger: Logger
    let notifier: SystemdNotifier
    /// Runs the poll loop: cycles, their blocking work and the waits between them, on one thread.
    let loopThread = LoopThread()
    /// Half of `$WATCHDOG_USEC`, when systemd wants pings.
    let watchdogInterval: Duration?
    var lastChangeEpoch: Int64?
    /// The last cycle that ended in sync, for the live record (`state.json` is not written when nothing changed).
    var lastSuccessAt: String?
    /// `[metrics] textfile`: written after every cycle; nil when metrics are off.
    var metrics: MetricsExporter?
    /// When the cycle in progress started (monotonic seconds), for the apply-duration histogram.
    var cycleStartedAt = 0.0

    /// `metrics`, when given, is told about every finished cycle and times the engine's GoCD requests.
    public init(bootstrap: Bootstrap, engine: SyncEngine, logger: Logger, metrics: MetricsExporter? = nil) {
        self.bootstrap = bootstrap
        self.engine = metrics?.instrument(engine) ?? engine
        self.logger = logger
        self.metrics = metrics
        self.notifier = SystemdNotifier(environment: bootstrap.environment)
        if let text = bootstrap.environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        let loopThread = self.loopThread
        let hupTask = Task {
            for await _ in signals { loopThread.ring(.reload) }
        }
        defer {
            hupTask.cancel()
            loopThread.stop()
        }
        await withGracefulShutdownHandler {
            await withTaskExecutorPreference(loopThread) { await loop() }
        } onGracefulShutdown: {
            loopThread.ring(.shutdown)
        }
        logger.notice("stop requested: no cycle in progress; exiting", metadata: ["event": Event.stopping.value])
        notifier.stopping()
    }

    func loop() async {
        let poll = PollLoop(
            clock: ContinuousClock(), waiter: loopThread, watchdogInterval: watchdogInterval,
            jitter: { Double.random(in: -1...1) })
        await poll.run(
            self, intervalSeconds: bootstrap.settings.sync.intervalSeconds,
            maxBackoffSeconds: bootstrap.settings.sync.maxBackoffSeconds)
    }

    public func cycle() async -> CycleOutcome {
        cycleStartedAt = Monotonic.seconds()
        return await engine.runCycle(dryRun: false, now: WallClock.now())
    }

    public func cycleFinished(_ outcome: CycleOutcome, nextDelaySeconds: Double, first: Bool) {
        let now = WallClock.now()
        metrics?.cycleFinished(
            outcome, state: engine.state.load(), now: now, cycleSeconds: Monotonic.seconds() - cycleStartedAt,
            certificate: bootstrap.settings.proxy.tlsCertificate)
        if case .applied = outcome { lastChangeEpoch = now.epochSeconds }
        if outcome.isSuccess { lastSuccessAt = now.iso8601 }
        let live = LiveRecord.path(environment: bootstrap.environment)
        // Outside systemd (no notify socket, no runtime directory) nobody reads the status line.
        guard live != nil || notifier.isActive else { return }
        let status = statusLine(outcome, delay: nextDelaySeconds, now: now)
        if let live {
            LiveRecord.write(
                to: live, outcome: outcome, now: now, lastSuccess: lastSuccessAt ?? engine.state.load().lastSuccessAt,
                nextCheckSeconds: nextDelaySeconds, status: status)
        }
        // One datagram per cycle: the status, READY after the first cycle, and the watchdog ping.
        notifier.report(status: status, ready: first, watchdog: watchdogInterval != nil)
    }

    public func watchdogPing() { notifier.watchdog() }

    /// SIGHUP: re-read the config; keep the old one if the new one is invalid.
    public func reloadConfiguration() -> (intervalSeconds: Double, maxBackoffSeconds: Double) {
        notifier.reloading(monotonicMicroseconds: Monotonic.microseconds())
        do {
            var fresh = try Bootstrap(configOption: bootstrap.configPath)
            if fresh.settings.sync.stateDir != bootstrap.settings.sync.stateDir {
                // The lock is held in the old directory: state and backups stay there until a restart.
                fresh.settings.sync.stateDir = bootstrap.settings.sync.stateDir
                logger.warning(
                    "state_dir changed: the new directory is used after a restart", metadata: ["event": Event.configReloaded.value])
            }
            try fresh.checkDirectories()
            engine = try fresh.makeEngine(logger: logger)
            bootstrap = fresh
            updateMetrics(fresh.settings)
            fresh.warnAtStart(logger)
            logger.notice("configuration re-read", metadata: ["event": Event.configReloaded.value, "config": "\(fresh.configPath)"])
        } catch {
            logger.error(
                "the new configuration is invalid; keeping the previous one",
                metadata: ["event": Event.configInvalid.value, "error": "\(error)"])
        }
        notifier.notify("READY=1")
        return (bootstrap.settings.sync.intervalSeconds, bootstrap.settings.sync.maxBackoffSeconds)
    }

    /// SIGHUP: metrics follow `[metrics] textfile`; turned on now, swift-metrics is bootstrapped now (still once).
    func updateMetrics(_ settings: Settings) {
        if let metrics {
            let wasOff = metrics.textfile == nil
            metrics.retarget(settings.metrics.textfile)
            // Nothing was recorded while off: start again from the state file.
            if wasOff, metrics.textfile != nil { metrics.prime(engine.state.load()) }
        } else if let started = MetricsExporter.start(settings, logger: logger) {
            started.prime(engine.state.load())
            metrics = started
        }
        if let metrics, metrics.textfile != nil { engine = metrics.instrument(engine) }
    }

    func statusLine(_ outcome: CycleOutcome, delay: Double, now: Timestamp) -> String {
        let state = engine.state.load()
        let origin =
            [state.lastAppliedSecureSiteURL, state.lastAppliedSiteURL].compactMap { $0 }.first { !$0.isEmpty } ?? "nothing yet"
        var since = ""
        if let last = lastChangeEpoch { since = " · last change \(Self.ago(now.epochSeconds - last)) ago" }
        let next = " · next check in \(Int(delay.rounded()))s"
        switch outcome {
        case .unchanged, .applied, .dryRun:
            return "in sync with \(origin)\(since)\(next)"
        case .nothingToDerive:
            return "GoCD has no site URLs set; keeping the current file\(next)"
        case .gocdError(let error):
            return "GoCD error (\(state.consecutiveFailures) in a row): \(error)\(next)"
        case .rejected(let rejection):
            return "rejected \(rejection.field): \(rejection.reason); serving the previous file\(next)"
        case .testFailed:
            return "config test failed on the new file; previous file restored\(next)"
        case .proxyBroken:
            return "proxy config already broken; previous file restored\(next)"
        case .reloadFailed:
            return "reload failed; retrying\(next)"
        case .notServing(let what):
            return "NOT SERVING the new file (\(what))\(next)"
        case .writeFailed(let error):
            return "cannot write: \(error)\(next)"
        }
    }

    public static func ago(_ seconds: Int64) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86_400 { return "\(seconds / 3600)h" }
        return "\(seconds / 86_400)d"
    }

}
