import Foundation

@testable import ProxySyncCore

enum Fixtures {
    static func proxy(kind: ProxyKind = .nginx, certificate: Bool = true, redirect: Bool = true) -> ProxySettings {
        var proxy = ProxySettings(
            kind: kind, output: "/etc/nginx/conf.d/gocd.conf",
            upstream: Upstream(scheme: .http, host: "127.0.0.1", port: 8153),
            testCommand: kind.defaultTestCommand, reloadCommand: kind.defaultReloadCommand)
        if certificate {
            proxy.tlsCertificate = "/etc/ssl/gocd/fullchain.pem"
            proxy.tlsCertificateKey = "/etc/ssl/gocd/privkey.pem"
        }
        proxy.redirectHTTPToHTTPS = redirect
        return proxy
    }

    static func settings(kind: ProxyKind = .nginx) -> Settings {
        Settings(
            gocd: GoCDSettings(serverURL: "http://127.0.0.1:8153/go"), proxy: proxy(kind: kind),
            sync: SyncSettings())
    }

    /// A config file for an NGINX proxy with `proxyLines` added to its `[proxy]` table.
    static func config(_ proxyLines: String) -> String {
        """
        [gocd]
        server_url = "http://127.0.0.1:8153/go"
        [proxy]
        kind = "nginx"
        output = "/etc/nginx/conf.d/gocd.conf"
        upstream = "http://127.0.0.1:8153"
        \(proxyLines)
        """
    }

    /// ``config(_:)`` decoded.
    static func settings(_ proxyLines: String) throws(ConfigError) -> Settings {
        try Settings.decode(config(proxyLines), file: "/c.toml")
    }

    static func plan(_ site: String, _ secure: String, proxy: ProxySettings = Fixtures.proxy()) throws -> ProxyPlan {
        guard case .plan(let plan) = try PlanDeriver.derive(SiteURLs(siteURL: site, secureSiteURL: secure), settings: proxy)
        else {
            throw StoreError("nothing to derive")
        }
        return plan
    }
}

/// Golden files live beside this file; `RECORD_GOLDEN=1 swift test` rewrites them.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func check(_ actual: String, name: String) throws -> Bool {
        let url = directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        return expected == actual
    }
}
