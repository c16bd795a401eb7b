import Testing
@testable import ProxySyncCore

struct GoCDResponseTests {
    /// A tiny JSON reader for the tests (string fields only), so the core stays Foundation-free.
    static func decode(_ bytes: [UInt8]) -> [String: String?]? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.trimmingPrefix(while: { $0 == " " || $0 == "\n" }).hasPrefix("{") else { return nil }
        var result: [String: String?] = [:]
        for key in ["site_url", "secure_site_url", "message", "error"] {
            guard let range = text.firstRange(of: "\"\(key)\"") else { continue }
            let rest = text[range.upperBound...].drop(while: { $0 == " " || $0 == ":" })
            if rest.hasPrefix("\"") {
                result[key] = String(rest.dropFirst().prefix(while: { $0 != "\"" }))
            } else {
                result[key] = .some(nil)
            }
        }
        return result
    }

    func interpret(_ status: Int, _ body: String, type: String? = "application/vnd.go.cd.v1+json;charset=utf-8",
                   credentials: GoCDError.CredentialKind = .token) -> Result<SiteURLs, GoCDError> {
        GoCDResponse.interpret(status: status, contentType: type, location: "/go/auth/login", body: Array(body.utf8),
                               credentials: credentials, decodeJSON: Self.decode)
    }

    @Test func okBody() {
        let body = "{\n  \"site_url\" : \"http://ci.example.com\",\n  \"secure_site_url\" : \"\"\n}"
        #expect(interpret(200, body) == .success(SiteURLs(siteURL: "http://ci.example.com", secureSiteURL: "")))
        #expect(interpret(200, body, type: "application/vnd.go.cd.v1+json; charset=utf-8") == .success(SiteURLs(siteURL: "http://ci.example.com", secureSiteURL: "")))
    }

    @Test func statuses() {
        #expect(interpret(401, "{\"message\": \"Invalid Personal Access Token.\"}")
            == .failure(.unauthorized(credentials: .token, securityDisabled: false, message: "Invalid Personal Access Token.")))
        guard case .failure(let disabled) = interpret(401, "{\"message\": \"Basic authentication credentials are not required, since security has been disabled on this server.\"}", credentials: .basic) else {
            Issue.record("expected failure"); return
        }
        #expect(disabled.description.contains("security is disabled"))
        #expect(disabled.description.contains("basic auth"))
        #expect(interpret(403, "{\"message\": \"You are not authorized to access this resource!\"}").failureText.contains("not a GoCD system administrator"))
        #expect(interpret(404, "The url you are trying to reach appears to be incorrect.\n", type: "text/plain").failureText.contains("ends in /go"))
        #expect(interpret(302, "").failureText.contains("points at a page, not the API"))
        #expect(interpret(503, "{ \"message\": \"GoCD server is starting\" }").failure?.isTransient == true)
        #expect(interpret(500, "{\"error\":\"boom\"}").failureText.contains("boom"))
        #expect(interpret(200, "<html>", type: "text/html").failureText.contains("not JSON"))
        #expect(interpret(200, "{\"site_url\": \"x\"}").failureText.contains("secure_site_url is missing"))
        #expect(interpret(200, "{\"site_url\": null, \"secure_site_url\": \"\"}").failureText.contains("site_url is missing or not a string"))
        #expect(interpret(418, "").failureText.contains("418"))
    }
}

extension Result where Failure == GoCDError {
    var failure: GoCDError? {
        if case .failure(let error) = self { return error }
        return nil
    }
    var failureText: String { failure.map { "\($0)" } ?? "success" }
}
