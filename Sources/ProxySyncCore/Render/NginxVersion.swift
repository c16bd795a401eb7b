/// What NGINX's version means for the rendered file.
public enum NginxVersion {
    /// `nginx version: nginx/1.25.1` and later take `http2 on;`; before, `listen … ssl http2`.
    /// Unreadable output keeps the older form, which 1.25.1 and later still accept (with a warning).
    public static func usesHTTP2Directive(_ versionOutput: String) -> Bool {
        guard let range = versionOutput.firstRange(of: "nginx/") else { return false }
        let digits = versionOutput[range.upperBound...].prefix(while: { $0.isNumber || $0 == "." })
        let parts = digits.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return false }
        let patch = parts.count > 2 ? parts[2] : 0
        return (parts[0], parts[1], patch) >= (1, 25, 1)
    }
}
