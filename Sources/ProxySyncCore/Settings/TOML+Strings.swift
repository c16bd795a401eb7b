/// Basic and literal strings, on one line, with TOML's escapes.
extension TOML.Parser {
    mutating func basicString() throws(TOML.SyntaxError) -> String {
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

    mutating func literalString() throws(TOML.SyntaxError) -> String {
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
