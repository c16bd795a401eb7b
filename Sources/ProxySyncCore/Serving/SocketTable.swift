/// The listening sockets in the text of `/proc/net/tcp` or `/proc/net/tcp6`: pure parsing, for ``ListeningSocket``s.
///
/// A row is `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …`; the
/// address is hex in host byte order (little-endian here: IPv4 as one 32-bit word, IPv6 as four), the port hex.
/// Only LISTEN rows (state `0A`) are kept; the header and any row that does not parse give nothing.
public enum SocketTable {
    /// Every LISTEN socket of the table's text (lines split at LF; a CR before it is left to fail the row).
    public static func parse(_ text: String, v6: Bool) -> [ListeningSocket] {
        text.split(separator: "\n").compactMap { parseLine($0, v6: v6) }
    }

    /// One row of the table; nil for the header and anything not LISTEN.
    public static func parseLine(_ line: Substring, v6: Bool) -> ListeningSocket? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 9, fields[3] == "0A" else { return nil }
        let local = fields[1].split(separator: ":")
        guard local.count == 2, let port = Int(local[1], radix: 16), let inode = UInt64(fields[9]),
            let uid = UInt32(fields[7])
        else { return nil }
        guard let address = v6 ? ipv6(local[0]) : ipv4(local[0]) else { return nil }
        return ListeningSocket(address: address, port: port, inode: inode, uid: uid)
    }

    /// `0100007F` → `127.0.0.1` (the kernel prints the address in host byte order, little-endian here).
    public static func ipv4(_ hex: Substring) -> String? {
        guard hex.count == 8, let value = UInt32(hex, radix: 16) else { return nil }
        let bytes = [value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF, value >> 24]
        return bytes.map(String.init).joined(separator: ".")
    }

    /// Four little-endian 32-bit words → the address as glibc's `inet_ntop` writes it, an IPv4-mapped one
    /// (`::ffff:a.b.c.d`) as plain IPv4.
    public static func ipv6(_ hex: Substring) -> String? {
        guard hex.count == 32 else { return nil }
        var raw = [UInt8](repeating: 0, count: 16)
        let chars = Array(hex.utf8)
        for word in 0..<4 {
            guard let value = UInt32(String(decoding: chars[(word * 8)..<(word * 8 + 8)], as: UTF8.self), radix: 16) else {
                return nil
            }
            for byte in 0..<4 { raw[word * 4 + byte] = UInt8((value >> (8 * UInt32(byte))) & 0xFF) }
        }
        let result = ipv6Text(raw)
        if result.hasPrefix("::ffff:"), !result.dropFirst(7).contains(":") { return String(result.dropFirst(7)) }
        return result
    }

    /// Sixteen bytes in network order → text, by glibc's `inet_ntop6`: the first longest run of two or more zero
    /// groups becomes `::`, hex in lower case without leading zeros, and the last four bytes in dotted form for
    /// an IPv4-compatible (`::a.b.c.d`) or IPv4-mapped (`::ffff:a.b.c.d`) address.
    public static func ipv6Text(_ raw: [UInt8]) -> String {
        precondition(raw.count == 16)
        let words = (0..<8).map { UInt16(raw[2 * $0]) << 8 | UInt16(raw[2 * $0 + 1]) }
        var best: (base: Int, length: Int) = (-1, 0)
        var current: (base: Int, length: Int) = (-1, 0)
        for index in 0..<8 {
            if words[index] == 0 {
                current = current.base == -1 ? (index, 1) : (current.base, current.length + 1)
            } else if current.base != -1 {
                if best.base == -1 || current.length > best.length { best = current }
                current = (-1, 0)
            }
        }
        if current.base != -1, best.base == -1 || current.length > best.length { best = current }
        if best.base != -1 && best.length < 2 { best = (-1, 0) }
        var out = ""
        for index in 0..<8 {
            if best.base != -1 && index >= best.base && index < best.base + best.length {
                if index == best.base { out += ":" }
                continue
            }
            if index != 0 { out += ":" }
            if index == 6 && best.base == 0 && (best.length == 6 || (best.length == 5 && words[5] == 0xFFFF)) {
                out += raw[12..<16].map(String.init).joined(separator: ".")
                return out
            }
            out += String(words[index], radix: 16)
        }
        if best.base != -1 && best.base + best.length == 8 { out += ":" }
        return out
    }
}
