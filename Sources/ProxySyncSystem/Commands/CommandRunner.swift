import CPosixShims
import Dispatch
import Glibc
import ProxySyncCore

/// Runs a command from an argv array (no shell), with a timeout, capturing stdout and stderr together.
///
/// A non-zero exit is data in the ``CommandResult``, never a thrown error.
public enum CommandRunner {
    /// The most output kept from one command.
    public static let maxOutputBytes = 64 * 1024

    public static func run(_ argv: [String], timeoutSeconds: Int) async -> CommandResult {
        await Blocking.run { runBlocking(argv, timeoutSeconds: timeoutSeconds) }
    }

    /// Variables of the daemon's own that a command must not see (README: Security model); ``Failpoint/variable`` among them,
    /// so a fault point armed for the daemon never fires in a command it runs.
    static let privateVariables: Set<String> = [
        "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
        "LISTEN_FDNAMES", "GOCD_PROXY_SYNC_FAILPOINT",
    ]

    /// The environment commands run with: the daemon's, without its systemd variables, and with `extra` (which
    /// replaces a variable of the same name).
    static func commandEnvironment(_ extra: [String: String] = [:]) -> [String] {
        var out: [String] = []
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            let name = String(text.prefix(while: { $0 != "=" }))
            if !privateVariables.contains(name) && !name.hasPrefix("WATCHDOG_") && extra[name] == nil { out.append(text) }
            pointer += 1
        }
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) { out.append("\(name)=\(value)") }
        return out
    }

    /// Finds `name` the way `execvp` would; returns the path or nil.
    public static func resolve(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// - Parameter maxOutput: the most output kept; beyond it the rest is read and dropped, and the result's
    ///   ``CommandResult/outputTruncated`` says so.
    /// - Parameter standardErrorToo: false sends the command's stderr to /dev/null (for a dump read as data).
    /// - Parameter sink: when set, every chunk of output goes to it as it arrives and none is kept (a dump of
    ///   any size read as a stream); ``CommandResult/output`` is then empty.
    public static func runBlocking(
        _ argv: [String], timeoutSeconds: Int, maxOutput: Int = maxOutputBytes, standardErrorToo: Bool = true,
        environment extra: [String: String] = [:], sink: ((ArraySlice<UInt8>) -> Void)? = nil
    ) -> CommandResult {
        guard let first = argv.first else { return CommandResult(argv: argv, exitStatus: nil, launchError: "empty command") }
        guard let executable = resolve(first) else {
            return CommandResult(argv: argv, exitStatus: nil, launchError: "\(first) not found (searched PATH)")
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            return CommandResult(argv: argv, exitStatus: nil, launchError: "pipe: \(String(cString: strerror(errno)))")
        }
        fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        if standardErrorToo {
            posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        // Nothing of the daemon's reaches the command (or an httpd it starts): not the connection to GoCD,
        // not libcurl's socket pair, not the lock.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group, so a timeout kills the command's children too; default signal mask and handlers.
        posix_spawnattr_setpgroup(&attributes, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = commandEnvironment(extra).map { strdup($0) } + [nil]
        defer { for entry in cEnvironment { free(entry) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &cArgs, &cEnvironment)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            return CommandResult(argv: argv, exitStatus: nil, launchError: String(cString: strerror(spawned)))
        }
        var output: [UInt8] = []
        var timedOut = false
        var truncated = false
        var status: Int32 = 0
        var reaped = false
        let deadline = Monotonic.seconds() + Double(timeoutSeconds)
        var buffer = [UInt8](repeating: 0, count: 8192)
        var pipeOpen = true
        // Read until the pipe closes, or until the command has exited and the pipe is quiet (a daemon it
        // started may hold the pipe open), or until the timeout.
        while pipeOpen {
            if Monotonic.seconds() >= deadline {
                timedOut = true
                kill(-pid, SIGKILL)
                break
            }
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready > 0 {
                let count = read(fds[0], &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    pipeOpen = false
                } else if let sink {
                    sink(buffer[0..<count])
                } else if output.count < maxOutput {
                    if count > maxOutput - output.count { truncated = true }
                    output.append(contentsOf: buffer[0..<min(count, maxOutput - output.count)])
                } else {
                    truncated = true
                }
                continue
            }
            if ready == 0 && !reaped && waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                break
            }
        }
        close(fds[0])
        // The command closed its output (or it timed out): wait for it to exit, still within the timeout.
        while !reaped {
            let result = waitpid(pid, &status, timedOut ? 0 : WNOHANG)
            if result == pid || (result < 0 && errno != EINTR) {
                reaped = true
            } else if result == 0 {
                if Monotonic.seconds() >= deadline {
                    timedOut = true
                    kill(-pid, SIGKILL)
                } else {
                    usleep(10_000)
                }
            }
        }
        let exited = (status & 0x7F) == 0
        let text = String(decoding: output, as: UTF8.self)
        var result = CommandResult(
            argv: argv, exitStatus: exited && !timedOut ? (status >> 8) & 0xFF : nil, timedOut: timedOut,
            output: text.hasSuffix("\n") ? String(text.dropLast()) : text)
        result.outputTruncated = truncated
        return result
    }

}

/// The proxy's test and reload commands, from the settings.
public struct CommandProxyControl: ProxyControl {
    let settings: ProxySettings
    /// Where a staged test keeps the new file (`<state_dir>`); nil: no staged test.
    let stateDirectory: String?

    public init(settings: ProxySettings, stateDirectory: String?) {
        self.settings = settings
        self.stateDirectory = stateDirectory
    }

    public func test() async -> CommandResult {
        let result = await CommandRunner.run(settings.testCommand, timeoutSeconds: settings.commandTimeoutSeconds)
        Failpoint.hit(.afterTest)
        return Self.counted(result)
    }

    public func testStaged(_ bytes: [UInt8]) async -> StagedTest {
        guard let stateDirectory else { return .unavailable("no state directory to stage the file in") }
        let settings = settings
        let outcome = await Blocking.run {
            StagedConfigTest.run(
                bytes, output: settings.output, stateDirectory: stateDirectory, testCommand: settings.testCommand,
                timeoutSeconds: settings.commandTimeoutSeconds)
        }
        Failpoint.hit(.afterTest)
        guard case .tested(let result) = outcome else { return outcome }
        return .tested(Self.counted(result))
    }

    /// NGINX ignores the second server block that claims a name on the same address and port, and only warns:
    /// for this program that is a failed test (README: Security model), since another site's traffic would be at stake.
    static func counted(_ result: CommandResult) -> CommandResult {
        var result = result
        if result.succeeded, result.output.contains("conflicting server name") {
            result.exitStatus = 1
            result.output += "\n(gocd-proxy-sync: a conflicting server name counts as a failed test)"
        }
        return result
    }

    public func reload() async -> CommandResult {
        let result = await CommandRunner.run(settings.reloadCommand, timeoutSeconds: settings.commandTimeoutSeconds)
        Failpoint.hit(.afterReload)
        return result
    }
}
