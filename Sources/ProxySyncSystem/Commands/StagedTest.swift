import Glibc
import ProxySyncCore

/// The config test of a new file before it is live (README: Tested before it is live).
///
/// The new bytes are written to `<state_dir>/staged/`, and the test command runs in a mount namespace of its
/// own (`unshare --mount`, propagation private) in which that file is bind-mounted at the output's path — or,
/// when there is no file there yet, an overlay over the output's directory adds it. The proxy's own test thus
/// reads its whole configuration with the new file in place, while every other process (an operator's
/// `systemctl reload nginx`, a certbot hook) still sees the previous bytes at the live path. Nothing is
/// mounted outside the test's namespace, and the namespace ends with the test.
///
/// Needs `CAP_SYS_ADMIN`, mount namespaces and the `mount` system calls (the shipped unit allows them); where
/// they are not allowed (an unprivileged container, a unit without them) the outcome is
/// ``StagedTest/unavailable(_:)`` with the reason, and the caller tests at the live path.
public enum StagedConfigTest {
    /// The line the staging script prints once the file stands at the live path, just before it runs the test.
    static let readyMarker = "gocd-proxy-sync: staged"
    /// The start of the line it prints when the file could not be put in place.
    static let failureMarker = "gocd-proxy-sync: cannot stage"

    /// POSIX sh, run as `sh -c SCRIPT NAME staged live scratch test-argv...`: paths arrive as arguments, never
    /// as text in the script.
    static let script = """
        staged=$1; live=$2; scratch=$3; shift 3
        fail() { printf '%s: %s\\n' '\(failureMarker)' "$*"; exit 125; }
        if [ -e "$live" ]; then
            mount --bind "$staged" "$live" 2>&1 || fail "bind-mount the new file at $live"
        else
            dir=${live%/*}; name=${live##*/}
            mount -t tmpfs -o mode=0700,size=64m gocd-proxy-sync "$scratch" 2>&1 || fail "mount a tmpfs at $scratch"
            mkdir "$scratch/upper" "$scratch/work" && cp "$staged" "$scratch/upper/$name" || fail "copy the new file"
            mount -t overlay -o "lowerdir=$dir,upperdir=$scratch/upper,workdir=$scratch/work" gocd-proxy-sync "$dir" 2>&1 \\
                || fail "overlay $dir"
        fi
        printf '%s\\n' '\(readyMarker)'
        exec "$@"
        """

    /// Runs `testCommand` with `bytes` standing at `output` in the test's own view of the file system.
    public static func run(
        _ bytes: [UInt8], output: String, stateDirectory: String, testCommand: [String], timeoutSeconds: Int
    ) -> StagedTest {
        guard let first = testCommand.first, let executable = CommandRunner.resolve(first) else {
            // The same launch error the plain test gives: the test itself cannot run, staged or not.
            return .tested(CommandRunner.runBlocking(testCommand, timeoutSeconds: timeoutSeconds))
        }
        guard let unshare = CommandRunner.resolve("unshare") else {
            return .unavailable("unshare(1) was not found (util-linux)")
        }
        let live = Posix.resolveSymlinks(output)
        // The overlay's options are a comma-separated list: a directory whose path holds one cannot be named.
        if Posix.dirname(live).contains(where: { $0 == "," || $0 == ":" || $0 == "\\" }) {
            return .unavailable("the output's directory \(Posix.dirname(live)) has a ',', ':' or '\\' in its path")
        }
        let directory = stateDirectory + "/staged"
        let scratch = directory + "/scratch"
        let staged = directory + "/" + Posix.basename(live)
        do {
            try PathSafety.prepareStateDirectory(stateDirectory)
            try PathSafety.prepareStateDirectory(directory, mode: 0o700)
            try PathSafety.prepareStateDirectory(scratch, mode: 0o700)
            // A run killed while writing the staged file leaves its temporary name behind.
            _ = AtomicFile.removeStaleTemporaries(in: directory)
            try AtomicFile.write(bytes, to: staged, label: .staged, followLinks: false, newFileMode: 0o644)
            // Under SELinux the proxy's test reads the staged file where the live one stands: give it the live
            // file's label (its directory's for a first file), as the installed file will have.
            let fd = open(staged, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            if fd >= 0 {
                var info = stat()
                AtomicFile.copySELinuxLabel(from: stat(live, &info) == 0 ? live : Posix.dirname(live), to: fd)
                close(fd)
            }
        } catch {
            return .unavailable("cannot write the staged file: \(error)")
        }
        defer { unlink(staged) }
        let argv =
            [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "gocd-proxy-sync-staged",
             staged, live, scratch, executable] + testCommand.dropFirst()
        var result = CommandRunner.runBlocking(argv, timeoutSeconds: timeoutSeconds)
        return outcome(of: &result, testCommand: testCommand)
    }

    /// Splits what the staging run printed: before the ready marker, the staging's own words; after it, the
    /// test's. No marker means the file never stood at the live path: the test did not run.
    static func outcome(of result: inout CommandResult, testCommand: [String]) -> StagedTest {
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        guard let ready = lines.firstIndex(where: { $0 == readyMarker }) else {
            if result.timedOut { return .unavailable("staging the file for the test timed out") }
            // One line for the log: the staging's own words, else how the command ended.
            let said = result.output.split(whereSeparator: \.isNewline).map { $0.drop(while: \.isWhitespace) }
                .filter { !$0.isEmpty }.joined(separator: "; ")
            return .unavailable(said.isEmpty ? (result.launchError ?? result.summary) : said)
        }
        result.argv = testCommand
        result.output = lines[(ready + 1)...].joined(separator: "\n")
        return .tested(result)
    }
}
