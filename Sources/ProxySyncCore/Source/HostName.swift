/// Validation of the host part of a URL: an ASCII DNS name, an IPv4 address or a bracketed IPv6 address.
public enum HostName {
    public struct Invalid: Error, Equatable, Sendable {
        public var reason: String
    }

    /// Returns the host lower-cased, without a trailing dot; IPv6 stays in brackets.
    ///
    /// The gate admits only names every client reads the same way: a name whose last label is a number (the WHATWG
    /// URL "ends in a number" rule, which libcurl shares) only as a canonical dotted-quad IPv4 address, an IPv6
    /// address only in its canonical RFC 5952 form (as `inet_ntop` writes it).
    ///
    /// - Throws: ``Invalid`` with a reason a person can act on.
    public static func normalise(_ raw: String) throws(Invalid) -> String {
        if raw.isEmpty { throw Invalid(reason: "has no host") }
        if raw.hasPrefix("[") {
            guard raw.hasSuffix("]"), raw.count > 2 else { throw Invalid(reason: "has a malformed IPv6 address") }
            let inner = asciiLowercased(String(raw.dropFirst().dropLast()))
            guard let canonical = canonicalIPv6(inner) else { throw Invalid(reason: "has a malformed IPv6 address") }
            guard canonical == inner else {
                throw Invalid(reason: "has an IPv6 address that is not in its canonical form (RFC 5952): write it as [\(canonical)]")
            }
            return "[" + inner + "]"
        }
        var host = asciiLowercased(raw)
        if host.hasSuffix(".") { host.removeLast() }
        if host.isEmpty { throw Invalid(reason: "has no host") }
        if host.utf8.count > 253 { throw Invalid(reason: "host name is longer than 253 characters") }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if let last = labels.last, isNumber(last) {
            guard isIPv4(host) else { throw Invalid(reason: numericReason(host, labels: labels)) }
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

    /// True when the host (lower case, any one trailing dot already dropped) ends in a number by the WHATWG URL
    /// rule: its last label is all ASCII digits, or `0x` followed by hex digits (none at all counts too).
    public static func endsInANumber(_ host: String) -> Bool {
        guard let last = host.split(separator: ".", omittingEmptySubsequences: false).last else { return false }
        return isNumber(last)
    }

    static func isNumber(_ label: Substring) -> Bool {
        if !label.isEmpty && label.utf8.allSatisfy(isDigit) { return true }
        guard label.hasPrefix("0x") || label.hasPrefix("0X") else { return false }
        return label.utf8.dropFirst(2).allSatisfy(isHex)
    }

    /// Why a name that ends in a number is refused, with the address browsers and libcurl read it as when they do.
    static func numericReason(_ host: String, labels: [Substring]) -> String {
        let last = Escaping.printable(String(labels.last ?? ""))
        if let address = whatwgIPv4(labels) {
            let dotted = "\(address >> 24).\(address >> 16 & 0xFF).\(address >> 8 & 0xFF).\(address & 0xFF)"
            return "host name ends in a number (\(last)), so browsers and libcurl read it as the IPv4 address "
                + "\(dotted): write it as \(dotted), or use a DNS name"
        }
        return "host name ends in a number (\(last)) but is not an IPv4 address written as four decimal numbers "
            + "0-255 without leading zeros (such as 10.0.0.1): use one, or a DNS name"
    }

    /// The WHATWG URL IPv4 parser (decimal, `0x` hex and `0` octal parts, one to four of them), or nil on failure.
    static func whatwgIPv4(_ labels: [Substring]) -> UInt32? {
        guard (1...4).contains(labels.count) else { return nil }
        var numbers: [UInt64] = []
        for label in labels {
            var digits = Substring(label)
            var radix: UInt64 = 10
            if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
                digits = digits.dropFirst(2)
                radix = 16
            } else if digits.count >= 2 && digits.hasPrefix("0") {
                digits = digits.dropFirst()
                radix = 8
            } else if digits.isEmpty {
                return nil
            }
            var value: UInt64 = 0
            for byte in digits.utf8 {
                let digit: UInt64
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(byte - UInt8(ascii: "A") + 10)
                default: return nil
                }
                guard digit < radix else { return nil }
                value = min(value * radix + digit, 1 << 33)  // anything past 2^32 fails below
            }
            numbers.append(value)
        }
        let last = numbers.removeLast()
        guard numbers.allSatisfy({ $0 <= 255 }), last < (1 as UInt64) << (8 * (4 - numbers.count)) else { return nil }
        var address = last
        for (index, number) in numbers.enumerated() { address += number << (8 * (3 - index)) }
        return UInt32(address)
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

    /// RFC 4291 text form without a zone id; an embedded IPv4 tail (canonical dotted quad) is allowed.
    public static func isIPv6(_ text: String) -> Bool { ipv6Groups(text) != nil }

    /// True when `text` (no brackets) is an IPv6 address in its canonical RFC 5952 form.
    public static func isCanonicalIPv6(_ text: String) -> Bool { canonicalIPv6(text) == text }

    /// The RFC 5952 form of an IPv6 address (no brackets) exactly as `inet_ntop` writes it: lower-case hex without
    /// leading zeros, the longest run of two or more zero groups (the first when tied) as `::`, and the last 32 bits
    /// as a dotted quad for IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses.
    /// Nil when `text` is not an IPv6 address.
    public static func canonicalIPv6(_ text: String) -> String? {
        guard let groups = ipv6Groups(text) else { return nil }
        var best = (base: -1, length: 0)
        var current = (base: -1, length: 0)
        for index in 0..<8 {
            if groups[index] == 0 {
                current = current.base == -1 ? (index, 1) : (current.base, current.length + 1)
            } else if current.base != -1 {
                if current.length > best.length { best = current }
                current = (-1, 0)
            }
        }
        if current.base != -1 && current.length > best.length { best = current }
        if best.length < 2 { best = (-1, 0) }
        var out = ""
        var index = 0
        while index < 8 {
            if best.base != -1 && index >= best.base && index < best.base + best.length {
                if index == best.base { out += ":" }
                index += 1
                continue
            }
            if index != 0 { out += ":" }
            if index == 6 && best.base == 0 && (best.length == 6 || (best.length == 5 && groups[5] == 0xFFFF)) {
                out += "\(groups[6] >> 8).\(groups[6] & 0xFF).\(groups[7] >> 8).\(groups[7] & 0xFF)"
                return out
            }
            out += String(groups[index], radix: 16)
            index += 1
        }
        if best.base != -1 && best.base + best.length == 8 { out += ":" }
        return out
    }

    /// The eight 16-bit groups of an RFC 4291 text address, or nil.
    static func ipv6Groups(_ text: String) -> [UInt16]? {
        if text.isEmpty || text.utf8.count > 45 { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            var out: [UInt16] = []
            for (index, piece) in pieces.enumerated() {
                if piece.contains(".") {
                    guard tail, index == pieces.count - 1, isIPv4(String(piece)) else { return nil }
                    let octets = piece.split(separator: ".").compactMap { UInt16($0) }
                    out.append(octets[0] << 8 | octets[1])
                    out.append(octets[2] << 8 | octets[3])
                    continue
                }
                guard (1...4).contains(piece.utf8.count), piece.utf8.allSatisfy(isHex), let value = UInt16(piece, radix: 16)
                else { return nil }
                out.append(value)
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], tail: true), all.count == 8 else { return nil }
            return all
        }
        guard let head = groups(halves[0], tail: false), let tail = groups(halves[1], tail: true),
            head.count + tail.count <= 7
        else { return nil }
        return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    }

    /// Lower-cases A-Z only: a non-ASCII letter is never folded into an ASCII one (U+212A KELVIN SIGN is not `k`).
    static func asciiLowercased(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) else { return text }
        return String(decoding: text.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
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
