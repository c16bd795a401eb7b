import Glibc
import Logging
import ProxySyncCore
import ServiceLifecycle
import UnixSignals

/// `run`: cycles forever as a ServiceLifecycle service.
///
/// - Important: graceful shutdown (SIGTERM/SIGINT) ends the wait between cycles at once, but never
///   interrupts a cycle: a write → test → reload in progress always completes.
public final class SyncDaemon: Service, @unchecked Sendable {
    var bootstrap: Bootstrap
    var engine: SyncEngine
    let logger: Logger
    let notifier: SystemdNotifier
    let doorbell = Doorbell()
    let clock = ContinuousClock()
    /// Half of `$WATCHDOG_USEC`, when systemd wants pings.
    let watchdogInterval: Duration?
    var lastChangeEpoch: Int64?

    public init(bootstrap: Bootstrap, engine: SyncEngine, logger: Logger) {
        self.bootstrap = bootstrap
        self.engine = engine
        self.logger = logger
        self.notifier = SystemdNotifier(environment: bootstrap.environment)
        if let text = bootstrap.environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        let doorbell = self.doorbell
        let hupTask = Task {
            for await _ in signals { await doorbell.ring(.reload) }
        }
        defer { hupTask.cancel() }
        await withGracefulShutdownHandler {
            await loop()
        } onGracefulShutdown: {
            Task { await doorbell.ring(.shutdown) }
        }
        logger.notice("stopping", metadata: ["event": "stopping"])
        notifier.stopping()
    }

    func loop() async {
        var backoff = Backoff(intervalSeconds: bootstrap.settings.sync.intervalSeconds,
                              maxBackoffSeconds: bootstrap.settings.sync.maxBackoffSeconds)
        var first = true
        while true {
            if await doorbell.take() == .shutdown { return }
            let outcome = await engine.runCycle(dryRun: false, now: WallClock.now())
            let now = WallClock.now()
            if case .applied = outcome { lastChangeEpoch = now.epochSeconds }
            let delay = backoff.next(after: outcome, jitter: Double.random(in: -1...1))
            let status = statusLine(outcome, delay: delay, now: now)
            if first {
                notifier.ready(status: status)
                first = false
            } else {
                notifier.status(status)
            }
            notifier.watchdog()
            switch await wait(seconds: delay) {
            case .shutdown:
                return
            case .reload:
                reloadConfig()
                backoff = Backoff(intervalSeconds: bootstrap.settings.sync.intervalSeconds,
                                  maxBackoffSeconds: bootstrap.settings.sync.maxBackoffSeconds)
            case nil:
                break
            }
        }
    }

    /// Waits for `seconds`, pinging the watchdog; returns early on a ring.
    func wait(seconds: Double) async -> Doorbell.Ring? {
        let deadline = clock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
        while clock.now < deadline {
            let remaining = clock.now.duration(to: deadline)
            let slice = watchdogInterval.map { min($0, remaining) } ?? remaining
            let doorbell = self.doorbell
            let clock = self.clock
            let ring: Doorbell.Ring?? = await withTaskGroup(of: Doorbell.Ring??.self) { group in
                group.addTask { await doorbell.next() }
                group.addTask {
                    try? await clock.sleep(for: slice)
                    return .some(nil)
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            if case .some(.some(let ring)) = ring { return ring }
            if watchdogInterval != nil { notifier.watchdog() }
        }
        return nil
    }

    /// SIGHUP: re-read the config; keep the old one if the new one is invalid.
    func reloadConfig() {
        notifier.reloading(monotonicMicroseconds: Self.monotonicMicroseconds())
        do {
            let fresh = try Bootstrap(configOption: bootstrap.configPath)
            let freshEngine = try fresh.makeEngine(logger: logger)
            if fresh.settings.sync.stateDir != bootstrap.settings.sync.stateDir {
                logger.warning("state_dir changed: the new directory is used after a restart", metadata: ["event": "config_reloaded"])
            }
            bootstrap = fresh
            engine = freshEngine
            fresh.warnAtStart(logger)
            logger.notice("configuration re-read", metadata: ["event": "config_reloaded", "config": "\(fresh.configPath)"])
        } catch {
            logger.error("the new configuration is invalid; keeping the previous one", metadata: ["event": "config_invalid", "error": "\(error)"])
        }
        notifier.notify("READY=1")
    }

    func statusLine(_ outcome: CycleOutcome, delay: Double, now: Timestamp) -> String {
        let state = engine.state.load()
        let origin = [state.lastAppliedSecureSiteURL, state.lastAppliedSiteURL].compactMap { $0 }.first { !$0.isEmpty } ?? "nothing yet"
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
        case .writeFailed(let error):
            return "cannot write: \(error)\(next)"
        }
    }

    static func ago(_ seconds: Int64) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86_400 { return "\(seconds / 3600)h" }
        return "\(seconds / 86_400)d"
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}
