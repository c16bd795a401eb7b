/// One TCP socket in the LISTEN state, as a row of `/proc/net/tcp{,6}` shows it (``SocketTable``).
public struct ListeningSocket: Equatable, Sendable {
    /// `127.0.0.1`, `0.0.0.0`, `::`, `::1`, … (an IPv4-mapped IPv6 address is shown as IPv4).
    public var address: String
    public var port: Int
    public var inode: UInt64
    /// Who created the socket (its owner's uid). The proxy's listening sockets are root's.
    public var uid: UInt32

    public init(address: String, port: Int, inode: UInt64, uid: UInt32 = 0) {
        self.address = address
        self.port = port
        self.inode = inode
        self.uid = uid
    }

    /// `address:port`, with brackets around an IPv6 address.
    public var shown: String { Self.shown(address, port: port) }

    /// `address:port`, with brackets around an IPv6 address.
    public static func shown(_ address: String, port: Int) -> String {
        address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    /// True for the all-addresses binds `0.0.0.0` and `::`.
    public var isWildcard: Bool { address == "0.0.0.0" || address == "::" }

    /// True when a socket bound to `bound` would stop a bind to `wanted` on the same port.
    /// `wanted == nil` means all addresses.
    public static func overlaps(bound: String, wanted: String?) -> Bool {
        let wildcard = bound == "0.0.0.0" || bound == "::"
        guard let wanted else { return true }
        if wildcard {
            // `::` may or may not take IPv4 too (ipv6only); count it as overlapping: the holder is named anyway.
            return bound == "::" || !wanted.contains(":")
        }
        return bound == wanted
    }
}
