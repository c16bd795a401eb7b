import CoreMetrics
import Glibc
import Logging
import Prometheus
import ProxySyncCore
import Synchronization

/// `[metrics] textfile`: keeps the metrics of this process and writes them for node_exporter's textfile collector
/// after every cycle.
///
/// Only built when `textfile` is set: without it there is no registry, no wrapped source and no file, so metrics
/// cost nothing. A file that cannot be written is one `write_failed` warning per process (and per new path after a
/// SIGHUP), never a failed cycle.
public final class MetricsExporter: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let metrics: SyncMetrics
    let logger: Logger

    struct Target {
        var textfile: String?
        var warned = false
        var certificate = CertificateExpiry()
    }

    let target: Mutex<Target>

    /// An exporter on its own registry and factory (tests); ``start(_:logger:)`` is the process's.
    public init(textfile: String?, registry: PrometheusCollectorRegistry, factory: any MetricsFactory, logger: Logger) {
        self.registry = registry
        self.metrics = SyncMetrics(factory: factory, version: Version.string, libcurl: Self.libcurlVersion)
        self.logger = logger
        self.target = Mutex(Target(textfile: textfile))
    }

    /// An exporter on a fresh registry of its own, without touching `MetricsSystem` (tests, benchmarks).
    public convenience init(textfile: String?, logger: Logger) {
        let registry = PrometheusCollectorRegistry()
        self.init(textfile: textfile, registry: registry, factory: Self.makeFactory(registry: registry), logger: logger)
    }

    /// The process's exporter when `settings.metrics.textfile` is set, else nil. The first call bootstraps
    /// swift-metrics (`MetricsSystem.bootstrap`, once per process) with a Prometheus registry.
    public static func start(_ settings: Settings, logger: Logger) -> MetricsExporter? {
        guard let textfile = settings.metrics.textfile else { return nil }
        let registry = processRegistry.withLock { registry in
            if let registry { return registry }
            let fresh = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(makeFactory(registry: fresh))
            registry = fresh
            return fresh
        }
        return MetricsExporter(textfile: textfile, registry: registry, factory: MetricsSystem.factory, logger: logger)
    }

    /// The registry `MetricsSystem` was bootstrapped with, once set (bootstrapping twice is a crash).
    private static let processRegistry = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The Prometheus factory with this program's histogram buckets (seconds).
    public static func makeFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[SyncMetrics.Name.gocdRequestDuration] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
            .seconds(30),
        ]
        factory.durationHistogramBuckets[SyncMetrics.Name.applyDuration] = [
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
        ]
        return factory
    }

    /// "8.14.1" from libcurl's "libcurl/8.14.1 OpenSSL/3.5.1 …".
    static var libcurlVersion: String {
        let first = CurlClient.version.split(separator: " ").first.map(String.init) ?? ""
        return first.hasPrefix("libcurl/") ? String(first.dropFirst("libcurl/".count)) : first
    }

    public var textfile: String? { target.withLock { $0.textfile } }

    /// `engine` with its GoCD source timed into `gocd_proxy_sync_gocd_request_duration_seconds`.
    public func instrument(_ engine: SyncEngine) -> SyncEngine {
        var timed = engine
        if !(engine.source is TimedSiteURLSource) {
            timed.source = TimedSiteURLSource(engine.source, timer: metrics.gocdRequestDuration)
        }
        return timed
    }

    /// Sets the gauges from the state found at start-up (before this process's first cycle).
    public func prime(_ state: SyncState) { metrics.prime(state) }

    /// Records a finished cycle (see ``SyncMetrics/observe(_:state:now:cycleSeconds:)``), reads the certificate's
    /// expiry when due, and writes the textfile. Nothing at all while metrics are turned off (SIGHUP).
    public func cycleFinished(
        _ outcome: CycleOutcome, state: SyncState, now: Timestamp, cycleSeconds: Double, certificate: String?
    ) {
        guard textfile != nil else { return }
        metrics.observe(outcome, state: state, now: now, cycleSeconds: cycleSeconds)
        let notAfter = target.withLock { $0.certificate.notAfter(path: certificate, monotonicNow: Monotonic.seconds()) }
        metrics.setCertificate(path: notAfter == nil ? nil : certificate, notAfter: notAfter)
        export()
    }

    /// The text exposition, with `# HELP` lines.
    public func exposition() -> [UInt8] {
        Exposition.withHelp(registry.emitToBuffer(), help: SyncMetrics.help)
    }

    /// Writes the exposition to the textfile. Returns false when it could not (warned about once).
    @discardableResult
    public func export() -> Bool {
        guard let path = textfile else { return true }
        do {
            try TextfileWriter.write(exposition(), to: path)
            return true
        } catch {
            let first = target.withLock { target in
                defer { target.warned = true }
                return !target.warned
            }
            let metadata: Logger.Metadata = ["event": Event.writeFailed.value, "file": "\(path)", "error": "\(error)"]
            if first {
                logger.warning(
                    "cannot write the metrics textfile \(path); syncing goes on without it: create the directory (node_exporter's --collector.textfile.directory) and let this service write there (systemd: ReadWritePaths=), or remove [metrics] textfile. Not repeated until a restart",
                    metadata: metadata)
            } else {
                logger.debug("the metrics textfile is still not writable", metadata: metadata)
            }
            return false
        }
    }

    /// SIGHUP: follow a changed `[metrics] textfile`. The file this process wrote at the old path is removed
    /// (node_exporter would otherwise export its last values forever); a new path gets its own one warning.
    public func retarget(_ textfile: String?) {
        let old: String? = target.withLock { target in
            guard target.textfile != textfile else { return nil }
            defer {
                target.textfile = textfile
                target.warned = false
            }
            return target.textfile
        }
        guard let old else { return }
        unlink(old)
        logger.notice(
            textfile == nil ? "metrics turned off; removed the textfile" : "metrics textfile moved; removed the old one",
            metadata: ["event": Event.configReloaded.value, "file": "\(old)", "new_file": "\(textfile ?? "none")"])
    }
}
