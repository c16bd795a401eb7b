import ArgumentParser
import Logging
import ProxySyncCore
import ProxySyncSystem

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Options every subcommand takes after its name.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The config file (default: $GOCD_PROXY_SYNC_CONFIG, then /etc/gocd-proxy-sync/config.toml).", valueName: "path"))
    var config: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning or error.")
    var logLevel: Logger.Level = .info

    /// Sets up logging once for the process and returns the root logger.
    func bootstrapLogging() -> Logger {
        let sink = LogSink.fromEnvironment(Bootstrap.processEnvironment)
        let level = logLevel
        LoggingBootstrapOnce.run { LoggingSystem.bootstrap { _ in ProxySyncLogHandler(sink: sink, level: level) } }
        return Logger(label: "gocd-proxy-sync")
    }

    /// Loads the config, or prints the one-line problem and exits 2.
    func load(_ logger: Logger) throws -> Bootstrap {
        do {
            return try Bootstrap(configOption: config)
        } catch {
            logger.error("invalid configuration", metadata: ["event": "config_invalid", "error": "\(error)"])
            throw ExitCode(2)
        }
    }
}

enum LoggingBootstrapOnce {
    nonisolated(unsafe) private static var done = false
    static func run(_ body: () -> Void) {
        if !done {
            done = true
            body()
        }
    }
}
