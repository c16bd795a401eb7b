/// Reads the host's listening TCP sockets and, where it may look, who holds them (`/proc`, or a fake).
public protocol SocketTableReader: Sendable {
    /// The listening TCP sockets on `ports` (IPv4 and IPv6).
    func listening(on ports: Set<Int>) -> [ListeningSocket]
    /// The processes holding each of `inodes`, as far as this process can see them (often none under the unit).
    func holders(of inodes: Set<UInt64>) -> [UInt64: [SocketHolder]]
}
