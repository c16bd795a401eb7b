import ArgumentParser
import Logging
import ProxySyncCore
import ProxySyncSystem

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Options every subcommand takes after its name.
struct CommonOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The config file (default: $GOCD_PROXY_SYNC_CONFIG, then /etc/gocd-proxy-sync/config.toml).", valueName: "path"))
    var config: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning or error.")
    var logLevel: Logger.Level = .info

    /// Sets up logging for the process (each run of the program runs exactly one subcommand, which calls
    /// this once) and returns the root logger.
    func bootstrapLogging() -> Logger {
        let sink = LogSink.fromEnvironment(Bootstrap.processEnvironment)
        let level = logLevel
        LoggingSystem.bootstrap { _ in ProxySyncLogHandler(sink: sink, level: level) }
        return Logger(label: "gocd-proxy-sync")
    }

    /// Loads the config, or prints the one-line problem and exits 2.
    func load(_ logger: Logger) throws -> Bootstrap {
        do {
            return try Bootstrap(configOption: config)
        } catch {
            logger.error("invalid configuration", metadata: ["event": Event.configInvalid.value, "error": "\(error)"])
            throw ExitCode(.usage)
        }
    }
}

extension CommonOptions {
    /// Loads the config and builds the sync engine; a bad config or credential file exits 2.
    func engine(_ logger: Logger) throws -> (Bootstrap, SyncEngine) {
        let bootstrap = try load(logger)
        do {
            return (bootstrap, try bootstrap.makeEngine(logger: logger))
        } catch {
            logger.error("invalid configuration", metadata: ["event": Event.configInvalid.value, "error": "\(error)"])
            throw ExitCode(.usage)
        }
    }

    /// Takes the state-directory lock (exit 8 when held, 7 when unusable) and removes temporary files a
    /// crashed run left beside the output and beside `state.json`. Keep the returned lock alive while working.
    func takeLock(_ bootstrap: Bootstrap, _ logger: Logger) throws -> StateLock {
        let lock: StateLock
        do {
            lock = try StateLock(stateDir: bootstrap.settings.sync.stateDir)
        } catch {
            if case .held = error {
                logger.error(
                    "another gocd-proxy-sync is running (probably the service): use systemctl reload gocd-proxy-sync to sync now",
                    metadata: ["event": Event.lockHeld.value, "error": "\(error)"])
                throw ExitCode(.locked)
            }
            logger.error("cannot use the state directory", metadata: ["event": Event.writeFailed.value, "error": "\(error)"])
            throw ExitCode(.writeFailed)
        }
        if let directory = bootstrap.settings.proxy.acmeChallengeDir,
            let problem = PathSafety.problem(forChallengeDirectory: directory)
        {
            logger.error(
                "refusing to serve the ACME challenge from acme_challenge_dir",
                metadata: ["event": Event.writeFailed.value, "error": "acme_challenge_dir \(directory): \(problem)"])
            throw ExitCode(7)
        }
        if let directory = bootstrap.settings.proxy.tlsCertificateDir,
            let problem = PathSafety.problem(forCertificateDirectory: directory)
        {
            logger.error(
                "refusing to take certificates and keys from tls_certificate_dir",
                metadata: ["event": Event.writeFailed.value, "error": "tls_certificate_dir \(directory): \(problem)"])
            throw ExitCode(7)
        }
        // Beside the output, beside state.json and among the backups (a write killed before its rename leaves
        // one there); in the state directory itself, never through a link at state.json.
        let stateDir = bootstrap.settings.sync.stateDir
        let stale =
            AtomicFile.removeStaleTemporaries(near: bootstrap.settings.proxy.output)
            + AtomicFile.removeStaleTemporaries(in: stateDir)
            + AtomicFile.removeStaleTemporaries(in: stateDir + "/backups")
        if !stale.isEmpty {
            logger.notice(
                "removed temporary files left by an interrupted run",
                metadata: ["event": Event.started.value, "files": "\(stale.joined(separator: ","))"])
        }
        return lock
    }
}

extension ExitCode {
    /// An exit status from the catalogue (README: Exit codes).
    init(_ status: ExitStatus) { self.init(status.rawValue) }
}
