import Glibc
import ProxySyncCore
import Testing

/// `/proc/net/tcp{,6}` read as text, without the host's tables.
struct SocketTableTests {
    static let header =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"

    static func row(_ local: String, state: String = "0A", uid: Int = 0, inode: Int = 4242) -> String {
        "   0: \(local) 00000000:0000 \(state) 00000000:00000000 00:00000000 00000000 \(uid) 0 \(inode) 1 0000000000000000 100 0 0 10 0"
    }

    @Test func ipv4ListenRowsWithTheirOwnerAndInode() {
        let text = [
            Self.header,
            Self.row("0100007F:1F90", uid: 0, inode: 11),  // 127.0.0.1:8080
            Self.row("00000000:0050", uid: 33, inode: 12),  // 0.0.0.0:80, www-data
            Self.row("0100007F:1F91", state: "01", inode: 13),  // ESTABLISHED: not listening
        ].joined(separator: "\n")
        #expect(
            SocketTable.parse(text, v6: false) == [
                ListeningSocket(address: "127.0.0.1", port: 8080, inode: 11, uid: 0),
                ListeningSocket(address: "0.0.0.0", port: 80, inode: 12, uid: 33),
            ])
    }

    @Test func ipv6RowsIncludingMappedAndAllAddresses() {
        let text = [
            Self.header,
            Self.row("00000000000000000000000000000000:01BB", inode: 21),  // [::]:443
            Self.row("00000000000000000000000001000000:1F90", inode: 22),  // [::1]:8080
            Self.row("0000000000000000FFFF00000100007F:0050", inode: 23),  // ::ffff:127.0.0.1 → 127.0.0.1
            Self.row("B80D0120000000000000000001000000:0050", uid: 1000, inode: 24),  // 2001:db8::1
        ].joined(separator: "\n")
        #expect(
            SocketTable.parse(text, v6: true) == [
                ListeningSocket(address: "::", port: 443, inode: 21),
                ListeningSocket(address: "::1", port: 8080, inode: 22),
                ListeningSocket(address: "127.0.0.1", port: 80, inode: 23),
                ListeningSocket(address: "2001:db8::1", port: 80, inode: 24, uid: 1000),
            ])
    }

    @Test(arguments: [
        "",  // an empty line
        "   0: 0100007F:1F90 00000000:0000 0A",  // cut short
        "   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",  // no port
        "   0: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",  // not hex
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 x 0 1 1",  // no uid
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 -1 1",  // no inode
        "   0: 00000000000000000000000001000000:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1 1",  // v6 address in tcp
    ])
    func rowsThatDoNotParseGiveNothing(_ line: String) {
        #expect(SocketTable.parseLine(Substring(line), v6: false) == nil)
    }

    /// The kernel writes LF only. Text with CRLF is split on the Character `\n`, which `\r\n` (one grapheme) is
    /// not: it stays one line and gives nothing, rather than a socket read from a row it was not meant to be.
    @Test func crlfTextIsNotATable() {
        let row = Self.row("0100007F:1F90", inode: 31)
        #expect(SocketTable.parse(Self.header + "\r\n" + row + "\r\n", v6: false) == [])
        // One row ending in CR alone (the CR sits in a field after the inode) still parses.
        #expect(SocketTable.parseLine(Substring(row + "\r"), v6: false) == ListeningSocket(address: "127.0.0.1", port: 8080, inode: 31))
    }

    /// The address text is glibc's `inet_ntop` for every shape of zero runs, mapped and compatible addresses.
    @Test func ipv6TextIsInetNtop() {
        var samples: [[UInt8]] = [
            Array(repeating: 0, count: 16),
            Array(repeating: 0, count: 15) + [1],
            Array(repeating: 0, count: 10) + [0xFF, 0xFF, 127, 0, 0, 1],
            Array(repeating: 0, count: 12) + [10, 1, 2, 3],
            Array(repeating: 0, count: 10) + [0xFF, 0xFE, 10, 1, 2, 3],
            [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1],
            [0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
            [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            // Words that are mostly zero, so that runs of every length and place come up.
            samples.append(
                (0..<8).flatMap { _ -> [UInt8] in
                    Int.random(in: 0..<3, using: &generator) == 0
                        ? [UInt8.random(in: 0...255, using: &generator), UInt8.random(in: 0...255, using: &generator)] : [0, 0]
                })
        }
        for raw in samples {
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let made = inet_ntop(AF_INET6, raw, &text, socklen_t(text.count))
            #expect(made != nil)
            #expect(SocketTable.ipv6Text(raw) == String(cString: text), "\(raw)")
        }
    }

    @Test(arguments: [
        ("0.0.0.0", nil as String?, true),
        ("0.0.0.0", "127.0.0.1", true),
        ("0.0.0.0", "::1", false),
        ("::", "127.0.0.1", true),
        ("::", "::1", true),
        ("127.0.0.1", "127.0.0.1", true),
        ("127.0.0.1", "127.0.0.2", false),
        ("127.0.0.1", nil, true),
    ])
    func whichBindsOverlap(_ bound: String, _ wanted: String?, _ overlaps: Bool) {
        #expect(ListeningSocket.overlaps(bound: bound, wanted: wanted) == overlaps)
    }
}
