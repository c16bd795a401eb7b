import ArgumentParser
import Glibc
import ProxySyncSystem

/// The entry point. Usage errors exit 2 (README: Exit codes), not ArgumentParser's 64.
///
/// A synchronous `main` that does what the runtime does for an `async` one, minus one step. The runtime runs
/// `async main` in a task that calls exit(0) when it returns, and gives the main thread to `dispatch_main`, which
/// leaves it with `pthread_exit` and parks it in a destructor that takes signals (all unblocked, `sigsuspend`
/// forever). glibc's pthread_exit first unwinds the main thread's stack (a forced unwind through libgcc_s,
/// `_Unwind_Find_FDE` for each frame), which brought the binary's .eh_frame_hdr and .eh_frame in, about
/// 0.5 MiB resident for the daemon's life (Benchmarks/rss_pages.py). Here the main thread parks the same way
/// without unwinding. Nothing runs on the main actor or the main queue.
@main
enum Main {
    static func main() {
        Task.detached {
            await runCommand()
            exit(0)
        }
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        while true { sigsuspend(&none) }
    }

    private static func runCommand() async {
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
