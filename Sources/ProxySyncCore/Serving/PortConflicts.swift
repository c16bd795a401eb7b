/// Pre-flight: every address and port of the plan that the proxy does not listen on already must be free.
///
/// A socket whose holder this process cannot see (under the unit: no `CAP_SYS_PTRACE`) is the proxy's when it is
/// root's, the proxy is running, and the proxy's own configuration listens there: its dump (another of its
/// sites), the managed file in place, or (Apache) `apache_listen_ports`.
///
/// A value stepped by facts: ``judge(_:)`` either refuses (or passes) the plan, or names the one fact it still
/// needs (``Fact``), which the caller reads and passes in on the next call. A fact is asked for only when a
/// conflict needs it, in the order the conflicts come.
public struct PortConflicts: Sendable {
    /// A socket listening where a listener of the plan would bind; `address` nil for all addresses.
    public struct Conflict: Sendable {
        public var listener: Listener
        public var address: String?
        public var socket: ListeningSocket
    }

    /// A fact read only when a conflict needs it.
    public enum Fact: Equatable, Sendable {
        /// Whether the proxy's main process runs.
        case proxyRunning
        /// Which of the conflicting sockets still listen, read again after the holders were looked for.
        case stillListening
    }

    public enum Verdict: Sendable {
        case refusals([Refusal])
        case needs(Fact)
    }

    /// What the caller observed.
    public struct Facts: Sendable {
        /// Who holds each conflicting socket, as far as `/proc` shows them.
        public var holders: [UInt64: [SocketHolder]]
        /// Ports the managed file in place says the proxy serves.
        public var proxyPorts: Set<Int>
        /// The proxy's other sites, from its dump (nil when not read).
        public var inventory: ProxyInventory?
        /// ``Fact/proxyRunning``: nil until read (and a running state that cannot be told counts as not running).
        public var proxyRunning: Bool?
        /// ``Fact/stillListening``: the inodes listening on the plan's ports now; nil until read.
        public var stillListening: Set<UInt64>?

        public init(holders: [UInt64: [SocketHolder]], proxyPorts: Set<Int>, inventory: ProxyInventory?) {
            self.holders = holders
            self.proxyPorts = proxyPorts
            self.inventory = inventory
        }
    }

    public let conflicts: [Conflict]
    let settings: ProxySettings

    /// The conflicts of `plan`'s listeners with `sockets` (those listening on the plan's ports).
    public init(plan: ProxyPlan, settings: ProxySettings, sockets: [ListeningSocket]) {
        self.settings = settings
        var conflicts: [Conflict] = []
        var seen: Set<String> = []
        let wanted: [String?] = settings.listenAddresses.isEmpty ? [nil] : settings.listenAddresses
        for listener in plan.listeners {
            for address in wanted where seen.insert("\(address ?? "*"):\(listener.port)").inserted {
                for socket in sockets
                where socket.port == listener.port && ListeningSocket.overlaps(bound: socket.address, wanted: address) {
                    conflicts.append(Conflict(listener: listener, address: address, socket: socket))
                }
            }
        }
        self.conflicts = conflicts
    }

    /// The plan's ports: where sockets are read.
    public static func ports(_ plan: ProxyPlan) -> Set<Int> { Set(plan.listeners.map(\.port)) }

    /// The sockets whose holders are wanted.
    public var inodes: Set<UInt64> { Set(conflicts.map(\.socket.inode)) }

    /// At most one refusal per port; the proxy's own sockets (root's, held by the proxy, or unseen and in its
    /// configuration while it runs) and sockets gone since they were read do not count.
    public func judge(_ facts: Facts) -> Verdict {
        let proxyNames = ProxyProcess.names(settings.kind)
        var refusals: [Refusal] = []
        var refused: Set<Int> = []
        for conflict in conflicts where !refused.contains(conflict.listener.port) {
            let (listener, socket) = (conflict.listener, conflict.socket)
            let held = facts.holders[socket.inode] ?? []
            // The proxy's listening sockets are root's: a process merely named "nginx" run by another user is not it.
            if socket.uid == 0, held.contains(where: { proxyNames.contains($0.name) }) { continue }
            let wantedText = conflict.address.map { "\($0):\(listener.port)" } ?? "port \(listener.port) on all addresses"
            let reason: String
            if held.isEmpty && socket.uid != 0 {
                reason =
                    "\(wantedText) is taken: \(socket.shown) is held by a program of uid \(socket.uid), not by the proxy; free the port or change the site URL in GoCD"
            } else if held.isEmpty {
                if facts.proxyPorts.contains(listener.port) { continue }
                if inProxyConfiguration(socket, inventory: facts.inventory) {
                    guard let running = facts.proxyRunning else { return .needs(.proxyRunning) }
                    if running { continue }
                }
                // A socket with no holder may have closed while /proc was read (an old worker of the proxy
                // exiting after a reload): only one still listed after the holders were looked for is held by
                // someone unseen.
                guard let still = facts.stillListening else { return .needs(.stillListening) }
                if !still.contains(socket.inode) { continue }
                reason =
                    "\(wantedText) is taken: \(socket.shown) is held by another program (not a port the proxy's configuration listens on; its pid is not visible to this process; `ss -ltnp 'sport = :\(listener.port)'` shows it); free the port or change the site URL in GoCD"
            } else {
                let names = held.map(\.description).joined(separator: ", ")
                reason =
                    "\(wantedText) is taken: \(socket.shown) is held by \(names), not by the proxy; free the port or change the site URL in GoCD"
            }
            refusals.append(Refusal(listener: listener.origin, reason: reason))
            refused.insert(listener.port)
        }
        return .refusals(refusals)
    }

    /// Whether the proxy's own configuration listens where `socket` is: another site in its dump, or (Apache)
    /// a port of `apache_listen_ports` (80 and 443 when unset).
    func inProxyConfiguration(_ socket: ListeningSocket, inventory: ProxyInventory?) -> Bool {
        inventory?.sites.contains { $0.port == socket.port && ($0.address == nil || $0.address == socket.address) } == true
            || (settings.kind == .apache && (settings.apacheExistingListenPorts ?? [80, 443]).contains(socket.port))
    }
}
