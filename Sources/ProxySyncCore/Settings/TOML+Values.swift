/// Values: numbers, booleans and arrays (strings in TOML+Strings.swift).
extension TOML.Parser {
    mutating func value(depth: Int) throws(TOML.SyntaxError) -> TOML.Value {
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
    mutating func number() throws(TOML.SyntaxError) -> TOML.Value {
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
    mutating func digits(into text: inout [UInt8]) throws(TOML.SyntaxError) {
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

    mutating func array(depth: Int) throws(TOML.SyntaxError) -> TOML.Value {
        guard depth <= TOML.maximumDepth else {
            throw error("arrays nested more than \(TOML.maximumDepth) levels deep are not used in this file")
        }
        index += 1
        var items: [TOML.Value] = []
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

    mutating func skipArrayWhitespace() throws(TOML.SyntaxError) {
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
}
