/// The ACME http-01 challenge in the rendered files (SPEC 5d): with `acme_challenge_dir = DIR`,
/// `GET /.well-known/acme-challenge/<token>` is answered from `DIR/.well-known/acme-challenge/<token>` (the layout
/// `certbot certonly --webroot -w DIR` writes) on every listener, never redirected or forwarded to GoCD. Only a
/// token (`[A-Za-z0-9_-]+`, RFC 8555) is served; anything else under the path is 404, and nothing else of DIR.
public enum ACMEChallenge {
    /// The path ACME servers ask.
    public static let prefix = "/.well-known/acme-challenge/"
    /// The directory below `acme_challenge_dir` that holds the tokens.
    public static func tokens(in directory: String) -> String { directory + "/.well-known/acme-challenge" }
}

extension NginxRenderer {
    /// The challenge location, or "" without `acme_challenge_dir`. The `if` (only `return` inside) turns away
    /// anything but a token; `try_files` serves a regular file only (no directory, no listing).
    func acmeLocation() throws(ConfigToken.Unsafe) -> String {
        guard let directory = settings.acmeChallengeDir else { return "" }
        let root = try ConfigToken.checked(directory)
        return """

                # ACME http-01 (certbot --webroot -w \(root)): only a token, from its .well-known/acme-challenge/;
                # never redirected or forwarded to GoCD (also not a request for the path with dot segments or
                # escapes, which proxy_pass would forward as it came).
                if ($request_uri ~ "^/\\.well-known/acme-challenge/(?![A-Za-z0-9_-]+$)") {
                    return 404;
                }
                location ^~ \(ACMEChallenge.prefix) {
                    if ($uri !~ "^/\\.well-known/acme-challenge/[A-Za-z0-9_-]+$") {
                        return 404;
                    }
                    root \(root);
                    default_type text/plain;
                    try_files $uri =404;
                }

            """
    }

    /// A listener on `acme_http_port` for an HTTPS name the site URLs give no HTTP listener there: the challenge,
    /// the generation (so that confirmation covers it like any listener) and 404 for everything else.
    func challengeOnly() throws(ConfigToken.Unsafe) -> String {
        var out = "    # Only the ACME http-01 challenge for this name (acme_http_port); everything else is 404.\n"
        out += try acmeLocation()
        out += "\n" + Self.generationLocation
        out += "\n    location / {\n        return 404;\n    }\n"
        return out
    }
}

extension ApacheRenderer {
    /// The challenge: excluded from `ProxyPass` (in a proxying vhost, before `ProxyPass /`), anything but a token
    /// 404, a token mapped into the directory, which serves files only (`Options None`: no listing, no links
    /// followed; no `.htaccess`). "" without `acme_challenge_dir`.
    func acmeBlock(proxying: Bool) throws(ConfigToken.Unsafe) -> String {
        guard let directory = settings.acmeChallengeDir else { return "" }
        let tokens = try ConfigToken.checked(ACMEChallenge.tokens(in: directory))
        var out = "    # ACME http-01 (certbot --webroot -w \(try ConfigToken.checked(directory))): only a token, from its\n"
        out += "    # .well-known/acme-challenge/; never redirected or forwarded to GoCD.\n"
        if proxying { out += "    ProxyPass \(ACMEChallenge.prefix) !\n" }
        out += """
                RedirectMatch 404 "^/\\.well-known/acme-challenge/(?![A-Za-z0-9_-]+$)"
                AliasMatch "^/\\.well-known/acme-challenge/([A-Za-z0-9_-]+)$" "\(tokens)/$1"
                <Directory "\(tokens)">
                    Options None
                    AllowOverride None
                    ForceType text/plain
                    Require all granted
                </Directory>

            """
        return out
    }

    /// A listener on `acme_http_port` for an HTTPS name the site URLs give no HTTP listener there: the challenge,
    /// the generation (so that confirmation covers it like any listener) and 404 for everything else.
    func challengeOnly() throws(ConfigToken.Unsafe) -> String {
        var out = "    # Only the ACME http-01 challenge for this name (acme_http_port); everything else is 404.\n"
        out += try acmeBlock(proxying: false)
        out += """
                RedirectMatch 404 "^/(?!\\.well-known/(acme-challenge|gocd-proxy-sync)/)"
                <Location \(Generation.prefix)>
                    Require expr "\(try localClients())"
                    ErrorDocument 404 "\(Generation.bodyPrefix)\(Generation.placeholder)"
                </Location>

            """
        return out
    }
}
