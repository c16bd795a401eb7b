/// Turns a config test's words into the next step, e.g. which Apache module to enable.
public enum ModuleHint {
    public static func hint(for output: String, kind: ProxyKind) -> String {
        guard kind == .apache else { return "read the test output above" }
        let modules: [(String, String)] = [
            ("ProxyPass", "proxy proxy_http proxy_wstunnel"),
            ("ProxyPreserveHost", "proxy"),
            ("ProxyRequests", "proxy"),
            ("ProxyTimeout", "proxy"),
            ("upgrade=websocket", "proxy_wstunnel"),
            ("RequestHeader", "headers"),
            ("SSLEngine", "ssl"),
            ("SSLCertificate", "ssl"),
            ("RewriteEngine", "rewrite"),
            ("RemoteIP", "remoteip"),
        ]
        for (directive, module) in modules where output.contains("Invalid command '\(directive)") {
            return "enable the module that provides \(directive): a2enmod \(module)"
        }
        if output.contains("No protocol handler") || output.contains("proxy_http") {
            return "enable the HTTP proxy module: a2enmod proxy_http"
        }
        return "read the test output above"
    }
}
