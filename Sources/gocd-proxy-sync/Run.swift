import ArgumentParser
import Logging
import ProxySyncCore
import ProxySyncSystem
import ServiceLifecycle

/// The daemon: cycles forever in the foreground; systemd supervises it.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: sync every interval_seconds until SIGTERM; SIGHUP re-reads the config.")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let logger = options.bootstrapLogging()
        let bootstrap = try options.load(logger)
        let engine: SyncEngine
        do {
            engine = try bootstrap.makeEngine(logger: logger)
        } catch {
            logger.error("invalid configuration", metadata: ["event": "config_invalid", "error": "\(error)"])
            throw ExitCode(2)
        }
        let lock: StateLock
        do {
            lock = try StateLock(stateDir: bootstrap.settings.sync.stateDir)
        } catch {
            if case .held = error {
                logger.error("another instance is running", metadata: ["event": "stopping", "error": "\(error)"])
                throw ExitCode(8)
            }
            logger.error("cannot use the state directory", metadata: ["event": "write_failed", "error": "\(error)"])
            throw ExitCode(7)
        }
        defer { withExtendedLifetime(lock) {} }
        logger.notice("started", metadata: [
            "event": "started", "version": "\(Version.string)", "config": "\(bootstrap.configPath)",
            "gocd": "\(bootstrap.settings.gocd.serverURL)", "output": "\(bootstrap.settings.proxy.output)",
            "kind": "\(bootstrap.settings.proxy.kind.rawValue)", "interval_seconds": "\(bootstrap.settings.sync.intervalSeconds)",
        ])
        bootstrap.warnAtStart(logger)
        let stale = AtomicFile.removeStaleTemporaries(near: bootstrap.settings.proxy.output)
        if !stale.isEmpty {
            logger.notice("removed temporary files left by an interrupted run", metadata: ["event": "started", "files": "\(stale.joined(separator: ","))"])
        }
        let daemon = SyncDaemon(bootstrap: bootstrap, engine: engine, logger: logger)
        var quiet = logger
        quiet.logLevel = .error
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: daemon)], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        try await group.run()
    }
}
