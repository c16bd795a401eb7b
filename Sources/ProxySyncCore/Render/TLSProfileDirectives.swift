/// The directives of ``TLSProfile`` for each proxy, written into every TLS server / VirtualHost.
extension TLSProfile {
    /// NGINX `server` block lines (all of them allowed in `server`). NGINX 1.22 picks the protocol version and
    /// the cipher before it looks at SNI, with the settings of the address and port's default server
    /// (README: Certificates); on a port of its own, or where the GoCD site is the default server, these hold.
    public var nginxLines: String {
        guard let protocols else { return "" }
        var out = "    # TLS profile \(rawValue) (Mozilla server-side TLS 5.7).\n"
        out += "    ssl_protocols \(protocols.joined(separator: " "));\n"
        out += "    ssl_ecdh_curve \(Self.curves);\n"
        if self == .intermediate { out += "    ssl_ciphers \(Self.intermediateCiphers);\n" }
        out += "    ssl_prefer_server_ciphers off;\n"
        out += "    ssl_session_tickets off;\n"
        return out
    }

    /// Apache `VirtualHost` lines (mod_ssl; all of them allowed per virtual host, and honoured per SNI name with
    /// httpd 2.4.42+ on OpenSSL 1.1.1+).
    public var apacheLines: String {
        guard let protocols else { return "" }
        var out = "    # TLS profile \(rawValue) (Mozilla server-side TLS 5.7).\n"
        out += "    SSLProtocol -all \(protocols.map { "+" + $0 }.joined(separator: " "))\n"
        out += "    SSLOpenSSLConfCmd Curves \(Self.curves)\n"
        if self == .intermediate { out += "    SSLCipherSuite \(Self.intermediateCiphers)\n" }
        out += "    SSLHonorCipherOrder off\n"
        out += "    SSLSessionTickets off\n"
        return out
    }
}
