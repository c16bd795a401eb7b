import Glibc
import ProxySyncCore

extension PathSafety {
    /// What the ACME challenge directory guards, for the messages.
    static let challengeFiles = "the ACME challenge files"

    /// Why `acme_challenge_dir` is not safe to serve the ACME challenge from, or nil (SPEC 5d: the output's
    /// root-only rules). Whoever can put a file in `<dir>/.well-known/acme-challenge` can answer a CA's challenge
    /// for the GoCD names and get a certificate for them: every directory from `/` down to it must be root's and
    /// writable by root only, the directory and the two below it not even sticky, and a link on the way only
    /// root's. Directories that do not exist yet are judged by the nearest one that does (certbot creates them).
    public static func problem(forChallengeDirectory directory: String) -> String? {
        var existing = ACMEChallenge.tokens(in: directory)
        var info = stat()
        while lstat(existing, &info) != 0 {
            guard errno == ENOENT, existing != "/", existing != "." else { return nil }
            existing = Posix.dirname(existing)
        }
        if let problem = linkProblem(onTheWayTo: existing) { return problem }
        if let problem = directoryProblem(existing, entry: existing + "/token", guarding: challengeFiles) {
            return problem
        }
        for path in [directory, directory + "/.well-known", ACMEChallenge.tokens(in: directory)] {
            guard stat(path, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) != S_IFDIR { return "\(path) is \(kind(info.st_mode)), not a directory" }
            if info.st_mode & 0o022 != 0 {
                let mode = String(info.st_mode & 0o7777, radix: 8)
                return
                    "\(path) is writable by group or others (mode \(mode)): only root may be able to place \(challengeFiles) (chmod go-w \(path))"
            }
        }
        return nil
    }
}
