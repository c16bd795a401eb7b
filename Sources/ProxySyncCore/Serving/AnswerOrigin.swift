/// Who answered a probe, judged from the sockets listening where it connected, read after the answer (README:
/// Only what is served counts): pure rules over ``ListeningSocket``s and ``SocketHolder``s, and their composition
/// over a ``SocketTableReader``.
public enum AnswerOrigin {
    /// nil when the answer at `address:port` came from the proxy's own sockets: the listening table
    /// (`/proc/net/tcp{,6}`, which shows owners to any process, also under the unit), then where they can be
    /// seen, the sockets' holders (outside the unit; under it, `CAP_SYS_PTRACE` is not granted and other
    /// services' descriptors are hidden): a root program that is not the proxy does not count.
    public static func problem(
        address: String, port: Int, proxyNames: Set<String>, table: some SocketTableReader
    ) -> String? {
        let sockets = relevant(table.listening(on: [port]), address: address)
        if let problem = ownerProblem(listening: sockets, address: address, port: port) { return problem }
        let holders = table.holders(of: Set(sockets.map(\.inode)))
        return holderProblem(holders.values.flatMap { $0 }, proxyNames: proxyNames)
    }

    /// The sockets that could have taken a connection to `address`: those whose bind overlaps it.
    public static func relevant(_ sockets: [ListeningSocket], address: String) -> [ListeningSocket] {
        sockets.filter { ListeningSocket.overlaps(bound: $0.address, wanted: address) || $0.address == address }
    }

    /// Every socket listening where the probe connected must be root's, and one must be there. A local user who
    /// binds a new port before the proxy does and answers the marker is not the proxy, also when it closes its
    /// listening socket once it has accepted the probe's connection (the proxy, having failed to bind, then
    /// listens there neither). While a root-owned socket listens on an address and port, no other uid can listen
    /// on an overlapping one (the kernel refuses the bind; `SO_REUSEPORT` groups only sockets of one uid). An
    /// accepted connection's own entry does not help: it carries the uid of the process that accepted it (the
    /// proxy's workers run as its user).
    public static func ownerProblem(listening: [ListeningSocket], address: String, port: Int) -> String? {
        if let other = listening.first(where: { $0.uid != 0 }) {
            return
                "an answer from a socket uid \(other.uid) holds on \(other.address):\(other.port), not the proxy's (its listening sockets are root's): another program took the port first"
        }
        if !listening.contains(where: { $0.uid == 0 }) {
            return
                "an answer on \(ListeningSocket.shown(address, port: port)) where no root-owned socket listens (whoever answered has closed its listening socket): not the proxy's"
        }
        return nil
    }

    /// nil when no holder is visible or one of them is the proxy (by process name); otherwise who holds it.
    public static func holderProblem(_ holders: [SocketHolder], proxyNames: Set<String>) -> String? {
        guard !holders.isEmpty, !holders.contains(where: { proxyNames.contains($0.name) }) else { return nil }
        let names = holders.map(\.description).joined(separator: ", ")
        return "an answer from a socket held by \(names), not by the proxy"
    }
}
