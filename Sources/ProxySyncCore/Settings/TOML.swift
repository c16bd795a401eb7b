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
}
