import Glibc
import ProxySyncCore

/// The proxy's own dump of its whole configuration (`[proxy] dump_command`), read as a stream into the
/// inventory of its other sites (README: On a stock host).
///
/// - Important: the other-sites check is never skipped silently: when no dump command is set or derivable,
///   when the dump fails while the config test passes, or when its output cannot be read with certainty,
///   the outcome is ``Outcome/unavailable(_:)`` with a reason naming `dump_command`, and the caller refuses.
public enum ProxyDump {
    public enum Outcome: Sendable {
        case read(ProxyInventory)
        /// The reason names `dump_command` and says what to do.
        case unavailable(String)
        /// The dump and the config test both fail: the proxy's configuration does not load at all; the
        /// config test of the apply says why (exit 9).
        case configurationBroken
    }

    /// The proxy's own program for `kind`, as the first word of a command (``ProxyProcess/programs(_:)``).
    static func isProxyProgram(_ word: String, kind: ProxyKind) -> Bool {
        ProxyProcess.programs(kind).contains(Posix.basename(word))
    }

    /// `dump_command`, else one derived from `test_command` when its first word is the proxy's own program
    /// (keeping its options, such as `-c`, `-p`, `-f`, `-d`): `nginx … -T`, `apachectl … -t -D DUMP_VHOSTS`.
    public static func command(_ settings: ProxySettings) -> [String]? {
        if let set = settings.dumpCommand { return set }
        guard let first = settings.testCommand.first, isProxyProgram(first, kind: settings.kind),
            let base = programCommand(settings)
        else { return nil }
        return settings.kind == .nginx ? base + ["-T"] : base + ["-t", "-D", "DUMP_VHOSTS"]
    }

    /// The proxy's program with the options of `test_command` (for `-T`, `-M`, `-v`), else of
    /// `dump_command`; nil when neither starts with it.
    public static func programCommand(_ settings: ProxySettings) -> [String]? {
        let dropped: Set<String> =
            settings.kind == .nginx ? ["-t", "-q", "-T"] : ["-t", "configtest", "-S", "-D", "DUMP_VHOSTS"]
        for argv in [settings.testCommand, settings.dumpCommand ?? []] {
            guard let first = argv.first, isProxyProgram(first, kind: settings.kind) else { continue }
            return argv.filter { !dropped.contains($0) }
        }
        return nil
    }

    /// Runs the dump and reads it; memory is bounded by the sites found, not by the dump's size.
    public static func inventory(_ settings: ProxySettings) -> Outcome {
        guard let argv = command(settings) else {
            let example =
                settings.kind == .nginx
                ? "[\"nginx\", \"-T\"]" : "[\"apachectl\", \"-t\", \"-D\", \"DUMP_VHOSTS\"]"
            return .unavailable(
                "cannot check the proxy's other sites: test_command starts with \(settings.testCommand.first.map(Posix.basename) ?? "nothing"), not the proxy's own program, so no dump can be derived from it; set proxy.dump_command to the proxy's configuration dump (e.g. \(example), with the same configuration options as the test), or check_other_sites = false to turn the check off"
            )
        }
        let managed: Set<String> = [settings.output, Posix.resolveSymlinks(settings.output)]
        let shown = argv.joined(separator: " ")
        let (result, read, uncertainty) =
            settings.kind == .nginx
            ? stream(argv, settings, into: NginxDumpReader(managedPaths: managed))
            : stream(argv, settings, into: ApacheDumpReader(managedPaths: managed))
        var inventory = read
        if settings.kind == .apache, var found = inventory {
            found.apacheNames = true
            readApacheTLS(&found)
            inventory = found
        }
        guard result.succeeded else {
            let test = CommandRunner.runBlocking(settings.testCommand, timeoutSeconds: settings.commandTimeoutSeconds)
            if !test.succeeded { return .configurationBroken }
            return .unavailable(
                "dump_command failed while the config test passes (\(result.summary)): cannot check the proxy's other sites; run it by hand to see why, fix proxy.dump_command, or set check_other_sites = false"
            )
        }
        guard let inventory else {
            return .unavailable(
                "the output of dump_command (\(shown)) cannot be read with certainty (\(uncertainty ?? "unknown")); refusing rather than guessing which names and ports other sites use"
            )
        }
        return .read(inventory)
    }

    /// Runs the dump into `reader` as it arrives; the inventory only when the command succeeded.
    static func stream<Reader: DumpReader>(_ argv: [String], _ settings: ProxySettings, into reader: Reader)
        -> (CommandResult, ProxyInventory?, String?)
    {
        var reader = reader
        let result = CommandRunner.runBlocking(argv, timeoutSeconds: settings.commandTimeoutSeconds, standardErrorToo: false) {
            reader.feed($0)
        }
        guard result.succeeded else { return (result, nil, nil) }
        let inventory = reader.finish()
        return (result, inventory, reader.uncertainty)
    }

    /// Whether each vhost says `SSLEngine on`: each file named in the dump is read once.
    static func readApacheTLS(_ inventory: inout ProxyInventory) {
        var byFile: [String: [Int]] = [:]
        for (index, site) in inventory.sites.enumerated() { byFile[site.file, default: []].append(index) }
        for (file, indices) in byFile {
            let scanned = (try? Posix.readRegularFile(file, maxBytes: 256 << 20, what: "Apache configuration file"))
                .flatMap { $0 }.map { ApacheVirtualHostScanner.scan($0) }
            for index in indices {
                guard let line = inventory.sites[index].line, let found = scanned?[line] else {
                    inventory.sites[index].tls = nil
                    continue
                }
                inventory.sites[index].tls = found.tls
                for name in found.names where !inventory.sites[index].names.contains(name) {
                    inventory.sites[index].names.append(name)
                }
            }
        }
    }
}
