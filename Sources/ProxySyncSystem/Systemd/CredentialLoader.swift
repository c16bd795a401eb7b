import Glibc
import ProxySyncCore

/// Reads credential files, refusing ones that group or others can read (as ssh refuses a loose key).
public enum CredentialLoader {
    /// - Throws: ``ConfigError`` (exit 2) naming the file and what to do; never the secret.
    public static func load(_ gocd: GoCDSettings, configFile: String, environment: [String: String]) throws(ConfigError)
        -> CurlOptions.Auth
    {
        if let tokenFile = gocd.tokenFile {
            return .bearer(try read(tokenFile, key: "gocd.token_file", configFile: configFile, strict: true))
        }
        if let username = gocd.username, let passwordFile = gocd.passwordFile {
            return .basic(
                username: username,
                password: try read(passwordFile, key: "gocd.password_file", configFile: configFile, strict: true))
        }
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = directory + "/gocd-token"
            // An empty credential is "no credentials" (GoCD with security disabled): the unit's LoadCredential=
            // fails the start when the file is missing, so emptying it is how the unit is told.
            if access(path, F_OK) == 0,
                let token = try read(
                    path, key: "$CREDENTIALS_DIRECTORY/gocd-token", configFile: configFile, strict: false, allowEmpty: true)
            {
                return .bearer(token)
            }
        }
        return .none
    }

    static func read(_ path: String, key: String, configFile: String, strict: Bool) throws(ConfigError) -> String {
        // Only with allowEmpty can the answer be nil.
        try read(path, key: key, configFile: configFile, strict: strict, allowEmpty: false)!
    }

    /// - Returns: nil for an empty file when `allowEmpty`.
    static func read(_ path: String, key: String, configFile: String, strict: Bool, allowEmpty: Bool) throws(ConfigError)
        -> String?
    {
        func fail(_ problem: String) -> ConfigError { ConfigError(file: configFile, key: key, problem: problem) }
        // A configured credential file, like the managed file: only root may change the directories on the way,
        // and a symbolic link is followed only when root owns it (else any root-only one-line secret could be
        // sent to GoCD as the token). systemd's $CREDENTIALS_DIRECTORY is systemd's own.
        if strict, let problem = PathSafety.problem(forOutput: path) { throw fail(problem) }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw fail("cannot read \(path): \(Posix.errorText())\(errno == EACCES ? " (run as root or fix the owner)" : "")")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw fail("\(path) is not a regular file") }
        if strict && info.st_uid != 0 && info.st_uid != geteuid() {
            throw fail(
                "\(path) is owned by uid \(info.st_uid), not by root or this program's user: run chown root \(path)")
        }
        let loose = strict ? (info.st_mode & 0o077) != 0 : (info.st_mode & 0o007) != 0
        if loose {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw fail("\(path) is readable by group or others (mode \(mode)): run chmod 600 \(path)")
        }
        let bytes: [UInt8]?
        do {
            // Never a FIFO swapped in after the stat above (it would hang), never more than 64 KiB.
            bytes = try Posix.readRegularFile(path, maxBytes: 64 << 10, what: "credential file")
        } catch {
            throw fail("\(error)")
        }
        var scalars = String(decoding: bytes ?? [], as: UTF8.self).unicodeScalars
        while let last = scalars.last, last == "\n" || last == "\r" { scalars.removeLast() }
        let text = String(scalars)
        if text.isEmpty {
            if allowEmpty { return nil }
            throw fail("\(path) is empty")
        }
        if text.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\0" }) {
            throw fail("\(path) must hold one line")
        }
        return text
    }
}
