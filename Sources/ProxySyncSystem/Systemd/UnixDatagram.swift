import Glibc

/// Datagrams to one AF_UNIX socket path (a leading `@` means the abstract namespace), over one socket kept for
/// the process: the daemon reports after every cycle, and a socket per message was most of that cost.
final class UnixDatagram: Sendable {
    private let fd: Int32
    private let address: sockaddr_un
    private let length: socklen_t

    init?(path: String) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        guard !pathBytes.isEmpty, pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in pathBytes.enumerated() { raw[index] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.address = address
        self.length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
    }

    deinit { close(fd) }

    /// One datagram over a socket of its own (journal records: rare, so not worth a socket kept open).
    static func send(_ bytes: [UInt8], to path: String) -> Bool { UnixDatagram(path: path)?.send(bytes) ?? false }

    func send(_ bytes: [UInt8]) -> Bool {
        var address = self.address
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == bytes.count
    }
}

/// sd_notify over `$NOTIFY_SOCKET`; does nothing when it is unset.
public struct SystemdNotifier: Sendable {
    let socket: UnixDatagram?

    public init(environment: [String: String]) {
        socket = environment["NOTIFY_SOCKET"].flatMap { UnixDatagram(path: $0) }
    }

    public var isActive: Bool { socket != nil }

    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let socket else { return false }
        return socket.send(Array(state.utf8))
    }

    /// STATUS, with READY and a watchdog ping when asked, in one datagram; nothing is built without a socket.
    public func report(status: String, ready: Bool, watchdog: Bool) {
        guard socket != nil else { return }
        notify((ready ? "READY=1\n" : "") + (watchdog ? "WATCHDOG=1\n" : "") + "STATUS=\(Self.oneLine(status))")
    }
    public func watchdog() { notify("WATCHDOG=1") }
    public func reloading(monotonicMicroseconds: UInt64) { notify("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds)") }
    public func stopping() { notify("STOPPING=1") }

    static func oneLine(_ text: String) -> String {
        // After every cycle: most lines have no break, and are passed on as they are.
        guard text.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return text }
        return String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }
}
