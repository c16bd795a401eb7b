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
        let (bootstrap, engine) = try options.engine(logger)
        let lock = try options.takeLock(bootstrap, logger)
        defer { withExtendedLifetime(lock) {} }
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
        let daemon = SyncDaemon(bootstrap: bootstrap, engine: engine, logger: logger, metrics: metrics)
        var quiet = logger
        quiet.logLevel = .error
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: daemon)], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        try await group.run()
    }
}
