/// The one gate every value passes before it is written into proxy configuration text.
///
/// Values are validated where they enter (site URLs, settings); this is the last line of defence:
/// a token outside the alphabet is refused, so a bug upstream can never inject a directive.
public enum ConfigToken {
    public struct Unsafe: Error, Equatable, Sendable, CustomStringConvertible {
        public var value: String
        public var description: String {
            "refusing to write unsafe value \"\(Escaping.printable(value))\" into a proxy configuration"
        }
    }

    /// Returns `value` unchanged when every byte is in `[A-Za-z0-9 . _ ~ / : - + @ [ ] =]` and it is non-empty.
    public static func checked(_ value: String) throws(Unsafe) -> String {
        guard !value.isEmpty, value.utf8.allSatisfy(isTokenByte) else { throw Unsafe(value: value) }
        return value
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        isPathByte(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
            || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "~")
    }

    static func isPathByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "/"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }
}
