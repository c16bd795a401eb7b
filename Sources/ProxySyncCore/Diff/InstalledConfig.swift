/// What an installed file says it serves, read back best-effort for the semantic diff.
public struct InstalledConfig: Equatable, Sendable {
    public var listeners: [Listener]
    /// True when line 1 is our managed header.
    public var isManaged: Bool

    /// Reads NGINX `server` blocks or Apache `VirtualHost` sections; unknown text is ignored.
    public static func read(_ text: String, kind: ProxyKind) -> InstalledConfig {
        let managed = text.hasPrefix(Renderers.headerLine)
        let listeners = kind == .nginx ? readNginx(text) : readApache(text)
        // One listener may have several `listen` lines (IPv4 and IPv6, several addresses): count it once.
        return InstalledConfig(listeners: Array(Set(listeners)).sorted(), isManaged: managed)
    }

    struct Block {
        var ports: [(Int, Bool)] = []
        var names: [String] = []
        var redirect: String?
        var proxies = false
        /// Has the ACME challenge location (SPEC 5d): with neither a redirect nor a proxy, a challenge-only listener.
        var challenge = false

        func listeners(defaultHTTPS: Bool = false) -> [Listener] {
            var out: [Listener] = []
            for (port, ssl) in ports {
                for name in names.isEmpty ? ["_"] : names {
                    let action: Listener.Action =
                        redirect.map { .redirect(to: $0) } ?? (challenge && !proxies ? .challenge : .proxy)
                    out.append(
                        Listener(scheme: ssl || defaultHTTPS ? .https : .http, port: port, serverName: name, action: action))
                }
            }
            return out
        }
    }

    static func words(_ line: Substring) -> [Substring] {
        var text = line
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ";" })
    }

    static func port(from listen: Substring) -> Int? {
        if let value = Int(listen) { return value }
        if let colon = listen.lastIndex(of: ":") { return Int(listen[listen.index(after: colon)...]) }
        return nil
    }

    static func readNginx(_ text: String) -> [Listener] {
        var result: [Listener] = []
        var block: Block?
        var depth = 0
        for line in text.split(separator: "\n") {
            let w = words(line)
            guard let first = w.first else { continue }
            if first == "server" && w.contains("{") && depth == 0 {
                block = Block()
                depth = 1
                continue
            }
            if block != nil {
                switch first {
                case "listen" where w.count > 1 && depth == 1:
                    if let port = port(from: w[1]) { block?.ports.append((port, w.contains("ssl"))) }
                case "server_name" where depth == 1:
                    block?.names += w.dropFirst().map { String($0).lowercased() }
                // A redirect's `return 301` sits in `location /` (its `return 308` for other methods, with the same
                // target, is not read).
                case "return" where w.count > 2 && (depth == 1 || w[1] == "301"):
                    var target = String(w[2])
                    if target.hasSuffix("$request_uri") { target = String(target.dropLast("$request_uri".count)) }
                    block?.redirect = target
                case "proxy_pass":
                    block?.proxies = true
                case "location" where w.contains("/.well-known/acme-challenge/"):
                    block?.challenge = true
                default:
                    break
                }
            }
            depth += line.filter { $0 == "{" }.count - (first == "server" ? 0 : 0)
            depth -= line.filter { $0 == "}" }.count
            if depth <= 0, let finished = block {
                result += finished.listeners()
                block = nil
                depth = 0
            }
        }
        return result
    }

    static func readApache(_ text: String) -> [Listener] {
        var result: [Listener] = []
        var block: Block?
        var ssl = false
        for line in text.split(separator: "\n") {
            let w = words(line)
            guard let first = w.first else { continue }
            let lower = first.lowercased()
            if lower.hasPrefix("<virtualhost") {
                block = Block()
                ssl = false
                let addresses = w.dropFirst().map { $0.hasSuffix(">") ? $0.dropLast() : $0 }
                let all = first.count > "<VirtualHost".count ? [first.dropFirst("<VirtualHost".count)] + addresses : addresses
                for address in all where !address.isEmpty {
                    if let port = port(from: address) { block?.ports.append((port, false)) }
                }
                continue
            }
            guard block != nil else { continue }
            switch lower {
            case "servername" where w.count > 1:
                block?.names.insert(String(w[1]).lowercased(), at: 0)
            case "serveralias":
                block?.names += w.dropFirst().map { String($0).lowercased() }
            case "sslengine" where w.count > 1:
                ssl = w[1].lowercased() == "on"
            case "redirect" where w.count > 1:
                var target = String(w[w.count - 1])
                while target.hasSuffix("/") { target.removeLast() }
                block?.redirect = target
            case "proxypass" where !w.contains("!"):
                block?.proxies = true
            case "aliasmatch" where line.contains("/.well-known/acme-challenge/"):
                block?.challenge = true
            case "</virtualhost>":
                if let finished = block { result += finished.listeners(defaultHTTPS: ssl) }
                block = nil
            default:
                break
            }
        }
        return result
    }
}
