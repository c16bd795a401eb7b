/// Describes how the listeners change, for the log: `server_name a → b; https port 443 → 8443`.
public enum SemanticDiff {
    public static func describe(from old: [Listener], to new: [Listener]) -> String {
        if Set(old) == Set(new) { return "no listener changes" }
        var parts: [String] = []
        var oldRest: [Listener] = []
        var newRest: [Listener] = []
        let keys = Set((old + new).map(groupKey)).sorted()
        for key in keys {
            let before = old.filter { groupKey($0) == key }.sorted()
            let after = new.filter { groupKey($0) == key }.sorted()
            if before.count == 1, after.count == 1, let a = before.first, let b = after.first {
                parts += changes(a, b)
            } else if Set(before) != Set(after) {
                oldRest += before.filter { !after.contains($0) }
                newRest += after.filter { !before.contains($0) }
            }
        }
        for listener in oldRest { parts.append("removed " + summary(listener)) }
        for listener in newRest { parts.append("added " + summary(listener)) }
        return parts.joined(separator: "; ")
    }

    static func groupKey(_ listener: Listener) -> String {
        "\(listener.scheme.rawValue) \(listener.action == .challenge ? "challenge" : listener.redirectTarget == nil ? "proxy" : "redirect")"
    }

    static func changes(_ a: Listener, _ b: Listener) -> [String] {
        let prefix = a.redirectTarget == nil ? "" : "redirect "
        var parts: [String] = []
        if a.serverName != b.serverName { parts.append("\(prefix)server_name \(a.serverName) → \(b.serverName)") }
        if a.port != b.port { parts.append("\(prefix)\(a.scheme.rawValue) port \(a.port) → \(b.port)") }
        if let from = a.redirectTarget, let to = b.redirectTarget, from != to {
            parts.append("redirect target \(from) → \(to)")
        }
        return parts
    }

    public static func summary(_ listener: Listener) -> String {
        let what = listener.redirectTarget.map { "redirect to \($0)" } ?? (listener.action == .challenge ? "ACME challenge only" : "proxy")
        return "\(listener.scheme.rawValue) listener \(listener.serverName):\(listener.port) (\(what))"
    }
}
