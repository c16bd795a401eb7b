/// Validation of the host part of a URL: an ASCII DNS name, an IPv4 address or a bracketed IPv6 address.
public enum HostName {
    public struct Invalid: Error, Equatable, Sendable {
        public var reason: String
    }

    /// Returns the host lower-cased, without a trailing dot; IPv6 stays in brackets.
    ///
    /// - Throws: ``Invalid`` with a reason a person can act on.
    public static func normalise(_ raw: String) throws(Invalid) -> String {
        if raw.isEmpty { throw Invalid(reason: "has no host") }
        if raw.hasPrefix("[") {
            guard raw.hasSuffix("]"), raw.count > 2 else { throw Invalid(reason: "has a malformed IPv6 address") }
            let inner = String(raw.dropFirst().dropLast()).lowercased()
            guard isIPv6(inner) else { throw Invalid(reason: "has a malformed IPv6 address") }
            return "[" + inner + "]"
        }
        var host = raw.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        if host.isEmpty { throw Invalid(reason: "has no host") }
        if host.utf8.count > 253 { throw Invalid(reason: "host name is longer than 253 characters") }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if labels.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(isDigit) }) {
            guard isIPv4(host) else { throw Invalid(reason: "host looks like an IPv4 address but is not a valid one") }
            return host
        }
        for label in labels {
            if label.isEmpty { throw Invalid(reason: "host name has an empty label (..)") }
            if label.utf8.count > 63 { throw Invalid(reason: "host name has a label longer than 63 characters") }
            for byte in label.utf8 where !(isDigit(byte) || isLower(byte) || byte == UInt8(ascii: "-")) {
                if byte == UInt8(ascii: "_") {
                    throw Invalid(reason: "host name contains an underscore (_), which DNS host names may not")
                }
                if byte >= 0x80 {
                    throw Invalid(reason: "host name is not ASCII: give an internationalised name in its xn-- form")
                }
                throw Invalid(reason: "host name may contain only letters, digits, hyphens and dots")
            }
            if label.hasPrefix("-") || label.hasSuffix("-") {
                throw Invalid(reason: "host name has a label that starts or ends with a hyphen")
            }
        }
        return host
    }

    /// Dotted-quad IPv4, four decimal parts 0-255, no leading zeros.
    public static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy(isDigit), let value = Int(part), value <= 255
            else { return false }
            if part.count > 1 && part.hasPrefix("0") { return false }
        }
        return true
    }

    /// RFC 4291 text form without a zone id; an embedded IPv4 tail is allowed.
    public static func isIPv6(_ text: String) -> Bool {
        if text.isEmpty || text.utf8.count > 45 { return false }
        let doubleColons = text.components(separatedBy: "::").count - 1
        if doubleColons > 1 { return false }
        var groups = 0
        var pieces: [Substring] = []
        if doubleColons == 1 {
            let halves = text.components(separatedBy: "::")
            for half in halves where !half.isEmpty {
                pieces.append(contentsOf: half.split(separator: ":", omittingEmptySubsequences: false).map { Substring($0) })
            }
        } else {
            pieces = text.split(separator: ":", omittingEmptySubsequences: false)
        }
        for (index, piece) in pieces.enumerated() {
            if piece.contains(".") {
                guard index == pieces.count - 1, isIPv4(String(piece)) else { return false }
                groups += 2
                continue
            }
            guard (1...4).contains(piece.count), piece.utf8.allSatisfy(isHex) else { return false }
            groups += 1
        }
        return doubleColons == 1 ? groups <= 7 : groups == 8
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }
    static func isLower(_ byte: UInt8) -> Bool { byte >= 97 && byte <= 122 }
    static func isHex(_ byte: UInt8) -> Bool { isDigit(byte) || (byte >= 97 && byte <= 102) || (byte >= 65 && byte <= 70) }
}

extension String {
    /// Splits on a multi-character separator (no Foundation in the core).
    func components(separatedBy separator: String) -> [String] {
        var result: [String] = []
        var current = Substring(self)
        while let range = current.firstRange(of: separator) {
            result.append(String(current[..<range.lowerBound]))
            current = current[range.upperBound...]
        }
        result.append(String(current))
        return result
    }
}
