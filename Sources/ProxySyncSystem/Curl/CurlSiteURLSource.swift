import ProxySyncCore

/// Fetches GoCD's site URLs over libcurl.
public struct CurlSiteURLSource: SiteURLSource {
    public static let accept = "application/vnd.go.cd.v1+json"

    let client: CurlClient
    let endpoint: String
    let credentials: GoCDError.CredentialKind

    public init(client: CurlClient, settings: GoCDSettings, credentials: GoCDError.CredentialKind) {
        self.client = client
        self.endpoint = settings.siteURLsEndpoint
        self.credentials = credentials
    }

    public func fetchSiteURLs() async throws(GoCDError) -> SiteURLs {
        let answer = try await client.get(endpoint, accept: Self.accept).get()
        return try GoCDResponse.interpret(
            status: answer.status, contentType: answer.contentType, location: answer.location, body: answer.body,
            credentials: credentials
        ).get()
    }
}
