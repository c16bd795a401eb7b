import Testing

@testable import ProxySyncCore

struct GoCDResponseTests {
    func interpret(
        _ status: Int, _ body: String, type: String? = "application/vnd.go.cd.v1+json;charset=utf-8",
        credentials: GoCDError.CredentialKind = .token
    ) -> Result<SiteURLs, GoCDError> {
        GoCDResponse.interpret(
            status: status, contentType: type, location: "/go/auth/login", body: Array(body.utf8),
            credentials: credentials)
    }

    @Test func okBody() {
        let body = "{\n  \"site_url\" : \"http://ci.example.com\",\n  \"secure_site_url\" : \"\"\n}"
        #expect(interpret(200, body) == .success(SiteURLs(siteURL: "http://ci.example.com", secureSiteURL: "")))
        #expect(
            interpret(200, body, type: "application/vnd.go.cd.v1+json; charset=utf-8")
                == .success(SiteURLs(siteURL: "http://ci.example.com", secureSiteURL: "")))
    }

    @Test func statuses() {
        #expect(
            interpret(401, "{\"message\": \"Invalid Personal Access Token.\"}")
                == .failure(
                    .unauthorized(credentials: .token, securityDisabled: false, message: "Invalid Personal Access Token.")))
        guard
            case .failure(let disabled) = interpret(
                401,
                "{\"message\": \"Basic authentication credentials are not required, since security has been disabled on this server.\"}",
                credentials: .basic)
        else {
            Issue.record("expected failure")
            return
        }
        #expect(disabled.description.contains("security is disabled"))
        #expect(disabled.description.contains("basic auth"))
        #expect(
            interpret(403, "{\"message\": \"You are not authorized to access this resource!\"}").failureText.contains(
                "not a GoCD system administrator"))
        #expect(
            interpret(404, "The url you are trying to reach appears to be incorrect.\n", type: "text/plain").failureText.contains(
                "ends in /go"))
        #expect(interpret(302, "").failureText.contains("points at a page, not the API"))
        #expect(interpret(503, "{ \"message\": \"GoCD server is starting\" }").failure?.isTransient == true)
        #expect(interpret(500, "{\"error\":\"boom\"}").failureText.contains("boom"))
        #expect(interpret(200, "<html>", type: "text/html").failureText.contains("not JSON"))
        #expect(interpret(200, "{\"site_url\": \"x\"}").failureText.contains("secure_site_url is missing"))
        #expect(
            interpret(200, "{\"site_url\": null, \"secure_site_url\": \"\"}").failureText.contains(
                "site_url is missing or not a string"))
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

struct JSONTests {
    @Test func parsesGoCDsPrettyPrintedBody() throws {
        let body = """
            {
              "_links" : {
                "doc" : { "href" : "https://api.gocd.org/26.1.0/#siteurls-config" },
                "self" : { "href" : "http://127.0.0.1:8153/go/api/admin/config/server/site_urls" }
              },
              "site_url" : "http://ci.example.com",
              "secure_site_url" : "https://ci.example.com\\u00e9\\ud83d\\ude00"
            }
            """
        let json = try JSON.parse(Array(body.utf8))
        #expect(json["site_url"]?.string == "http://ci.example.com")
        #expect(json["secure_site_url"]?.string == "https://ci.example.comé😀")
    }

    @Test(arguments: ["", "{", "{\"a\" 1}", "[1,]", "\"\u{01}\"", "{\"a\":1} x", "tru", String(repeating: "[", count: 100)])
    func rejectsMalformed(text: String) {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(Array(text.utf8)) }
    }

    @Test func stateRoundTrips() throws {
        var state = SyncState()
        state.lastAppliedSiteURL = "http://a \"quoted\"\n"
        state.consecutiveFailures = 3
        state.reloadOwed = true
        state.applyInProgress = .init(backupPath: "/var/lib/x.bak", startedAt: "2027-01-15T08:00:00Z")
        let text = state.json.serialized()
        #expect(try SyncState.decode(Array(text.utf8)) == state)
        #expect(text.contains("\"reload_owed\": true"))
    }
}
