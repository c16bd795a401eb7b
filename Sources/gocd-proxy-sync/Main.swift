import ArgumentParser
import Glibc
import ProxySyncSystem

/// The entry point. Usage errors exit 2 (README: Exit codes), not ArgumentParser's 64.
@main
enum Main {
    static func main() async {
        do {
            var command = try GocdProxySync.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = GocdProxySync.exitCode(for: error)
            let message = GocdProxySync.fullMessage(for: error)
            if !message.isEmpty {
                if code == .success {
                    print(message)
                } else {
                    StandardError.write(message + "\n")
                }
            }
            exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

struct GocdProxySync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gocd-proxy-sync",
        abstract: "Keeps an NGINX or Apache reverse proxy in line with GoCD's site URLs.",
        version: "gocd-proxy-sync \(Version.string) (\(CurlClient.version))",
        subcommands: [Run.self, Once.self, Render.self, Check.self, Status.self]
    )
}
