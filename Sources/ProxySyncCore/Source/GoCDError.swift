/// Everything that can go wrong asking GoCD for its site URLs, with messages that say what to do.
public enum GoCDError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum CredentialKind: String, Equatable, Sendable {
        case none = "no credentials"
        case token = "a bearer token"
        case basic = "basic auth"
    }

    case unauthorized(credentials: CredentialKind, securityDisabled: Bool, message: String)
    case forbidden(message: String)
    case notFound
    case redirected(status: Int, location: String?)
    /// 503: GoCD is starting or a backup is running. A notice, not an error; retry later.
    case unavailable(message: String)
    case serverError(status: Int, detail: String)
    case unexpectedStatus(Int)
    case badBody(String)
    case bodyTooLarge
    /// Unreachable, TLS failure, timeout: libcurl's own words.
    case transport(String)

    /// True for 503, which is logged as a notice rather than an error.
    public var isTransient: Bool {
        if case .unavailable = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .unauthorized(let credentials, let disabled, let message):
            if disabled {
                return
                    "GoCD refused the credentials (\(credentials.rawValue) was sent): security is disabled on this GoCD server, so send none: remove token_file/username/password_file from [gocd], and under systemd empty the token file the unit loads (: > /etc/gocd-proxy-sync/token; removing it makes the unit fail to start with 243/CREDENTIALS)"
            }
            if credentials == .none {
                return
                    "GoCD refused the request: it needs credentials; set token_file (an admin's access token) or username/password_file in [gocd] (GoCD said: \(message))"
            }
            return
                "GoCD refused the credentials (\(credentials.rawValue) was sent): check that it is valid and not revoked (GoCD said: \(message))"
        case .forbidden(let message):
            return
                "the account is not a GoCD system administrator: give it the admin role or use an admin's access token (GoCD said: \(message))"
        case .notFound:
            return "no site-URLs API at this address: check that server_url ends in /go and that GoCD is 19.11 or newer"
        case .redirected(let status, let location):
            return
                "server_url points at a page, not the API (HTTP \(status) redirect\(location.map { " to \(Escaping.printable($0))" } ?? "")): check server_url, which must end in /go"
        case .unavailable(let message):
            return "GoCD is starting or running a backup (HTTP 503: \(message)); will retry"
        case .serverError(let status, let detail):
            return "GoCD answered HTTP \(status): \(detail)"
        case .unexpectedStatus(let status):
            return "GoCD answered with unexpected HTTP status \(status)"
        case .badBody(let reason):
            return "GoCD's answer is not the site-URLs JSON: \(reason)"
        case .bodyTooLarge:
            return "GoCD's answer is larger than 64 KiB, which the site-URLs API never sends: check server_url"
        case .transport(let reason):
            return "cannot reach GoCD: \(reason)"
        }
    }
}

/// Maps an HTTP answer from the site-URLs endpoint to site URLs or a ``GoCDError``. Pure.
public enum GoCDResponse {
    /// The largest body accepted.
    public static let maxBodyBytes = 64 * 1024

    public static func interpret(
        status: Int, contentType: String?, location: String?, body: [UInt8], credentials: GoCDError.CredentialKind
    ) -> Result<SiteURLs, GoCDError> {
        let object = try? JSON.parse(body)
        let message = jsonMessage(object)
        switch status {
        case 200:
            guard isJSON(contentType) else {
                return .failure(
                    .badBody(
                        "Content-Type is \(Escaping.printable(contentType ?? "missing")), not JSON: check that server_url ends in /go"
                    ))
            }
            guard let object, case .object = object else { return .failure(.badBody("the body is not a JSON object")) }
            guard let site = object["site_url"]?.string else {
                return .failure(.badBody("the field site_url is missing or not a string"))
            }
            guard let secure = object["secure_site_url"]?.string else {
                return .failure(.badBody("the field secure_site_url is missing or not a string"))
            }
            return .success(SiteURLs(siteURL: site, secureSiteURL: secure))
        case 401:
            let disabled = message?.contains("security has been disabled") ?? false
            return .failure(.unauthorized(credentials: credentials, securityDisabled: disabled, message: message ?? "no message"))
        case 403:
            return .failure(.forbidden(message: message ?? "no message"))
        case 404:
            return .failure(.notFound)
        case 300...399:
            return .failure(.redirected(status: status, location: location))
        case 503:
            return .failure(.unavailable(message: message ?? "no message"))
        case 500...599:
            return .failure(.serverError(status: status, detail: message ?? "no details"))
        default:
            return .failure(.unexpectedStatus(status))
        }
    }

    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let media = contentType.split(separator: ";").first.map { String($0).lowercased() } ?? ""
        let trimmed = SiteURL.trimSpaces(media)
        return trimmed == "application/json" || (trimmed.hasPrefix("application/vnd.go.cd") && trimmed.hasSuffix("+json"))
    }

    /// GoCD's error bodies carry `message` (or `error` for a 500).
    static func jsonMessage(_ object: JSON?) -> String? {
        if let message = object?["message"]?.string { return Escaping.printable(message) }
        if let message = object?["error"]?.string { return Escaping.printable(message) }
        return nil
    }
}
