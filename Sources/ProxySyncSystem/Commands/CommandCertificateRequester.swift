import ProxySyncCore

/// The real ``CertificateRequester``: `[proxy] certificate_command` with the names appended, run as the other
/// commands are (argv, no shell; stdin from /dev/null, no descriptors past 2, no systemd variables, its own process
/// group killed at the timeout), plus `GOCD_PROXY_SYNC_NAMES` (the names, space-separated) and
/// `GOCD_PROXY_SYNC_ACME_WEBROOT` (`acme_challenge_dir`). Nothing else of GoCD's reaches it: the names are host
/// names the site-URL validation let through.
public struct CommandCertificateRequester: CertificateRequester {
    let settings: ProxySettings

    public init(settings: ProxySettings) {
        self.settings = settings
    }

    /// The most of the command's output kept: its end, where an ACME client says why it failed.
    static let keptOutputBytes = 16 * 1024

    public func request(_ names: [String]) async -> CommandResult {
        guard let command = settings.certificateCommand, let webroot = settings.acmeChallengeDir else {
            return CommandResult(argv: [], exitStatus: nil, launchError: "no certificate_command is configured")
        }
        let argv = command + names
        // Checked again before every run, not only at start: the file may have changed since.
        if let problem = PathSafety.problem(forCommand: command[0]) {
            return CommandResult(argv: [command[0]] + names, exitStatus: nil, launchError: "refused: \(problem)")
        }
        let environment = [
            "GOCD_PROXY_SYNC_NAMES": names.joined(separator: " "), "GOCD_PROXY_SYNC_ACME_WEBROOT": webroot,
        ]
        let timeout = settings.certificateCommandTimeoutSeconds
        return await Blocking.run {
            let tail = Locked<[UInt8]>([])
            var result = CommandRunner.runBlocking(argv, timeoutSeconds: timeout, environment: environment) { chunk in
                tail.withLock { kept in
                    kept.append(contentsOf: chunk)
                    if kept.count > Self.keptOutputBytes { kept.removeFirst(kept.count - Self.keptOutputBytes) }
                }
            }
            let text = String(decoding: tail.withLock { $0 }, as: UTF8.self)
            result.output = text.hasSuffix("\n") ? String(text.dropLast()) : text
            // The configured arguments are the operator's and may carry an account's secret (an EAB key, say):
            // the messages name the program and the names only.
            result.argv = [command[0]] + names
            return result
        }
    }
}
