/// The two values GoCD's site-URLs API returns, verbatim (an unset value is `""`).
public struct SiteURLs: Equatable, Sendable {
    public var siteURL: String
    public var secureSiteURL: String

    public init(siteURL: String, secureSiteURL: String) {
        self.siteURL = siteURL
        self.secureSiteURL = secureSiteURL
    }
}

/// Which of the two GoCD settings a value came from; raw values are the API's field names.
public enum SiteURLField: String, Sendable {
    case siteURL = "site_url"
    case secureSiteURL = "secure_site_url"
}

/// A site URL refused by the gate: the field, the value (control characters escaped) and why.
public struct SiteURLRejection: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var value: String
    public var reason: String

    public init(field: String, rawValue: String, reason: String) {
        self.field = field
        self.value = Escaping.printable(rawValue)
        self.reason = reason
    }

    public var description: String {
        "\(field) \"\(value)\" rejected: \(reason)"
    }
}

/// Makes untrusted text safe to show on one log line.
public enum Escaping {
    /// Escapes control characters, quotes, backslashes and non-ASCII; caps the length at 300 characters.
    public static func printable(_ text: String) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            if count > 300 {
                out += "…(truncated)"
                break
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + hex2(scalar.value)
                } else if scalar.value > 0x7E {
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    private static func hex2(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }
}
