/// A site URL that passed validation: scheme, host and port only (any path is accepted and dropped).
public struct SiteURL: Equatable, Hashable, Sendable {
    public enum Scheme: String, Sendable, Comparable {
        case http, https

        public var defaultPort: Int { self == .http ? 80 : 443 }

        public static func < (lhs: Scheme, rhs: Scheme) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var scheme: Scheme
    /// Lower case, no trailing dot; IPv6 addresses keep their brackets.
    public var host: String
    /// The effective port (the scheme's default when none was given).
    public var port: Int

    public init(scheme: Scheme, host: String, port: Int) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// `scheme://host[:port]`, with the scheme's default port left out.
    public var origin: String {
        port == scheme.defaultPort ? "\(scheme.rawValue)://\(host)" : "\(scheme.rawValue)://\(host):\(port)"
    }

    /// The result of checking one raw value from GoCD.
    public struct Checked: Equatable, Sendable {
        /// `nil` when the value is unset (empty or only spaces).
        public var url: SiteURL?
        /// True when surrounding spaces were removed (worth a warning).
        public var trimmed: Bool
    }

    /// Validates one value as GoCD returned it.
    ///
    /// - Throws: ``SiteURLRejection`` naming the field, the escaped value and the reason.
    public static func check(_ raw: String, field: SiteURLField) throws(SiteURLRejection) -> Checked {
        func reject(_ reason: String) -> SiteURLRejection {
            SiteURLRejection(field: field.rawValue, rawValue: raw, reason: reason)
        }
        let text = trimSpaces(raw)
        let trimmed = text.count != raw.count
        if text.isEmpty { return Checked(url: nil, trimmed: trimmed) }
        let bytes = Array(text.utf8)
        if bytes.count > 2048 { throw reject("longer than 2048 characters") }
        for byte in bytes {
            if byte < 0x20 || byte == 0x7F { throw reject("contains a control character") }
            if byte >= 0x80 {
                throw reject("contains a non-ASCII character (internationalised host names must be given in their xn-- form)")
            }
            if byte == UInt8(ascii: " ") { throw reject("contains whitespace") }
            if let name = forbiddenNames[byte] { throw reject("contains \(name)") }
        }
        let lower = text.lowercased()
        let scheme: Scheme
        let rest: Substring
        if lower.hasPrefix("https://") {
            scheme = .https
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            scheme = .http
            rest = text.dropFirst(7)
        } else {
            throw reject("must start with http:// or https://")
        }
        if field == .secureSiteURL && scheme != .https {
            throw reject("secure_site_url must be an https:// URL")
        }
        let authority: Substring
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[slash...]
        } else {
            authority = rest
            path = ""
        }
        for char in path.utf8 where !isPathByte(char) {
            throw reject("the path may contain only / and the characters A-Z a-z 0-9 - . _ ~")
        }
        if authority.isEmpty { throw reject("has no host") }
        if authority.contains("@") { throw reject("contains user info (@)") }
        let hostPart: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw reject("has an unclosed [ in an IPv6 address") }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw reject("has text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        var port = scheme.defaultPort
        if let portText {
            guard let parsed = parsePort(portText) else { throw reject("port must be a number from 1 to 65535") }
            port = parsed
        }
        let host: String
        do {
            host = try HostName.normalise(String(hostPart))
        } catch {
            throw reject(error.reason)
        }
        return Checked(url: SiteURL(scheme: scheme, host: host, port: port), trimmed: trimmed)
    }

    static func trimSpaces(_ text: String) -> String {
        var scalars = Substring(text)
        while scalars.first == " " { scalars = scalars.dropFirst() }
        while scalars.last == " " { scalars = scalars.dropLast() }
        return String(scalars)
    }

    static func parsePort(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(text)
        else { return nil }
        return (1...65535).contains(value) ? value : nil
    }

    private static func isPathByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "/"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static let forbiddenNames: [UInt8: String] = [
        UInt8(ascii: "\""): "a quote (\")",
        UInt8(ascii: "'"): "a quote (')",
        UInt8(ascii: "`"): "a backquote (`)",
        UInt8(ascii: ";"): "a semicolon (;)",
        UInt8(ascii: "{"): "a brace ({)",
        UInt8(ascii: "}"): "a brace (})",
        UInt8(ascii: "$"): "a dollar sign ($)",
        UInt8(ascii: "\\"): "a backslash (\\)",
        UInt8(ascii: "%"): "a percent sign (%)",
        UInt8(ascii: "#"): "a fragment (#)",
        UInt8(ascii: "?"): "a query (?)",
        UInt8(ascii: "<"): "an angle bracket (<)",
        UInt8(ascii: ">"): "an angle bracket (>)",
        UInt8(ascii: "|"): "a pipe (|)",
        UInt8(ascii: "^"): "a caret (^)",
        UInt8(ascii: "*"): "an asterisk (*)",
        UInt8(ascii: "("): "a parenthesis (()",
        UInt8(ascii: ")"): "a parenthesis ())",
        UInt8(ascii: "!"): "an exclamation mark (!)",
        UInt8(ascii: ","): "a comma (,)",
        UInt8(ascii: "="): "an equals sign (=)",
        UInt8(ascii: "+"): "a plus sign (+)",
        UInt8(ascii: "&"): "an ampersand (&)",
    ]
}
