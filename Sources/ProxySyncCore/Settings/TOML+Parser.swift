/// The parser's state and the document's shape: tables, keys and line ends (values in TOML+Values.swift,
/// strings in TOML+Strings.swift).
extension TOML {
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
    }
}
