/// A small, strict TOML reader for the daemon's configuration file.
///
/// Supports what the configuration needs: `[table]` headers, `key = value` pairs, basic and literal
/// strings, integers, decimal numbers, booleans, arrays of those (on one or several lines) and `#` comments.
/// Anything else is a syntax error naming the line, never a silent guess. Arrays nest at most
/// ``maximumDepth`` levels, so a hostile file cannot exhaust the stack.
public enum TOML {
    /// How deeply arrays may nest.
    public static let maximumDepth = 64

    public enum Value: Equatable, Sendable {
        case string(String)
        case integer(Int)
        case float(Double)
        case boolean(Bool)
        case array([Value])

        public var typeName: String {
            switch self {
            case .string: "a string"
            case .integer: "an integer"
            case .float: "a decimal number"
            case .boolean: "a boolean"
            case .array: "an array"
            }
        }
    }

    public struct Entry: Equatable, Sendable {
        public var value: Value
        public var line: Int
    }

    /// Tables by name; keys at the top of the file live in the table named `""`.
    public typealias Document = [String: [String: Entry]]

    public struct SyntaxError: Error, Equatable, Sendable {
        public var line: Int
        public var message: String
    }

    public static func parse(_ text: String) throws(SyntaxError) -> Document {
        var parser = Parser(Array(text.utf8))
        return try parser.document()
    }

    struct Parser {
        let bytes: [UInt8]
        var index = 0
        var line = 1

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        }

        func error(_ message: String) -> SyntaxError { SyntaxError(line: line, message: message) }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpaces() {
            while let byte = peek, byte == 0x20 || byte == 0x09 { index += 1 }
        }

        /// A `#` comment up to (not including) the line break; control characters other than tab are refused.
        mutating func skipComment() throws(SyntaxError) {
            guard peek == UInt8(ascii: "#") else { return }
            while let byte = peek, byte != 0x0A {
                if byte == 0x0D { try lineBreakAfterCR() }
                if byte != 0x0D { try refuseControl(byte, in: "a comment") }
                index += 1
            }
        }

        /// A CR is only allowed as the first half of CRLF.
        func lineBreakAfterCR() throws(SyntaxError) {
            guard index + 1 < bytes.count, bytes[index + 1] == 0x0A else {
                throw error("a carriage return (CR) must be followed by a line feed (LF)")
            }
        }

        /// U+0000–U+001F (tab excepted) and U+007F have no place in comments and strings.
        func refuseControl(_ byte: UInt8, in place: String) throws(SyntaxError) {
            if (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                throw error(
                    "control character U+00\(byte < 0x10 ? "0" : "")\(String(byte, radix: 16, uppercase: true)) in \(place)")
            }
        }

        /// Expects the end of a line (after optional spaces and a comment).
        mutating func endOfLine() throws(SyntaxError) {
            skipSpaces()
            try skipComment()
            if peek == 0x0D {
                try lineBreakAfterCR()
                index += 1
            }
            guard let byte = peek else { return }
            guard byte == 0x0A else { throw error("unexpected text after the value") }
            index += 1
            line += 1
        }

        mutating func document() throws(SyntaxError) -> Document {
            var doc: Document = ["": [:]]
            var headerLines: [String: Int] = [:]
            var table = ""
            while index < bytes.count {
                skipSpaces()
                guard let byte = peek else { break }
                if byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: "#") {
                    try endOfLine()
                    continue
                }
                if byte == UInt8(ascii: "[") {
                    index += 1
                    if peek == UInt8(ascii: "[") { throw error("arrays of tables ([[...]]) are not used in this file") }
                    skipSpaces()
                    let name = try key()
                    skipSpaces()
                    guard peek == UInt8(ascii: "]") else { throw error("expected ] to close the table header") }
                    index += 1
                    // The keys before the first header live in the table named "": a header may not name it.
                    if name.isEmpty { throw error("an empty table name is not used in this file") }
                    if let first = headerLines[name] {
                        throw error("table [\(Escaping.printable(name))] appears twice (first at line \(first))")
                    }
                    if let key = doc[""]?[name] {
                        throw error(
                            "[\(Escaping.printable(name))] is both a table and the key \(Escaping.printable(name)) at line \(key.line)"
                        )
                    }
                    doc[name] = [:]
                    headerLines[name] = line
                    table = name
                    try endOfLine()
                    continue
                }
                let name = try key()
                skipSpaces()
                guard peek == UInt8(ascii: "=") else { throw error("expected = after the key \(Escaping.printable(name))") }
                index += 1
                skipSpaces()
                let keyLine = line
                let value = try self.value(depth: 0)
                let path = Escaping.printable(table.isEmpty ? name : table + "." + name)
                if let first = doc[table]?[name] {
                    throw SyntaxError(line: keyLine, message: "key \(path) appears twice (first at line \(first.line))")
                }
                if table.isEmpty, let header = headerLines[name] {
                    throw SyntaxError(
                        line: keyLine,
                        message:
                            "the key \(Escaping.printable(name)) is also the table [\(Escaping.printable(name))] at line \(header)"
                    )
                }
                doc[table, default: [:]][name] = Entry(value: value, line: keyLine)
                try endOfLine()
            }
            return doc
        }

        mutating func key() throws(SyntaxError) -> String {
            if peek == UInt8(ascii: "\"") { return try basicString() }
            var name: [UInt8] = []
            while let byte = peek, isBareKeyByte(byte) {
                name.append(byte)
                index += 1
            }
            if peek == UInt8(ascii: ".") { throw error("dotted keys are not used in this file") }
            guard !name.isEmpty else { throw error("expected a key") }
            return String(decoding: name, as: UTF8.self)
        }

        func isBareKeyByte(_ byte: UInt8) -> Bool {
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }

        mutating func value(depth: Int) throws(SyntaxError) -> Value {
            guard let byte = peek else { throw error("expected a value") }
            switch byte {
            case UInt8(ascii: "\""):
                if bytes[index...].starts(with: Array("\"\"\"".utf8)) {
                    throw error("multi-line strings are not used in this file")
                }
                return .string(try basicString())
            case UInt8(ascii: "'"):
                return .string(try literalString())
            case UInt8(ascii: "["):
                return try array(depth: depth + 1)
            case UInt8(ascii: "t"), UInt8(ascii: "f"):
                if bytes[index...].starts(with: Array("true".utf8)) {
                    index += 4
                    return .boolean(true)
                }
                if bytes[index...].starts(with: Array("false".utf8)) {
                    index += 5
                    return .boolean(false)
                }
                throw error("expected a value (strings need quotes)")
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return try number()
            default:
                throw error("expected a value (strings need quotes)")
            }
        }

        /// A TOML integer or float, strictly: no leading zeros, `_` only between two digits, no `inf`/`nan`.
        mutating func number() throws(SyntaxError) -> Value {
            var text: [UInt8] = []
            if let sign = peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                text.append(sign)
                index += 1
            }
            let integerStart = text.count
            try digits(into: &text)
            let integerPart = text[integerStart...]
            if integerPart.count > 1 && integerPart.first == UInt8(ascii: "0") {
                throw error("a number may not have leading zeros")
            }
            var isFloat = false
            if peek == UInt8(ascii: ".") {
                isFloat = true
                text.append(UInt8(ascii: "."))
                index += 1
                try digits(into: &text)
            }
            if let byte = peek, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                isFloat = true
                text.append(UInt8(ascii: "e"))
                index += 1
                if let sign = peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                    text.append(sign)
                    index += 1
                }
                try digits(into: &text)
            }
            if let byte = peek, isBareKeyByte(byte) || byte == UInt8(ascii: ".") {
                throw error("malformed number")
            }
            let string = String(decoding: text, as: UTF8.self)
            if isFloat {
                guard let number = Double(string) else { throw error("malformed number") }
                guard number.isFinite else { throw error("the number is out of range") }
                return .float(number)
            }
            guard let number = Int(string) else { throw error("the number is out of range") }
            return .integer(number)
        }

        /// One or more digits, `_` allowed only between two digits.
        mutating func digits(into text: inout [UInt8]) throws(SyntaxError) {
            var count = 0
            while let byte = peek {
                if byte >= 48 && byte <= 57 {
                    text.append(byte)
                    count += 1
                    index += 1
                } else if byte == UInt8(ascii: "_") {
                    index += 1
                    guard count > 0, let next = peek, next >= 48 && next <= 57 else {
                        throw error("an underscore in a number must sit between two digits")
                    }
                } else {
                    break
                }
            }
            if count == 0 { throw error("expected a digit") }
        }

        mutating func array(depth: Int) throws(SyntaxError) -> Value {
            guard depth <= TOML.maximumDepth else {
                throw error("arrays nested more than \(TOML.maximumDepth) levels deep are not used in this file")
            }
            index += 1
            var items: [Value] = []
            while true {
                try skipArrayWhitespace()
                guard let byte = peek else { throw error("unterminated array") }
                if byte == UInt8(ascii: "]") {
                    index += 1
                    return .array(items)
                }
                items.append(try value(depth: depth))
                try skipArrayWhitespace()
                if peek == UInt8(ascii: ",") {
                    index += 1
                } else if peek != UInt8(ascii: "]") {
                    throw error("expected , or ] in the array")
                }
            }
        }

        mutating func skipArrayWhitespace() throws(SyntaxError) {
            while let byte = peek {
                if byte == 0x20 || byte == 0x09 {
                    index += 1
                } else if byte == 0x0D {
                    try lineBreakAfterCR()
                    index += 1
                } else if byte == 0x0A {
                    index += 1
                    line += 1
                } else if byte == UInt8(ascii: "#") {
                    try skipComment()
                } else {
                    return
                }
            }
        }

        mutating func basicString() throws(SyntaxError) -> String {
            index += 1
            var out: [UInt8] = []
            while true {
                guard let byte = peek, byte != 0x0A else { throw error("unterminated string") }
                index += 1
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    guard let escaped = peek else { throw error("unterminated string") }
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"), UInt8(ascii: "U"):
                        let width = escaped == UInt8(ascii: "u") ? 4 : 8
                        let name = "\\" + String(Unicode.Scalar(escaped))
                        var code: UInt32 = 0
                        for _ in 0..<width {
                            guard let byte = peek, let digit = hexValue(byte) else {
                                throw error("\(name) needs exactly \(width) hexadecimal digits in a string")
                            }
                            code = code << 4 | digit
                            index += 1
                        }
                        guard let scalar = Unicode.Scalar(code) else {
                            throw error("\(name) escape is a surrogate or above U+10FFFF, not a Unicode scalar value")
                        }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default:
                        // The byte after the backslash may be a line break, a control character or start a
                        // multi-byte character: only a visible ASCII character is shown as it is.
                        if escaped > 0x20 && escaped < 0x7F {
                            throw error("unknown escape \\\(Character(Unicode.Scalar(escaped))) in a string")
                        }
                        let what =
                            escaped < 0x80
                            ? "U+00\(escaped < 0x10 ? "0" : "")\(String(escaped, radix: 16, uppercase: true))"
                            : "a non-ASCII character"
                        throw error("unknown escape: a backslash followed by \(what) in a string")
                    }
                    continue
                }
                try refuseControl(byte, in: "a string")
                out.append(byte)
            }
            guard let text = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
            return text
        }

        func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
            default: nil
            }
        }

        mutating func literalString() throws(SyntaxError) -> String {
            index += 1
            if peek == UInt8(ascii: "'") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "'") {
                throw error("multi-line strings are not used in this file")
            }
            var out: [UInt8] = []
            while true {
                guard let byte = peek, byte != 0x0A else { throw error("unterminated string") }
                index += 1
                if byte == UInt8(ascii: "'") { break }
                try refuseControl(byte, in: "a string")
                out.append(byte)
            }
            guard let text = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
            return text
        }
    }
}
