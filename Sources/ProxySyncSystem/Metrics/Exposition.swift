/// The Prometheus text exposition as node_exporter's textfile collector and `promtool check metrics` want it.
enum Exposition {
    /// `bytes` (swift-prometheus's rendering, which has `# TYPE` lines but no `# HELP`: swift-metrics carries no
    /// help text) with a `# HELP` line before each `# TYPE` line whose metric has a text in `help`.
    static func withHelp(_ bytes: [UInt8], help: [String: String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 64 * help.count)
        let typePrefix = Array("# TYPE ".utf8)
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            if line.starts(with: typePrefix) {
                let name = String(decoding: line.dropFirst(typePrefix.count).prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let text = help[name] {
                    out.append(contentsOf: "# HELP \(name) \(escaped(text))\n".utf8)
                }
            }
            out.append(contentsOf: line)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// HELP text escaping: backslash and newline.
    static func escaped(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }
}
