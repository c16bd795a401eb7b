/// A moment, given to the core by the caller (the core reads no clocks).
public struct Timestamp: Sendable, Equatable {
    public var epochSeconds: Int64
    public var iso8601: String

    public init(epochSeconds: Int64, iso8601: String) {
        self.epochSeconds = epochSeconds
        self.iso8601 = iso8601
    }

    /// The UTC day, `YYYY-MM-DD`.
    public var day: String { String(iso8601.prefix(10)) }

    /// `YYYY-MM-DDTHH:MM:SSZ` naming a real moment (month 1–12, the month's days, 00:00:00–23:59:60).
    public static func isTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"),
            bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "Z"),
            isDay(String(decoding: bytes[0..<10], as: UTF8.self)),
            let hour = digits(bytes[11..<13]), let minute = digits(bytes[14..<16]), let second = digits(bytes[17..<19])
        else { return false }
        return hour < 24 && minute < 60 && second <= 60
    }

    /// `YYYY-MM-DD` naming a real day.
    public static func isDay(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = digits(bytes[0..<4]), let month = digits(bytes[5..<7]), let day = digits(bytes[8..<10]),
            (1...12).contains(month), day >= 1
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }

    static func digits(_ bytes: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
