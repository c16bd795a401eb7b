/// Whether each `<VirtualHost>` of an Apache configuration file uses TLS, read the way httpd reads the file
/// (`ap_cfg_getline` and `ap_getword_conf` in `server/util.c`): lines end at LF with any CR dropped, a line
/// ending in a backslash continues on the next, a `#` at the start of a line (after blanks) makes it a
/// comment, directive names ignore case, a word may be quoted with `"` or `'`.
public enum ApacheVirtualHostScanner {
    /// What one `<VirtualHost>` block says.
    public struct VirtualHost: Equatable, Sendable {
        /// true when it says `SSLEngine on` (or `optional`), false when it does not, nil when it includes
        /// other files and says nothing itself (its TLS then cannot be told from this file).
        public var tls: Bool?
        /// Its `ServerName` and `ServerAlias` names, lower case (the dump leaves out the aliases of a
        /// virtual host that is alone on its address and port).
        public var names: [String]
    }

    /// The virtual hosts of a file, by the line number where each `<VirtualHost …>` opens.
    public static func scan<Bytes: Collection>(_ bytes: Bytes) -> [Int: VirtualHost] where Bytes.Element == UInt8 {
        var result: [Int: VirtualHost] = [:]
        var open: Int?
        var engine: Bool?
        var includes = false
        var names: [String] = []
        var lineNumber = 0
        var logical: [UInt8] = []
        var logicalStart = 1
        var physical: [UInt8] = []

        func handle(_ line: [UInt8], at number: Int) {
            let words = ApacheVirtualHostScanner.words(line)
            guard let first = words.first?.lowercased() else { return }
            if first.hasPrefix("#") { return }
            if first.hasPrefix("<virtualhost") {
                if let open { result[open] = VirtualHost(tls: engine ?? (includes ? nil : false), names: names) }
                open = number
                engine = nil
                includes = false
                names = []
            } else if first.hasPrefix("</virtualhost") {
                if let start = open { result[start] = VirtualHost(tls: engine ?? (includes ? nil : false), names: names) }
                open = nil
            } else if open != nil, first == "sslengine", words.count > 1 {
                let value = words[1].lowercased()
                engine = value == "on" || value == "optional"
            } else if open != nil, first == "include" || first == "includeoptional" {
                includes = true
            } else if open != nil, first == "servername" || first == "serveralias" {
                for name in words.dropFirst() {
                    // ServerName may carry a scheme and a port: `https://www.example.com:443`.
                    var host = Substring(name.lowercased())
                    if let scheme = host.firstRange(of: "://") { host = host[scheme.upperBound...] }
                    if first == "servername", let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
                        host = host[..<colon]
                    }
                    if !host.isEmpty { names.append(String(host)) }
                }
            }
        }

        func endPhysical() {
            lineNumber += 1
            while let last = physical.last, last == 0x0D { physical.removeLast() }
            if logical.isEmpty { logicalStart = lineNumber }
            if physical.last == 0x5C {
                logical += physical.dropLast()
            } else {
                logical += physical
                handle(logical, at: logicalStart)
                logical.removeAll(keepingCapacity: true)
            }
            physical.removeAll(keepingCapacity: true)
        }

        for byte in bytes {
            if byte == 0x0A { endPhysical() } else if physical.count < 1 << 20 { physical.append(byte) }
        }
        if !physical.isEmpty || !logical.isEmpty { endPhysical() }
        if let open { result[open] = VirtualHost(tls: engine ?? (includes ? nil : false), names: names) }
        return result
    }

    /// The words of a line as `ap_getword_conf` splits them (quotes removed, `\"` inside quotes kept as `"`).
    static func words(_ line: [UInt8]) -> [String] {
        var out: [String] = []
        var index = 0
        while index < line.count {
            while index < line.count && (line[index] == 0x20 || line[index] == 0x09) { index += 1 }
            guard index < line.count else { break }
            var word: [UInt8] = []
            let quote = line[index]
            if quote == 0x22 || quote == 0x27 {
                index += 1
                while index < line.count && line[index] != quote {
                    if line[index] == 0x5C && index + 1 < line.count && line[index + 1] == quote { index += 1 }
                    word.append(line[index])
                    index += 1
                }
                index += 1
            } else {
                while index < line.count && line[index] != 0x20 && line[index] != 0x09 {
                    word.append(line[index])
                    index += 1
                }
            }
            out.append(String(decoding: word, as: UTF8.self))
        }
        return out
    }
}
