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
        let (daemon, lock) = try start(logger)
        defer { withExtendedLifetime(lock) {} }
        var quiet = logger
        quiet.logLevel = .error
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: daemon)], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        try await group.run()
    }

    /// The daemon with the first engine. Only the daemon holds that engine: it replaces it on SIGHUP, and a
    /// local of `run()` would keep the first GoCD client, its curl handle and its connection, for the life of
    /// the process (found by `make soak`: after a SIGHUP, a connection to a restarted GoCD stayed in CLOSE_WAIT).
    private func start(_ logger: Logger) throws -> (SyncDaemon, StateLock) {
        let (bootstrap, engine) = try options.engine(logger)
        let lock = try options.takeLock(bootstrap, logger)
        logger.notice(
            "the daemon is running",
            metadata: [
                "event": Event.started.value, "version": "\(Version.string)", "config": "\(bootstrap.configPath)",
                "gocd": "\(bootstrap.settings.gocd.serverURL)", "output": "\(bootstrap.settings.proxy.output)",
                "kind": "\(bootstrap.settings.proxy.kind.rawValue)",
                "interval_seconds": "\(bootstrap.settings.sync.intervalSeconds)",
            ])
        bootstrap.warnAtStart(logger)
        let metrics = MetricsExporter.start(bootstrap.settings, logger: logger)
        metrics?.prime(engine.state.load())
        return (SyncDaemon(bootstrap: bootstrap, engine: engine, logger: logger, metrics: metrics), lock)
    }
}
